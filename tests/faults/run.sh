#!/usr/bin/env bash
# tests/faults/run.sh [--build] [--only case,case]: the fault suite (issue 11, item 5) on the real servers.
# Starts its own PostgreSQL, Redis, fake Stripe API, control plane and sidecar (ports 55438/56385/12116/5186/50156, a second
# sidecar on 50157 when a case asks; run dir .run/faults), runs the driver (tests/faults/EntitlementDecision.FaultSuite), which
# kills and restarts servers through tests/faults/control.sh, and stops everything it started on exit.
# Prints each case's figures and ends with "N passed, M failed"; exits non-zero when a case failed.
# Assumes the solution is built (test.sh's hosts_build) unless --build is given.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=0
only=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=1; shift ;;
    --only) only=${2:?"--only takes a comma-separated list of case names"}; shift 2 ;;
    *) echo "usage: tests/faults/run.sh [--build] [--only case,case]" >&2; exit 2 ;;
  esac
done

# Our own ports, secrets and settings, whatever the caller (e.g. test.sh) exported.
export ED_FAULTS_PG_PORT=${ED_FAULTS_PG_PORT:-55438}
export ED_FAULTS_REDIS_PORT=${ED_FAULTS_REDIS_PORT:-56385}
export ED_FAULTS_SECOND_SIDECAR_PORT=${ED_FAULTS_SECOND_SIDECAR_PORT:-50157}
export ED_FAULTS_RUN_DIR=.run/faults
export ED_FAULTS_LOGS=$ED_FAULTS_RUN_DIR/logs
export STRIPE_WEBHOOK_SECRET=whsec_faults_only_0123456789abcdef
export STRIPE_API_KEY=sk_test_faults_only
export ED_TOKEN_SIGNING_KEY=faults-only-token-signing-key-0123456789abcdef
export ED_CONTROLPLANE_URL=http://127.0.0.1:${ED_FAULTS_CONTROLPLANE_PORT:-5186}
export ED_SIDECAR_URL=http://127.0.0.1:${ED_FAULTS_SIDECAR_PORT:-50156}
export ED_FAKE_STRIPE_URL=http://127.0.0.1:${ED_FAULTS_FAKE_STRIPE_PORT:-12116}
unset STRIPE_API_BASE ED_POSTGRES ED_REDIS
# Cases 1-3 and 5 post self-built events (payloads applied, order check); the Stripe case restarts the control plane with re-reads on.
export ED_WEBHOOK_REREAD=off
export ED_WEBHOOK_RATE_LIMIT_PER_SECOND=0   # a burst of 300 webhooks measures faults, not the endpoint's rate limit
export ED_WEBHOOK_RETRY_BASE_MS=250         # retries within the suite's deadlines (production default 2000)
export ED_REDIS_HEAL=on
export ED_RECONCILE_INTERVAL_MINUTES=0      # reconciliation only when a case asks
export ED_RECONCILE_AUTO_REPAIR=true        # the Stripe case checks that repairs converge, not the approval flow (main: approval-first)
export ED_PLAN_CHANGE_INTERVAL_SECONDS=0
export ED_CONFIGURATION=${ED_CONFIGURATION:-Release}
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
run_dir=$ED_FAULTS_RUN_DIR

source scripts/services.sh
source scripts/hosts.sh

cleanup() {
  trap - INT TERM EXIT
  local f pid
  for f in "$run_dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$run_dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
  hosts_stop
  # Servers a case stopped or restarted are still ours: stop whatever runs on our run directory.
  services_stop "$run_dir" --force
  run_dir_release "$run_dir"   # only when this process holds the claim
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_dir_fresh "$run_dir"
mkdir -p "$ED_FAULTS_LOGS" "$run_dir/pids"

if [ "$build" = 1 ]; then hosts_build; fi
driver=tests/faults/EntitlementDecision.FaultSuite/bin/$ED_CONFIGURATION/net10.0/EntitlementDecision.FaultSuite.dll
[ -f "$driver" ] || { echo "faults: $driver is missing: build the solution (or pass --build)" >&2; exit 1; }

started=$SECONDS
services_start "$run_dir" "$ED_FAULTS_PG_PORT" "$ED_FAULTS_REDIS_PORT"
hosts_start "$ED_FAULTS_LOGS"
# hosts_start started the fake Stripe API, the control plane and the sidecar, in that order; control.sh restarts them by pid file.
echo "${ED_HOST_PIDS[0]}" > "$run_dir/pids/fake-stripe.pid"
echo "${ED_HOST_PIDS[1]}" > "$run_dir/pids/controlplane.pid"
echo "${ED_HOST_PIDS[2]}" > "$run_dir/pids/sidecar.pid"
echo "faults: stack up in $((SECONDS - started)) s" >&2

ED_FAULTS_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject faults)
export ED_FAULTS_OPERATOR_TOKEN ED_FAULTS_CONTROL=tests/faults/control.sh ED_BIN_CONTROLPLANE

set +e
dotnet "$driver" ${only:+--only "$only"}
rc=$?
set -e
echo "faults: total $((SECONDS - started)) s" >&2
exit "$rc"
