# shellcheck shell=bash disable=SC2034  # variables here are read by up/down
# Redis: Debian's redis-server, no persistence, loopback only. The replicated set (up --ha):
# redis-1 and redis-2, one the primary and the other its replica, and three Sentinels
# (redis-sentinel-1..3, quorum 2) that fail over to the replica. The Redis Cluster (up
# redis-cluster): redis-cluster-1..6, 3 primaries and 3 replicas.

REDIS_STOP_TIMEOUT=15

redis_tools() {
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || apt_install redis-tools
}

redis_start() {
  validate_port CHAT_LOCAL_REDIS_PORT "$CHAT_LOCAL_REDIS_PORT"
  redis_tools
  REDIS_T0=$(now_ms)
  redis_server_start redis "$CHAT_LOCAL_REDIS_PORT" CHAT_LOCAL_REDIS_PORT
}

# redis_server_start NODE PORT PORT_VAR [ARG...]: starts redis-server (or, with --sentinel among
# the ARGs, a Sentinel) as NODE on 127.0.0.1:PORT unless it runs already. No persistence
# unless the ARGs say otherwise.
redis_server_start() {
  local node=$1 port=$2 hint=$3 d pid what=server label=
  shift 3
  [[ " $* " == *" --sentinel "* ]] && what=Sentinel label=" Sentinel"
  d=$(engine_dir "$node")
  mkdir -p "$d/data" "$d/logs"
  if pid=$(engine_pid "$node"); then
    log "$node: reusing running $what (pid $pid) from $d"
    return 0
  fi
  if port_open "$port"; then
    die "$node: 127.0.0.1:$port is already in use by another process (not started from $RUN_DIR); set $hint"
  fi
  log "$node: starting Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')$label on 127.0.0.1:$port (log: $d/logs/redis.log)"
  rotate_logs "$node"
  rm -f "$(pid_file "$node")"
  # --dir makes the server chdir into data/, which engine_pid relies on.
  (
    cd "$d/data" &&
      exec 9>&- </dev/null >>"$d/logs/redis.out" 2>&1 &&
      close_inherited_fds &&
      exec redis-server "$@" --port "$port" --bind 127.0.0.1 --protected-mode yes \
        --dir "$d/data" --save '' --appendonly "${REDIS_APPENDONLY:-no}" \
        --daemonize yes --pidfile "$(pid_file "$node")" --logfile "$d/logs/redis.log"
  ) || die "$node: redis-server failed to start; see $d/logs/redis.out"
  STARTED["$node"]=1
}

# redis_ping_wait NODE PORT: waits for PONG from the node; sets WAIT_PID and REDIS_VERSION.
redis_ping_wait() {
  local node=$1 port=$2 logf deadline reply
  logf="$(engine_dir "$node")/logs/redis.log"
  deadline=$(( $(now_ms) + CHAT_LOCAL_REDIS_TIMEOUT * 1000 ))
  while :; do
    reply=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)
    if [[ $reply == PONG ]] && WAIT_PID=$(engine_pid "$node"); then
      break
    fi
    if (( $(now_ms) > deadline )); then
      show_log_tail "$logf"
      fail_engine "$node" "$node: no PONG from 127.0.0.1:$port within ${CHAT_LOCAL_REDIS_TIMEOUT}s; see $logf"
    fi
    sleep 0.2
  done
  REDIS_VERSION=$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null \
    | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')
}

redis_wait() {
  redis_ping_wait redis "$CHAT_LOCAL_REDIS_PORT"
  log "redis: ready (PING -> PONG), Redis server v=$REDIS_VERSION pid $WAIT_PID, 127.0.0.1:$CHAT_LOCAL_REDIS_PORT, in $(secs_since "$REDIS_T0")s"
  emit CHAT_REDIS_URL "redis://127.0.0.1:$CHAT_LOCAL_REDIS_PORT"
}

# ------------------------------------------------------------ replicated set ---
# redis-N and redis-sentinel-N: port of a node of the replicated set.
redis_ha_port() {
  case $1 in
    redis-sentinel-*) nth "$CHAT_LOCAL_HA_SENTINEL_PORTS" "${1#redis-sentinel-}" ;;
    redis-*) nth "$CHAT_LOCAL_HA_REDIS_PORTS" "${1#redis-}" ;;
  esac
}

# The primary's port as the running Sentinels see it (the first that answers), or nothing.
redis_current_primary() {
  local s port reply
  for s in redis-sentinel-1 redis-sentinel-2 redis-sentinel-3; do
    engine_pid "$s" >/dev/null || continue
    port=$(redis_ha_port "$s")
    reply=$(redis-cli -h 127.0.0.1 -p "$port" sentinel get-master-addr-by-name "$CHAT_LOCAL_HA_SENTINEL_NAME" 2>/dev/null | tr -d '\r' | sed -n 2p)
    if [[ $reply =~ ^[0-9]+$ ]]; then
      printf '%s' "$reply"
      return 0
    fi
  done
  return 1
}

# redis_ha_start [NODE...]: starts the named nodes of the replicated set (default: all). A data
# node starts as a replica of the primary the running Sentinels name (redis-1 when none runs),
# unless it is that primary; so a node that comes back after a failover rejoins as a replica.
redis_ha_start() {
  local nodes=("$@") n primary port conf d
  (( ${#nodes[@]} )) || read -r -a nodes <<<"${HA_NODES[redis]}"
  validate_port_list CHAT_LOCAL_HA_REDIS_PORTS 2
  validate_port_list CHAT_LOCAL_HA_SENTINEL_PORTS 3
  redis_tools
  REDIS_T0=$(now_ms)
  primary=$(redis_current_primary) || primary=$(redis_ha_port redis-1)
  for n in "${nodes[@]}"; do
    port=$(redis_ha_port "$n")
    d=$(engine_dir "$n")
    if [[ $n == redis-sentinel-* ]]; then
      # Sentinel finds replicas in the primary's INFO, asked every 10 s: let the replica
      # connect first, so that the first INFO lists it.
      redis_replicas_linked "$primary"
      # Written anew on each start: the id stays the same (derived from the node's name and
      # port), the primary is the current one; Sentinel rewrites the file as it learns.
      mkdir -p "$d/conf"
      conf="$d/conf/sentinel.conf"
      if ! engine_pid "$n" >/dev/null; then
        cat >"$conf" <<EOF
# Generated by deploy/local/up --ha; rewritten by Sentinel, regenerated on the next start.
sentinel myid $(printf '%s:%s' "$n" "$port" | sha1sum | cut -c1-40)
sentinel monitor $CHAT_LOCAL_HA_SENTINEL_NAME 127.0.0.1 $primary 2
sentinel down-after-milliseconds $CHAT_LOCAL_HA_SENTINEL_NAME 2000
sentinel failover-timeout $CHAT_LOCAL_HA_SENTINEL_NAME 5000
sentinel parallel-syncs $CHAT_LOCAL_HA_SENTINEL_NAME 1
EOF
      fi
      redis_server_start "$n" "$port" CHAT_LOCAL_HA_SENTINEL_PORTS "$conf" --sentinel
    elif [[ $port == "$primary" ]]; then
      REDIS_APPENDONLY=yes redis_server_start "$n" "$port" CHAT_LOCAL_HA_REDIS_PORTS --appendfsync everysec
    else
      REDIS_APPENDONLY=yes redis_server_start "$n" "$port" CHAT_LOCAL_HA_REDIS_PORTS --appendfsync everysec \
        --replicaof 127.0.0.1 "$primary"
    fi
  done
}

# redis_replicas_linked PRIMARY_PORT: waits (5 s at most) until every running data node but the
# primary has its replication link up.
redis_replicas_linked() {
  local n port until=$(( $(now_ms) + 5000 ))
  for n in redis-1 redis-2; do
    port=$(redis_ha_port "$n")
    [[ $port != "$1" ]] && engine_pid "$n" >/dev/null || continue
    until redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | grep -q '^master_link_status:up'; do
      (( $(now_ms) < until )) || return 0
      sleep 0.2
    done
  done
}

# redis_ha_state: true when every running data node answers, the running Sentinels name one
# primary, every other running data node is its replica and in sync, and every running Sentinel
# sees the others and those replicas. Otherwise sets REDIS_HA_WHY.
redis_ha_state() {
  local n port primary="" p info s_ports=() data_ports=() reply usable
  REDIS_HA_WHY=
  for n in ${HA_NODES[redis]}; do
    engine_pid "$n" >/dev/null || continue
    port=$(redis_ha_port "$n")
    if [[ $n == redis-sentinel-* ]]; then s_ports+=("$port"); else data_ports+=("$port"); fi
  done
  (( ${#s_ports[@]} )) || { REDIS_HA_WHY="no Sentinel runs"; return 1; }
  for p in "${s_ports[@]}"; do
    reply=$(redis-cli -h 127.0.0.1 -p "$p" sentinel get-master-addr-by-name "$CHAT_LOCAL_HA_SENTINEL_NAME" 2>/dev/null | tr -d '\r' | sed -n 2p)
    [[ -n $reply ]] || { REDIS_HA_WHY="Sentinel :$p does not answer"; return 1; }
    [[ -z $primary || $reply == "$primary" ]] || { REDIS_HA_WHY="the Sentinels disagree on the primary (:$primary, :$reply)"; return 1; }
    primary=$reply
    reply=$(redis-cli -h 127.0.0.1 -p "$p" sentinel ckquorum "$CHAT_LOCAL_HA_SENTINEL_NAME" 2>/dev/null | tr -d '\r')
    usable=$(sed -n 's/^OK \([0-9]*\) usable.*/\1/p' <<<"$reply")
    [[ ${usable:-0} -ge ${#s_ports[@]} ]] || { REDIS_HA_WHY="Sentinel :$p: ${reply:-no answer to CKQUORUM}"; return 1; }
    # Every running data node but the primary must be a replica this Sentinel sees as healthy.
    reply=$(redis-cli -h 127.0.0.1 -p "$p" sentinel replicas "$CHAT_LOCAL_HA_SENTINEL_NAME" 2>/dev/null \
      | tr -d '\r' | awk 'NR % 2 == 1 { k = $0; next } k == "port" { port = $0 } k == "flags" { print port "=" $0 }')
    for n in "${data_ports[@]}"; do
      [[ $n == "$primary" ]] && continue
      [[ $'\n'$reply$'\n' == *$'\n'"$n=slave"$'\n'* ]] \
        || { REDIS_HA_WHY="Sentinel :$p does not (yet) see :$n as a healthy replica (${reply//$'\n'/ })"; return 1; }
    done
  done
  [[ " ${data_ports[*]} " == *" $primary "* ]] || { REDIS_HA_WHY="the primary :$primary does not run"; return 1; }
  info=$(redis-cli -h 127.0.0.1 -p "$primary" info replication 2>/dev/null | tr -d '\r')
  [[ $info == *role:master* ]] || { REDIS_HA_WHY=":$primary is not (yet) a primary"; return 1; }
  for n in "${data_ports[@]}"; do
    [[ $n == "$primary" ]] && continue
    info=$(redis-cli -h 127.0.0.1 -p "$n" info replication 2>/dev/null | tr -d '\r')
    [[ $info == *role:slave* && $info == *"master_port:$primary"* && $info == *master_link_status:up* \
      && $info == *master_sync_in_progress:0* ]] \
      || { REDIS_HA_WHY=":$n is not (yet) an in-sync replica of :$primary"; return 1; }
  done
  REDIS_PRIMARY_PORT=$primary
}

# redis_ha_wait: every running node of the replicated set answers and redis_ha_state holds.
redis_ha_wait() {
  local n deadline
  for n in ${HA_NODES[redis]}; do
    engine_pid "$n" >/dev/null || continue
    redis_ping_wait "$n" "$(redis_ha_port "$n")"
  done
  deadline=$(( $(now_ms) + CHAT_LOCAL_REDIS_TIMEOUT * 1000 ))
  until redis_ha_state; do
    (( $(now_ms) < deadline )) || fail_engine redis "redis: the replicated set is not ready within ${CHAT_LOCAL_REDIS_TIMEOUT}s: $REDIS_HA_WHY"
    sleep 0.3
  done
  local sentinels
  sentinels=$(tr ',' '\n' <<<"$CHAT_LOCAL_HA_SENTINEL_PORTS" | sed 's/^/127.0.0.1:/' | paste -sd, -)
  log "redis: ready (primary 127.0.0.1:$REDIS_PRIMARY_PORT with its replica in sync, Sentinels $sentinels agree), Redis server v=$REDIS_VERSION, in $(secs_since "$REDIS_T0")s"
  emit CHAT_REDIS_URL "redis://127.0.0.1:$REDIS_PRIMARY_PORT"
  emit CHAT_REDIS_SENTINELS "$sentinels"
  emit CHAT_REDIS_SENTINEL_NAME "$CHAT_LOCAL_HA_SENTINEL_NAME"
}

# ------------------------------------------------------------- Redis Cluster ---
# redis-cluster-1..6: six nodes with cluster-enabled, joined by `redis-cli --cluster create` into
# 3 primaries with a replica each (16384 slots over the primaries). No persistence but nodes.conf
# (the cluster's membership), so nodes stopped by `down` come back into the same cluster.

# redis_cluster_port NODE [bus]: the client (or cluster bus) port of redis-cluster-N.
redis_cluster_port() {
  if [[ ${2:-} == bus ]]; then nth "$CHAT_LOCAL_REDIS_CLUSTER_BUS_PORTS" "${1#redis-cluster-}"
  else nth "$CHAT_LOCAL_REDIS_CLUSTER_PORTS" "${1#redis-cluster-}"; fi
}

redis_cluster_start() {
  local n bus
  validate_port_list CHAT_LOCAL_REDIS_CLUSTER_PORTS 6
  validate_port_list CHAT_LOCAL_REDIS_CLUSTER_BUS_PORTS 6
  redis_tools
  REDIS_CLUSTER_T0=$(now_ms)
  for n in ${HA_NODES[redis-cluster]}; do
    bus=$(redis_cluster_port "$n" bus)
    if ! engine_pid "$n" >/dev/null && port_open "$bus"; then
      die "$n: cluster bus port 127.0.0.1:$bus is already in use by another process; set CHAT_LOCAL_REDIS_CLUSTER_BUS_PORTS"
    fi
    redis_server_start "$n" "$(redis_cluster_port "$n")" CHAT_LOCAL_REDIS_CLUSTER_PORTS \
      --cluster-enabled yes --cluster-port "$bus" --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000 --repl-diskless-sync-delay 0 --maxmemory 64mb
  done
}

# redis_cluster_info PORT FIELD: a field of CLUSTER INFO of the node on PORT.
redis_cluster_info() {
  redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'
}

# redis_cluster_state: true when every node says cluster_state:ok with all 16384 slots served by
# 3 primaries, knows all 6 nodes, and every replica's link to its primary is up and in sync.
# Otherwise sets REDIS_CLUSTER_WHY.
redis_cluster_state() {
  local n port info primaries=0
  REDIS_CLUSTER_WHY=
  for n in ${HA_NODES[redis-cluster]}; do
    port=$(redis_cluster_port "$n")
    info=$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | tr -d '\r')
    [[ $info == *cluster_state:ok* && $info == *cluster_slots_ok:16384* && $info == *cluster_known_nodes:6* \
      && $info == *cluster_size:3* ]] \
      || { REDIS_CLUSTER_WHY="$n (:$port): $(grep -E '^cluster_(state|slots_ok|known_nodes|size):' <<<"$info" | paste -sd' ' -)"; return 1; }
    info=$(redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | tr -d '\r')
    if [[ $info == *role:master* ]]; then
      primaries=$((primaries + 1))
    elif ! [[ $info == *master_link_status:up* && $info == *master_sync_in_progress:0* ]]; then
      REDIS_CLUSTER_WHY="$n (:$port) is not (yet) an in-sync replica"
      return 1
    fi
  done
  (( primaries == 3 )) || { REDIS_CLUSTER_WHY="$primaries primaries instead of 3"; return 1; }
}

# redis_cluster_wait: every node answers; a fresh set (each node alone, no slot assigned) is joined
# into one cluster, a set that runs or restarted from its nodes.conf is only checked; then
# redis_cluster_state must hold.
redis_cluster_wait() {
  local n port addrs=() fresh=1 deadline created
  for n in ${HA_NODES[redis-cluster]}; do
    port=$(redis_cluster_port "$n")
    redis_ping_wait "$n" "$port"
    addrs+=("127.0.0.1:$port")
    [[ $(redis_cluster_info "$port" cluster_known_nodes) == 1 && $(redis_cluster_info "$port" cluster_slots_assigned) == 0 ]] || fresh=0
  done
  if (( fresh )); then
    created="$(engine_dir redis-cluster-1)/logs/cluster-create.log"
    log "redis-cluster: creating the cluster (log: $created)"
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes </dev/null >"$created" 2>&1 9>&- || {
      show_log_tail "$created"
      fail_engine redis-cluster-1 "redis-cluster: redis-cli --cluster create failed; see $created"
    }
  fi
  deadline=$(( $(now_ms) + CHAT_LOCAL_REDIS_TIMEOUT * 1000 ))
  until redis_cluster_state; do
    (( $(now_ms) < deadline )) || fail_engine redis-cluster "redis-cluster: not ready within ${CHAT_LOCAL_REDIS_TIMEOUT}s: $REDIS_CLUSTER_WHY (a set that cannot join again: down --purge redis-cluster)"
    sleep 0.2
  done
  log "redis-cluster: ready (cluster_state:ok on all 6 nodes, 3 primaries with an in-sync replica each), Redis server v=$REDIS_VERSION, ${addrs[*]}, in $(secs_since "$REDIS_CLUSTER_T0")s"
  emit CHAT_REDIS_CLUSTER_NODES "$(IFS=,; printf '%s' "${addrs[*]}")"
}
