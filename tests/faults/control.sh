#!/usr/bin/env bash
# tests/faults/control.sh ACTION [ARGS]: the fault suite's process control, called by its driver between and during load.
# Acts on the stack tests/faults/run.sh started (its environment: ED_FAULTS_RUN_DIR, ED_FAULTS_PG_PORT, ED_FAULTS_REDIS_PORT,
# ED_FAULTS_LOGS and the hosts' variables); host processes are tracked in $ED_FAULTS_RUN_DIR/pids/*.pid, which run.sh stops on exit.
#   redis-kill | redis-start-empty          SIGKILL Redis | start it again with no data
#   postgres-stop | postgres-start          stop PostgreSQL (fast) | start it again on the same data directory
#   controlplane-kill | controlplane-stop   SIGKILL | SIGTERM (graceful) the control plane
#   controlplane-start [VAR=VALUE ...]      start it (with these variables on top of run.sh's), wait for /healthz
#   sidecar-start PORT | sidecar-stop PORT  another sidecar on 127.0.0.1:PORT (SIGTERM to stop)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/services.sh
source scripts/hosts.sh

run_dir=${ED_FAULTS_RUN_DIR:?run through tests/faults/run.sh}
pids="$run_dir/pids"
logs=${ED_FAULTS_LOGS:-$run_dir/logs}
mkdir -p "$pids" "$logs"

_kill_pidfile() { # file signal
  local pid; pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$1"
}

action=${1:?usage: control.sh ACTION [ARGS]}
shift
case "$action" in
  redis-kill) redis_kill "$run_dir" ;;
  redis-start-empty) redis_start_empty "$run_dir" "$ED_FAULTS_REDIS_PORT" ;;
  postgres-stop) postgres_stop "$run_dir" ;;
  postgres-start) postgres_start "$run_dir" "$ED_FAULTS_PG_PORT" ;;
  controlplane-kill) _kill_pidfile "$pids/controlplane.pid" KILL ;;
  controlplane-stop) _kill_pidfile "$pids/controlplane.pid" TERM ;;
  controlplane-start)
    n=$(ls "$logs" | grep -c '^controlplane' || true)
    env "$@" DOTNET_gcServer=0 dotnet "$ED_BIN_CONTROLPLANE" </dev/null >"$logs/controlplane.$n.log" 2>&1 &
    echo $! > "$pids/controlplane.pid"
    _wait_http "$ED_CONTROLPLANE_URL/healthz" 60 || { echo "control plane did not become healthy; its log:" >&2; tail -n 40 "$logs/controlplane.$n.log" >&2; exit 1; }
    ;;
  sidecar-start)
    port=${1:?sidecar-start PORT}
    ED_SIDECAR_URL=http://127.0.0.1:$port DOTNET_gcServer=0 dotnet "$ED_BIN_SIDECAR" </dev/null >"$logs/sidecar-$port.log" 2>&1 &
    echo $! > "$pids/sidecar-$port.pid"
    _wait_tcp 127.0.0.1 "$port" 60 || { echo "sidecar on $port did not start; its log:" >&2; tail -n 40 "$logs/sidecar-$port.log" >&2; exit 1; }
    ;;
  sidecar-stop) _kill_pidfile "$pids/sidecar-${1:?sidecar-stop PORT}.pid" TERM ;;
  *) echo "control.sh: unknown action $action" >&2; exit 2 ;;
esac
