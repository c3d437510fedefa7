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

# ------------------------------------------------------------------ output ---
log()  { printf '[deploy/local] %s\n' "$*" >&2; }
warn() { printf '[deploy/local] WARNING: %s\n' "$*" >&2; }
die()  { printf '[deploy/local] ERROR: %s\n' "$*" >&2; exit 1; }
# Exports are collected and printed by `up` only once every engine is ready.
EXPORTS=()
emit() { EXPORTS+=("$(printf 'export %s=%q' "$1" "$2")"); }

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

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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

# launch ENGINE CMD... : starts CMD detached (own session, cwd = data dir,
# stdout+stderr appended to logs/<engine>.out) and records its pid.
launch() {
  local e=$1 d
  shift
  d=$(engine_dir "$e")
  (
    cd "$d/data" || exit 1
    exec 9>&- </dev/null >>"$d/logs/$e.out" 2>&1
    exec setsid "$@"
  ) &
  printf '%s\n' "$!" >"$(pid_file "$e")"
}

# wait_port ENGINE PID PORT DEADLINE_MS LOG: waits for the port to accept
# connections while the process lives.
wait_port() {
  local e=$1 pid=$2 port=$3 deadline=$4 logf=$5
  until port_open "$port"; do
    if ! pid_alive "$pid"; then
      show_log_tail "$logf"
      show_log_tail "$(engine_dir "$e")/logs/$e.out" 10
      fail_engine "$e" "$e exited during startup (pid $pid); see $logf and $(engine_dir "$e")/logs/$e.out"
    fi
    if (( $(now_ms) > deadline )); then
      show_log_tail "$logf"
      fail_engine "$e" "$e did not open 127.0.0.1:$port in time; see $logf"
    fi
    sleep 0.3
  done
}

# begin_engine_wait ENGINE LOGF T0_MS TIMEOUT_S PORT: the start every JVM engine's wait shares.
# The process must still be alive and open PORT before T0 + TIMEOUT; sets WAIT_PID and
# WAIT_REMAINING (whole seconds left, at least 5) for the engine's own readiness probe.
begin_engine_wait() {
  local e=$1 logf=$2 t0=$3 timeout_s=$4 port=$5 out deadline
  out="$(engine_dir "$e")/logs/$e.out"
  WAIT_PID=$(engine_pid "$e") || {
    show_log_tail "$out"
    fail_engine "$e" "$e: process is gone; see $logf and $out"
  }
  deadline=$(( t0 + timeout_s * 1000 ))
  wait_port "$e" "$WAIT_PID" "$port" "$deadline" "$logf"
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

# Engines named on the command line ("all" or nothing = every engine).
parse_engines() {
  SELECTED=()
  local a e
  for a in "$@"; do
    case $a in
      all) SELECTED=("${ENGINES[@]}") ;;
      redis | kafka | cassandra) SELECTED+=("$a") ;;
      *) die "unknown engine '$a' (expected redis, kafka, cassandra or all)" ;;
    esac
  done
  (( ${#SELECTED[@]} )) || SELECTED=("${ENGINES[@]}")
  # de-duplicate, keep canonical order
  local out=()
  for e in "${ENGINES[@]}"; do
    [[ " ${SELECTED[*]} " == *" $e "* ]] && out+=("$e")
  done
  SELECTED=("${out[@]}")
}
