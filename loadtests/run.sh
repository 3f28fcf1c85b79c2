#!/usr/bin/env bash
# loadtests/run.sh          the full load test (issue 5): microbenchmarks (BenchmarkDotNet), every scenario, the h2load ceiling;
#                           reports in loadtests/out/<timestamp>/ (report.md, report.json, one SVG per scenario, benchmarks/, ceiling/).
# loadtests/run.sh --smoke  a few seconds per scenario, tiny N, no BenchmarkDotNet: checks the driver and the reports work, not the speed.
# loadtests/run.sh --only check_batch,check_wide   the full settings for the named scenarios only (no BenchmarkDotNet, no ceiling).
# Starts its own PostgreSQL, Redis, fake Stripe API, control plane, sidecar, a second sidecar with the decision log on
# (check_hot_open_decision_log), a third on a Unix domain socket ($run_dir/sidecar.sock, admin port 51271/51272; check_hot_uds)
# and bare Kestrel on ports that run.sh and test.sh do not use
# (full: 55434/56381/12113/5280/50251/5281/5284/50261, smoke: 55435/56382/12114/5282/50252/5283/5285/50262); stops everything it
# started on exit.
# Two webhook modes, the shipped one first: every scenario runs against the control plane with ED_WEBHOOK_REREAD=on (webhook_burst,
# propagation: re-reads go to the fake, which holds the events' subscriptions); then the control plane is restarted with
# ED_WEBHOOK_REREAD=off and the webhook scenarios run again as webhook_burst_payload and propagation_payload, added to the same report.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
only=
case "${1:-}" in
  --smoke) smoke=1 ;;
  --only) only=${2:?"--only takes a comma-separated list of scenario names"} ;;
  "") ;;
  *) echo "usage: loadtests/run.sh [--smoke | --only name,name]" >&2; exit 2 ;;
esac

if [ "$smoke" = 1 ]; then
  pg_port=${ED_LT_PG_PORT:-55435}; redis_port=${ED_LT_REDIS_PORT:-56382}; cp_port=${ED_LT_CONTROLPLANE_PORT:-5282}; fake_port=${ED_LT_FAKE_STRIPE_PORT:-12114}
  sidecar_port=${ED_LT_SIDECAR_PORT:-50252}; bare_port=${ED_LT_BARE_PORT:-5283}; constant_port=${ED_LT_GRPC_CONSTANT_PORT:-5285}; run_dir=.run/loadtest-smoke
  logged_port=${ED_LT_SIDECAR_DECISION_LOG_PORT:-50262}; uds_admin_port=${ED_LT_SIDECAR_UDS_ADMIN_PORT:-51272}
  out=loadtests/out/$(date -u +%Y%m%dT%H%M%SZ)-smoke
else
  pg_port=${ED_LT_PG_PORT:-55434}; redis_port=${ED_LT_REDIS_PORT:-56381}; cp_port=${ED_LT_CONTROLPLANE_PORT:-5280}; fake_port=${ED_LT_FAKE_STRIPE_PORT:-12113}
  sidecar_port=${ED_LT_SIDECAR_PORT:-50251}; bare_port=${ED_LT_BARE_PORT:-5281}; constant_port=${ED_LT_GRPC_CONSTANT_PORT:-5284}; run_dir=.run/loadtest
  logged_port=${ED_LT_SIDECAR_DECISION_LOG_PORT:-50261}; uds_admin_port=${ED_LT_SIDECAR_UDS_ADMIN_PORT:-51271}
  out=loadtests/out/$(date -u +%Y%m%dT%H%M%SZ)
fi

# Our own hosts and secrets, whatever the caller (e.g. test.sh) exported.
export STRIPE_WEBHOOK_SECRET=whsec_loadtest_only_0123456789abcdef
export STRIPE_API_KEY=sk_test_loadtest_only
# The driver plays Stripe's side (subscriptions set up, prices changed, request-log markers) on a key of its own, so the fake
# counts its requests apart from the control plane's account (Stripe's limits are per key); the fake accepts any key.
export ED_FAKE_STRIPE_API_KEY=
# Our own fake Stripe API (hosts.sh starts it and points the control plane's STRIPE_API_BASE at it): the driver creates the
# subscriptions its webhooks name there, and reads the Stripe requests the control plane made from its log.
export ED_FAKE_STRIPE_URL=http://127.0.0.1:$fake_port
export ED_FAKE_STRIPE_LOG_LEVEL=Warning # its five log lines per request would cost CPU the control plane is measured on
# The shipped default first (re-read each event's subscription from Stripe's API); the payload phase below restarts with off.
export ED_WEBHOOK_REREAD=on
export ED_WEBHOOK_RATE_LIMIT_PER_SECOND=0   # the webhook scenarios measure the pipeline, not the endpoint's rate limit
export ED_TOKEN_SIGNING_KEY=loadtest-only-token-signing-key-0123456789abcdef
export ED_CONTROLPLANE_URL=http://127.0.0.1:$cp_port
export ED_SIDECAR_URL=http://127.0.0.1:$sidecar_port
export ED_CONFIGURATION=Release
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

source scripts/services.sh
source scripts/hosts.sh

bare_pid=
constant_pid=
logged_pid=
uds_pid=
cleanup() {
  trap - INT TERM EXIT
  for p in $bare_pid $constant_pid $logged_pid $uds_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  hosts_stop
  services_stop "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v h2load >/dev/null 2>&1 || { echo "loadtests: installing h2load (nghttp2-client) with apt ..." >&2; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client) >&2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
logs="$out/logs"
mkdir -p "$logs"

# Build only what runs here: the hosts, the fake Stripe API and the load-test projects (Release).
echo "build: the sidecar, the control plane, the fake Stripe API and loadtests/* (Release)" >&2
for p in src/EntitlementDecision.Sidecar src/EntitlementDecision.ControlPlane tools/EntitlementDecision.FakeStripe.Host loadtests/EntitlementDecision.LoadTests.BareKestrel loadtests/EntitlementDecision.LoadTests loadtests/EntitlementDecision.LoadTests.Benchmarks; do
  if [ "$smoke" = 1 ] && [ "$p" = loadtests/EntitlementDecision.LoadTests.Benchmarks ]; then continue; fi
  dotnet build "$p" -c Release -nologo -v q -clp:ErrorsOnly >&2
done
driver=loadtests/EntitlementDecision.LoadTests/bin/Release/net10.0/EntitlementDecision.LoadTests.dll
bare=loadtests/EntitlementDecision.LoadTests.BareKestrel/bin/Release/net10.0/EntitlementDecision.LoadTests.BareKestrel.dll
bench=loadtests/EntitlementDecision.LoadTests.Benchmarks/bin/Release/net10.0/EntitlementDecision.LoadTests.Benchmarks.dll

# Microbenchmarks first, on a quiet machine (no hosts running yet).
if [ "$smoke" = 0 ] && [ -z "$only" ]; then
  echo "== microbenchmarks (BenchmarkDotNet) -> $out/benchmarks" >&2
  dotnet "$bench" --artifacts "$out/benchmarks" 2>&1 | tee "$logs/benchmarks.log" | grep -E '^\|' >&2 || true
fi

services_stop "$run_dir" --force
rm -rf "$run_dir"
services_start "$run_dir" "$pg_port" "$redis_port"
hosts_start "$logs"
sidecar_pid=$ED_PID_SIDECAR
token=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject loadtest --ttl-minutes 240) # both driver runs

dotnet "$bare" "$bare_port" >"$logs/bare-kestrel.log" 2>&1 &
bare_pid=$!
_wait_tcp 127.0.0.1 "$bare_port" 30 || { echo "bare kestrel did not start" >&2; cat "$logs/bare-kestrel.log" >&2; exit 1; }
dotnet "$bare" "$constant_port" grpc >"$logs/grpc-constant.log" 2>&1 &
constant_pid=$!
_wait_tcp 127.0.0.1 "$constant_port" 30 || { echo "the Grpc.AspNetCore constant server did not start" >&2; cat "$logs/grpc-constant.log" >&2; exit 1; }
# The same sidecar with the decision log on (drop mode, every decision kept); its spool is scratch, under the run directory.
spool="$(pwd)/$run_dir/decision-log"
rm -rf "$spool" # the scenario counts this run's lines
ED_SIDECAR_URL=http://127.0.0.1:$logged_port ED_SIDECAR_DECISION_LOG=$spool DOTNET_gcServer=0 dotnet "$ED_BIN_SIDECAR" >"$logs/sidecar-decision-log.log" 2>&1 &
logged_pid=$!
_wait_tcp 127.0.0.1 "$logged_port" 60 || { echo "the sidecar with the decision log did not start" >&2; cat "$logs/sidecar-decision-log.log" >&2; exit 1; }
# The same sidecar on a Unix domain socket (check_hot_uds: the pod-local transport against check_hot's TCP).
uds_socket="$(pwd)/$run_dir/sidecar.sock"
ED_SIDECAR_URL=unix:$uds_socket ED_SIDECAR_ADMIN_URL=http://127.0.0.1:$uds_admin_port DOTNET_gcServer=0 dotnet "$ED_BIN_SIDECAR" >"$logs/sidecar-uds.log" 2>&1 &
uds_pid=$!
_wait_tcp 127.0.0.1 "$uds_admin_port" 60 && [ -S "$uds_socket" ] || { echo "the sidecar on $uds_socket did not start" >&2; cat "$logs/sidecar-uds.log" >&2; exit 1; }

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem_total=$(free -g | awk '/^Mem:/ {print $2}')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo " (working tree has uncommitted changes of other projects)" || true)

# run_driver ARGS...: the load driver against the hosts above, plus ARGS; its output also goes to $logs/driver.log; returns its exit code.
run_driver() {
  dotnet "$driver" --out "$out" $([ "$smoke" = 1 ] && echo --smoke) $([ -n "$only" ] && echo --only "$only" --no-ceiling) \
    --sidecar "$ED_SIDECAR_URL" --redis "$ED_REDIS" --sidecar-pid "$sidecar_pid" \
    --controlplane "$ED_CONTROLPLANE_URL" --controlplane-pid "$ED_PID_CONTROLPLANE" --token "$token" --webhook-secret "$STRIPE_WEBHOOK_SECRET" \
    --stripe "$ED_FAKE_STRIPE_URL" --stripe-pid "$ED_PID_FAKE_STRIPE" --stripe-api-key sk_test_loadtest_driver --token-signing-key "$ED_TOKEN_SIGNING_KEY" \
    --bare "http://127.0.0.1:$bare_port" --bare-pid "$bare_pid" \
    --grpc-constant "http://127.0.0.1:$constant_port" --grpc-constant-pid "$constant_pid" \
    --sidecar-decision-log "http://127.0.0.1:$logged_port" --sidecar-decision-log-pid "$logged_pid" --decision-log-spool "$spool" \
    --sidecar-uds "unix:$uds_socket" --sidecar-uds-pid "$uds_pid" \
    --env "machine=$(nproc) cores (nproc), ${mem_total} GiB (free -g), $cpu_model" \
    --env "commit=$commit$dirty" \
    --env "dotnet=$(dotnet --version)" \
    --env "hosts=sidecar and control plane: Release, DOTNET_gcServer=0; fake Stripe API, load driver and h2load on the same machine" \
    "$@" 2>&1 | tee -a "$logs/driver.log"
  return "${PIPESTATUS[0]}"
}

echo "== load driver -> $out (control plane ED_WEBHOOK_REREAD=on)" >&2
set +e
run_driver --webhook-mode reread
rc=$?
set -e

# Payload mode: the control plane restarted with ED_WEBHOOK_REREAD=off, the webhook scenarios again (skipped when --only names neither).
if [ -z "$only" ] || [[ ",$only," == *,webhook_burst_payload,* ]] || [[ ",$only," == *,propagation_payload,* ]]; then
  export ED_WEBHOOK_REREAD=off
  hosts_restart_controlplane "$logs/controlplane-payload.log"
  echo "== load driver -> $out (control plane ED_WEBHOOK_REREAD=off: *_payload)" >&2
  set +e
  run_driver --webhook-mode payload --append --no-ceiling
  payload_rc=$?
  set -e
  if [ "$rc" = 0 ]; then rc=$payload_rc; fi
fi
echo "report: $out/report.md" >&2
exit "$rc"
