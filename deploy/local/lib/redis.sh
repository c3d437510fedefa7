# shellcheck shell=bash disable=SC2034  # variables here are read by up/down
# Redis: Debian's redis-server, no persistence, loopback only.

REDIS_STOP_TIMEOUT=15

redis_start() {
  validate_port CHAT_LOCAL_REDIS_PORT "$CHAT_LOCAL_REDIS_PORT"
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || apt_install redis-tools
  local d pid
  d=$(engine_dir redis)
  mkdir -p "$d/data" "$d/logs"
  REDIS_T0=$(now_ms)
  if pid=$(engine_pid redis); then
    log "redis: reusing running server (pid $pid) from $d"
    return 0
  fi
  if port_open "$CHAT_LOCAL_REDIS_PORT"; then
    die "redis: 127.0.0.1:$CHAT_LOCAL_REDIS_PORT is already in use by another process (not started from $RUN_DIR); set CHAT_LOCAL_REDIS_PORT"
  fi
  log "redis: starting Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$CHAT_LOCAL_REDIS_PORT (log: $d/logs/redis.log)"
  rotate_logs redis
  rm -f "$(pid_file redis)"
  # --dir makes the server chdir into data/, which engine_pid relies on.
  (
    cd "$d/data" &&
      exec 9>&- </dev/null >>"$d/logs/redis.out" 2>&1 &&
      exec redis-server --port "$CHAT_LOCAL_REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
        --dir "$d/data" --save '' --appendonly no \
        --daemonize yes --pidfile "$(pid_file redis)" --logfile "$d/logs/redis.log"
  ) || die "redis: redis-server failed to start; see $d/logs/redis.out"
  STARTED["redis"]=1
}

redis_wait() {
  local d logf deadline pid reply version
  d=$(engine_dir redis)
  logf="$d/logs/redis.log"
  deadline=$(( $(now_ms) + CHAT_LOCAL_REDIS_TIMEOUT * 1000 ))
  while :; do
    reply=$(redis-cli -h 127.0.0.1 -p "$CHAT_LOCAL_REDIS_PORT" ping 2>/dev/null || true)
    if [[ $reply == PONG ]] && pid=$(engine_pid redis); then
      break
    fi
    if (( $(now_ms) > deadline )); then
      show_log_tail "$logf"
      fail_engine redis "redis: no PONG from 127.0.0.1:$CHAT_LOCAL_REDIS_PORT within ${CHAT_LOCAL_REDIS_TIMEOUT}s; see $logf"
    fi
    sleep 0.2
  done
  version=$(redis-cli -h 127.0.0.1 -p "$CHAT_LOCAL_REDIS_PORT" info server 2>/dev/null \
    | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')
  log "redis: ready (PING -> PONG), Redis server v=$version pid $pid, 127.0.0.1:$CHAT_LOCAL_REDIS_PORT, in $(secs_since "$REDIS_T0")s"
  emit CHAT_REDIS_URL "redis://127.0.0.1:$CHAT_LOCAL_REDIS_PORT"
}
