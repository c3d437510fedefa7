# shellcheck shell=bash
# shellcheck disable=SC2034  # LIB, CHECK_CP, ... are read by the engine files
# Shared helpers for deploy/local/up and deploy/local/down. Sourced, not run.
#
# Contract kept by every function here: nothing but `export NAME=value` lines
# ever reaches stdout (so `eval "$(deploy/local/up all)"` is safe); progress
# and errors go to stderr, engine output goes to log files under the run dir.

LOCAL_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---------------------------------------------------------------- settings ---
: "${CHAT_LOCAL_DIR:=$LOCAL_HOME/run}"
: "${CHAT_LOCAL_CACHE:=$LOCAL_HOME/.cache}"
# Extra Maven arguments for the jar download, e.g. "-o" or "-Dmaven.repo.local=/path".
: "${CHAT_LOCAL_MAVEN_ARGS:=}"

: "${CHAT_LOCAL_REDIS_PORT:=16379}"
: "${CHAT_LOCAL_REDIS_TIMEOUT:=30}"
# The Redis Cluster (`up redis-cluster`): redis-cluster-1..6, 3 primaries and 3 replicas. Each node
# has a client port and a cluster bus port (Redis's default, port + 10000, named explicitly here so
# that any free port will do).
: "${CHAT_LOCAL_REDIS_CLUSTER_PORTS:=16701,16702,16703,16704,16705,16706}"
: "${CHAT_LOCAL_REDIS_CLUSTER_BUS_PORTS:=26701,26702,26703,26704,26705,26706}"

: "${CHAT_LOCAL_KAFKA_VERSION:=4.1.2}"
: "${CHAT_LOCAL_KAFKA_PORT:=19092}"
: "${CHAT_LOCAL_KAFKA_CONTROLLER_PORT:=19093}"
: "${CHAT_LOCAL_KAFKA_HEAP:=512m}"
: "${CHAT_LOCAL_KAFKA_TIMEOUT:=120}"
# Fixed KRaft cluster id: base64url of the 16 bytes "ChatLocalCluster".
: "${CHAT_LOCAL_KAFKA_CLUSTER_ID:=Q2hhdExvY2FsQ2x1c3Rlcg}"

: "${CHAT_LOCAL_CASSANDRA_VERSION:=5.0.9}"
: "${CHAT_LOCAL_CASSANDRA_PORT:=19042}"
: "${CHAT_LOCAL_CASSANDRA_STORAGE_PORT:=17000}"
: "${CHAT_LOCAL_CASSANDRA_JMX_PORT:=17199}"
: "${CHAT_LOCAL_CASSANDRA_HEAP:=1G}"
: "${CHAT_LOCAL_CASSANDRA_TIMEOUT:=240}"
: "${CHAT_LOCAL_CASSANDRA_DC:=datacenter1}" # what SimpleSnitch reports; informational

ENGINES=(redis kafka cassandra)
# Engines that start and stop only when named (not with `all`); `down` with no engine named stops them too.
OPTIONAL_ENGINES=(redis-cluster)

# The replicated set (`up --ha`): its own nodes, ports and dirs, beside the single nodes above.
# Lists are comma-separated, one port per node.
: "${CHAT_LOCAL_HA_REDIS_PORTS:=16479,16480}" # redis-1 (the first primary), redis-2 (its replica)
: "${CHAT_LOCAL_HA_SENTINEL_PORTS:=16579,16580,16581}" # redis-sentinel-1..3
: "${CHAT_LOCAL_HA_SENTINEL_NAME:=chat-local}"
: "${CHAT_LOCAL_HA_KAFKA_PORTS:=19192,19193,19194}" # kafka-1..3, PLAINTEXT
: "${CHAT_LOCAL_HA_KAFKA_CONTROLLER_PORTS:=19195,19196,19197}"
: "${CHAT_LOCAL_HA_KAFKA_HEAP:=384m}"
: "${CHAT_LOCAL_HA_CASSANDRA_PORT:=19142}" # cassandra-i listens on 127.0.0.i
: "${CHAT_LOCAL_HA_CASSANDRA_STORAGE_PORT:=17100}"
: "${CHAT_LOCAL_HA_CASSANDRA_JMX_PORTS:=17299,17300,17301}"
: "${CHAT_LOCAL_HA_CASSANDRA_HEAP:=512M}"
HA_SETTINGS=(CHAT_LOCAL_HA_REDIS_PORTS CHAT_LOCAL_HA_SENTINEL_PORTS CHAT_LOCAL_HA_SENTINEL_NAME
  CHAT_LOCAL_HA_KAFKA_PORTS CHAT_LOCAL_HA_KAFKA_CONTROLLER_PORTS CHAT_LOCAL_HA_KAFKA_HEAP
  CHAT_LOCAL_HA_CASSANDRA_PORT CHAT_LOCAL_HA_CASSANDRA_STORAGE_PORT CHAT_LOCAL_HA_CASSANDRA_JMX_PORTS
  CHAT_LOCAL_HA_CASSANDRA_HEAP CHAT_LOCAL_KAFKA_VERSION CHAT_LOCAL_KAFKA_CLUSTER_ID
  CHAT_LOCAL_CASSANDRA_VERSION)
# Nodes of each engine in the replicated set, in start order (and those of the Redis Cluster, which
# is replicated by itself: it has no single node, and the same nodes with or without --ha).
declare -A HA_NODES=(
  [redis]="redis-1 redis-2 redis-sentinel-1 redis-sentinel-2 redis-sentinel-3"
  [kafka]="kafka-1 kafka-2 kafka-3"
  [cassandra]="cassandra-1 cassandra-2 cassandra-3"
  [redis-cluster]="redis-cluster-1 redis-cluster-2 redis-cluster-3 redis-cluster-4 redis-cluster-5 redis-cluster-6"
)

# ------------------------------------------------------------------ output ---
log()  { printf '[deploy/local] %s\n' "$*" >&2; }
warn() { printf '[deploy/local] WARNING: %s\n' "$*" >&2; }
die()  { printf '[deploy/local] ERROR: %s\n' "$*" >&2; exit 1; }
# Exports are collected and printed by `up` only once every engine is ready.
EXPORTS=()
# Plain values (addresses, comma-separated lists) are printed as they are, others shell-quoted.
emit() {
  if [[ $2 =~ ^[A-Za-z0-9_./:,@+-]+$ ]]; then
    EXPORTS+=("export $1=$2")
  else
    EXPORTS+=("$(printf 'export %s=%q' "$1" "$2")")
  fi
}

now_ms() { date +%s%3N; }
# secs_since START_MS -> "12.3"
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }

abspath() { mkdir -p "$1" && (cd "$1" && pwd -P); }

init_dirs() {
  RUN_DIR="$(abspath "$CHAT_LOCAL_DIR")" || die "cannot create CHAT_LOCAL_DIR=$CHAT_LOCAL_DIR"
  CACHE_DIR="$(abspath "$CHAT_LOCAL_CACHE")" || die "cannot create CHAT_LOCAL_CACHE=$CHAT_LOCAL_CACHE"
}

# Serialise concurrent up/down calls on the same run dir. fd 9 is closed in
# every process we launch so that a long-lived engine never holds the lock.
take_lock() {
  exec 9>"$RUN_DIR/.lock"
  flock -w 900 9 || die "another deploy/local up/down holds $RUN_DIR/.lock for too long"
}

validate_port() {
  local name=$1 value=$2
  if ! [[ $value =~ ^[0-9]+$ ]] || (( value < 1 || value > 65535 )); then
    die "$name=$value is not a TCP port"
  fi
}

# engine layout: $RUN_DIR/<engine>/{data,logs,conf}, pid file $RUN_DIR/<engine>/<engine>.pid
engine_dir() { printf '%s/%s' "$RUN_DIR" "$1"; }
pid_file()   { printf '%s/%s/%s.pid' "$RUN_DIR" "$1" "$1"; }

# True when something accepts TCP connections on ${2:-127.0.0.1}:$1.
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

pid_alive() {
  local pid=$1 state
  [[ -r /proc/$pid/stat ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# Prints the pid of the engine started from this run dir, if it is running.
# A process counts as ours only when its working directory is the engine's
# data dir (every engine is started there), so a recycled pid is not mistaken
# for it.
engine_pid() {
  local e=$1 f pid
  f=$(pid_file "$e")
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$(engine_dir "$e")/data" ]] || return 1
  printf '%s' "$pid"
}

# Last lines of a log file, indented, to stderr.
show_log_tail() {
  local f=$1 n=${2:-25}
  [[ -s $f ]] || return 0
  printf '[deploy/local] --- last %d lines of %s ---\n' "$n" "$f" >&2
  tail -n "$n" "$f" | cut -c1-400 | sed 's/^/    /' >&2
  printf '[deploy/local] ---\n' >&2
}

# ------------------------------------------------------------- tool checks ---
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  if (( apt_updated == 0 )); then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 9>&- \
    || die "apt-get install $* failed"
}

# Picks a Java 17 runtime + javac (Cassandra 5.0 runs on 11 or 17 only, Kafka 4
# brokers need 17+; one JDK 17 serves both). Sets JAVA and JAVAC.
find_java17() {
  [[ -n ${JAVA:-} ]] && return 0
  local c candidates=()
  [[ -n ${CHAT_LOCAL_JAVA_HOME:-} ]] && candidates+=("$CHAT_LOCAL_JAVA_HOME/bin/java")
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null && candidates+=("$(readlink -f "$(command -v java)")")
  for c in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/*17*/bin/java; do
    [[ -x $c ]] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    [[ -x $c && -x "$(dirname "$c")/javac" ]] || continue
    if [[ "$(java_spec_version "$c")" == 17 ]]; then
      JAVA=$c JAVAC="$(dirname "$c")/javac"
      log "java: $("$JAVA" -version 2>&1 | head -n 1) ($JAVA)"
      return 0
    fi
  done
  if [[ ${1:-} != --no-install ]]; then
    apt_install openjdk-17-jdk-headless
    find_java17 --no-install
    return
  fi
  die "no Java 17 JDK found (set CHAT_LOCAL_JAVA_HOME); Cassandra 5.0 needs 11 or 17, Kafka 4 needs 17+"
}

java_spec_version() {
  "$1" -XshowSettings:properties -version 2>&1 \
    | awk -F= '/java.specification.version/ { gsub(/[ \t]/, "", $2); print $2 }'
}

ensure_maven() {
  command -v mvn >/dev/null || apt_install maven
}

# ensure_lib ENGINE VERSION -> sets LIB to a directory holding the engine's
# runtime jars. Copied once per pom+version from ~/.m2 (downloaded there by
# Maven on first use) into $CACHE_DIR/<engine>-<version>/lib.
ensure_lib() {
  local e=$1 ver=$2 pom="$LOCAL_HOME/$1/pom.xml" dir stamp t0 mvnlog
  dir="$CACHE_DIR/$e-$ver"
  LIB="$dir/lib"
  stamp="$(sha256sum "$pom" | cut -c1-16) $ver"
  if [[ -f $LIB/.stamp && "$(<"$LIB/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  ensure_maven
  mkdir -p "$dir"
  mvnlog="$dir/maven.log"
  log "$e $ver: resolving jars with Maven (log: $mvnlog)"
  t0=$(now_ms)
  rm -rf "$LIB.tmp"
  local extra=()
  read -r -a extra <<<"${CHAT_LOCAL_MAVEN_ARGS:-}"
  if ! mvn -B -q "${extra[@]}" -f "$pom" "-D$e.version=$ver" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" \
      </dev/null >"$mvnlog" 2>&1 9>&-; then
    show_log_tail "$mvnlog" 30
    die "$e $ver: Maven could not resolve the jars; see $mvnlog"
  fi
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  printf '%s' "$stamp" >"$LIB/.stamp"
  log "$e $ver: $(find "$LIB" -name '*.jar' | wc -l) jars ready in $(secs_since "$t0")s"
}

# ensure_check ENGINE VERSION CLASS -> sets CHECK_CP to a class path that runs
# deploy/local/check/CLASS.java against the engine's jars. Compiled once.
ensure_check() {
  local e=$1 ver=$2 src="$LOCAL_HOME/check/$3.java" out stamp
  out="$CACHE_DIR/$e-$ver/check"
  stamp="$(sha256sum "$src" | cut -c1-16) $(<"$LIB/.stamp")"
  if ! [[ -f $out/.stamp && "$(<"$out/.stamp")" == "$stamp" ]]; then
    rm -rf "$out"
    mkdir -p "$out"
    "$JAVAC" -nowarn -encoding UTF-8 -cp "$LIB/*" -d "$out" "$src" 9>&- >&2 \
      || die "could not compile $src"
    printf '%s' "$stamp" >"$out/.stamp"
  fi
  CHECK_CP="$out:$LIB/*"
}

# Before a fresh start: keep the previous run's logs as *.prev so that the
# error tails printed on failure belong to this run.
rotate_logs() {
  local f
  for f in "$(engine_dir "$1")"/logs/*.log "$(engine_dir "$1")"/logs/*.out; do
    [[ -f $f ]] && mv -f "$f" "$f.prev"
  done
  return 0
}

# Closes every file descriptor above 2 of the calling (sub)shell, so that a long-lived engine
# holds no file its starter had open (such as the lock of a `flock FILE deploy/local/up`).
close_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

# launch ENGINE CMD... : starts CMD detached (own session, cwd = data dir,
# stdout+stderr appended to logs/<engine>.out) and records its pid.
launch() {
  local e=$1 d
  shift
  d=$(engine_dir "$e")
  (
    cd "$d/data" || exit 1
    exec 9>&- </dev/null >>"$d/logs/$e.out" 2>&1
    close_inherited_fds
    exec setsid "$@"
  ) &
  printf '%s\n' "$!" >"$(pid_file "$e")"
}

# wait_port ENGINE PID PORT DEADLINE_MS LOG [HOST]: waits for the port to accept
# connections while the process lives.
wait_port() {
  local e=$1 pid=$2 port=$3 deadline=$4 logf=$5 host=${6:-127.0.0.1}
  until port_open "$port" "$host"; do
    if ! pid_alive "$pid"; then
      show_log_tail "$logf"
      show_log_tail "$(engine_dir "$e")/logs/$e.out" 10
      fail_engine "$e" "$e exited during startup (pid $pid); see $logf and $(engine_dir "$e")/logs/$e.out"
    fi
    if (( $(now_ms) > deadline )); then
      show_log_tail "$logf"
      fail_engine "$e" "$e did not open $host:$port in time; see $logf"
    fi
    sleep 0.3
  done
}

# begin_engine_wait ENGINE LOGF T0_MS TIMEOUT_S PORT [HOST]: the start every JVM engine's wait
# shares. The process must still be alive and open PORT before T0 + TIMEOUT; sets WAIT_PID and
# WAIT_REMAINING (whole seconds left, at least 5) for the engine's own readiness probe.
begin_engine_wait() {
  local e=$1 logf=$2 t0=$3 timeout_s=$4 port=$5 host=${6:-127.0.0.1} out deadline
  out="$(engine_dir "$e")/logs/$e.out"
  WAIT_PID=$(engine_pid "$e") || {
    show_log_tail "$out"
    fail_engine "$e" "$e: process is gone; see $logf and $out"
  }
  deadline=$(( t0 + timeout_s * 1000 ))
  wait_port "$e" "$WAIT_PID" "$port" "$deadline" "$logf" "$host"
  WAIT_REMAINING=$(( (deadline - $(now_ms)) / 1000 ))
  (( WAIT_REMAINING > 5 )) || WAIT_REMAINING=5
}

# Reports a failed start and exits non-zero; `up` then stops whatever this
# invocation started (logs and data are kept for inspection).
fail_engine() {
  die "$2"
}

# stop_engine ENGINE [TIMEOUT_S]: SIGTERM, wait, SIGKILL as a last resort.
stop_engine() {
  local e=$1 timeout=${2:-60} pid t0
  if ! pid=$(engine_pid "$e"); then
    rm -f "$(pid_file "$e")"
    return 1
  fi
  t0=$(now_ms)
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid"; do
    if (( $(now_ms) - t0 > timeout * 1000 )); then
      warn "$e (pid $pid) still running after ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$e")"
  log "$e stopped (pid $pid) in $(secs_since "$t0")s"
}

# ------------------------------------------------------------------- nodes ---
# A node is one engine process with its own dir $RUN_DIR/<node>/{data,logs,conf} and pid file:
# the single node of an engine is named after it (redis, kafka, cassandra), the nodes of the
# replicated set as in HA_NODES.

# node_engine NODE: kafka-2 -> kafka, redis-sentinel-1 -> redis, cassandra -> cassandra,
# redis-cluster-3 -> redis (what it runs; its engine in HA_NODES is redis-cluster)
node_engine() { printf '%s' "${1%%-*}"; }

# stop_timeout NODE: seconds from SIGTERM to SIGKILL for the node's engine.
stop_timeout() {
  local t
  t="$(node_engine "$1")"
  t="${t^^}_STOP_TIMEOUT"
  printf '%s' "${!t}"
}

# nth LIST I: the I-th (from 1) item of a comma-separated list.
nth() {
  local items
  IFS=, read -r -a items <<<"$1"
  printf '%s' "${items[$2 - 1]:-}"
}

# validate_port_list NAME COUNT: the variable NAME holds COUNT different ports, comma-separated.
validate_port_list() {
  local name=$1 count=$2 items p
  IFS=, read -r -a items <<<"${!name}"
  (( ${#items[@]} == count )) || die "$name=${!name} must list $count ports, comma-separated"
  for p in "${items[@]}"; do validate_port "$name" "$p"; done
  [[ $(printf '%s\n' "${items[@]}" | sort -u | wc -l) == "$count" ]] || die "$name=${!name}: the ports must differ"
}

# Nodes of ENGINE (single and replicated) that have a dir under the run dir.
present_nodes() {
  local n
  for n in "$1" ${HA_NODES[$1]}; do
    [[ -d $RUN_DIR/$n ]] && printf '%s\n' "$n"
  done
  return 0
}

# True when a node of ENGINE (single or replicated) runs from this run dir.
engine_running() {
  local n
  for n in "$1" ${HA_NODES[$1]}; do
    engine_pid "$n" >/dev/null && return 0
  done
  return 1
}

# The settings of the replicated set are kept in the run dir (`up --ha` writes them), so that
# deploy/local/node restarts a node with the same ports whatever its caller's environment.
save_ha_settings() {
  local v
  for v in "${HA_SETTINGS[@]}"; do printf '%s=%q\n' "$v" "${!v}"; done >"$RUN_DIR/ha.env"
}
load_ha_settings() {
  # shellcheck disable=SC1091
  [[ -f $RUN_DIR/ha.env ]] && source "$RUN_DIR/ha.env"
  return 0
}

# stop_nodes NODE...: stops them side by side (SIGTERM, then SIGKILL after the engine's stop
# timeout; the Kafka brokers of the replicated set through kafka_ha_stop). Nodes that do not run
# are skipped.
stop_nodes() {
  local n jobs=() brokers=()
  for n in "$@"; do
    engine_pid "$n" >/dev/null || { rm -f "$(pid_file "$n")"; continue; }
    if [[ $n == kafka-* ]]; then brokers+=("$n"); continue; fi
    stop_engine "$n" "$(stop_timeout "$n")" &
    jobs+=("$!")
  done
  if (( ${#brokers[@]} )); then
    kafka_ha_stop "${brokers[@]}" &
    jobs+=("$!")
  fi
  (( ${#jobs[@]} )) && wait "${jobs[@]}"
  return 0
}

# Engines named on the command line ("all" = every engine of ENGINES; nothing = the same, or with
# --optional first, those of OPTIONAL_ENGINES as well).
parse_engines() {
  SELECTED=()
  local a e none=("${ENGINES[@]}")
  if [[ ${1:-} == --optional ]]; then none+=("${OPTIONAL_ENGINES[@]}"); shift; fi
  for a in "$@"; do
    case $a in
      all) SELECTED+=("${ENGINES[@]}") ;;
      redis | kafka | cassandra | redis-cluster) SELECTED+=("$a") ;;
      *) die "unknown engine '$a' (expected redis, kafka, cassandra, redis-cluster or all)" ;;
    esac
  done
  (( ${#SELECTED[@]} )) || SELECTED=("${none[@]}")
  # de-duplicate, keep canonical order
  local out=()
  for e in "${ENGINES[@]}" "${OPTIONAL_ENGINES[@]}"; do
    [[ " ${SELECTED[*]} " == *" $e "* ]] && out+=("$e")
  done
  SELECTED=("${out[@]}")
}
