#!/usr/bin/env bash
# ./test.sh: every test, on a fresh machine. Starts private PostgreSQL and Redis (test ports, fresh data), builds,
# starts the control plane and the sidecar, then runs: buf lint, all .NET test projects (unit, integration on the real
# PostgreSQL and Redis, end to end, grpc-js and stripe-node interop), and the grpc-js conformance run against the real sidecar;
# then the Redis and end-to-end tests again on a local 3-master Redis Cluster (tests/cluster/run.sh), and the other suites.
# Ends with one line "N passed, M failed"; exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")"

export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_test_only_0123456789abcdef,whsec_test_only_rotated_fedcba9876543210}
export STRIPE_API_KEY=${STRIPE_API_KEY:-sk_test_only}
# The fake Stripe API (tools/EntitlementDecision.FakeStripe) stands in for api.stripe.com (hosts.sh starts it).
# The running control plane is in the shipped mode, re-reading on: the end-to-end tests' own signed events are all decidable
# from their payloads (each a newer second), so it applies them without asking the fake, which does not hold them.
export ED_WEBHOOK_REREAD=${ED_WEBHOOK_REREAD:-on}
if [ -z "${STRIPE_API_BASE:-}" ]; then export ED_FAKE_STRIPE_URL=${ED_FAKE_STRIPE_URL-http://127.0.0.1:12112}; fi
export ED_TOKEN_SIGNING_KEY=${ED_TOKEN_SIGNING_KEY:-test-only-token-signing-key-0123456789abcdef}
export ED_CONTROLPLANE_URL=${ED_TEST_CONTROLPLANE_URL:-http://127.0.0.1:5180}
export ED_SIDECAR_URL=${ED_TEST_SIDECAR_URL:-http://127.0.0.1:50151}
run_dir=.run/test

source scripts/services.sh
source scripts/hosts.sh

started_services=0
cleanup() {
  trap - INT TERM EXIT
  hosts_stop
  if [ "$started_services" = 1 ]; then services_stop "$run_dir"; fi
  run_dir_release "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_dir_claim "$run_dir"
# Each suite's log is this run's: an earlier run's summary line must never count (e.g. with ED_POSTGRES and ED_REDIS preset).
rm -f "$run_dir"/dotnet-test.log "$run_dir"/sidecar-interop.log "$run_dir"/browser.log "$run_dir"/deploy.log "$run_dir"/cluster.log \
  "$run_dir"/loadtests-smoke.log "$run_dir"/faults.log
if [ -z "${ED_POSTGRES:-}" ] || [ -z "${ED_REDIS:-}" ]; then
  services_stop "$run_dir" --force
  find "$run_dir" -mindepth 1 -maxdepth 1 ! -name owner.pid -exec rm -rf {} +
  services_start "$run_dir" "${ED_TEST_PG_PORT:-55433}" "${ED_TEST_REDIS_PORT:-56380}"
  started_services=1
fi

echo "npm: installing the real peers (grpc-js, stripe-node, buf) from package-lock.json" >&2
for d in tests/interop tests/stripe-interop tests/browser tests/deploy; do
  npm ci --prefix "$d" --no-audit --no-fund --loglevel=error >/dev/null
done
# buf's lock cannot list its other platforms' optional binaries (the registry copy here lacks them), which npm ci
# rejects; npm install still follows the lock for what it holds.
npm install --prefix tests/buf --no-save --no-audit --no-fund --loglevel=error >/dev/null

passed=0
failed=0
count() { # adds "N passed, M failed" style results
  passed=$((passed + $1)); failed=$((failed + $2))
}
# count_suite LOG RC: counts the suite's last "N passed, M failed" line in LOG, or node:test's spec summary ("ℹ pass N",
# "ℹ fail M"). No summary, or a non-zero RC while it says none failed (e.g. a stop that failed), counts one failure; a non-zero
# RC also shows the end of LOG.
count_suite() {
  local log=$1 rc=$2 line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" 2>/dev/null | tail -n 1 || true) # no line (a crash) must not end the run
  if [ -z "$line" ]; then
    p=$(grep -E '^ℹ pass [0-9]+$' "$log" 2>/dev/null | tail -n 1 | cut -d' ' -f3 || true)
    f=$(grep -E '^ℹ fail [0-9]+$' "$log" 2>/dev/null | tail -n 1 | cut -d' ' -f3 || true)
    if [ -n "$p" ] && [ -n "$f" ]; then line="$p passed, $f failed"; fi
  fi
  if [ -n "$line" ]; then count "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"; else count 0 1; fi
  if [ "$rc" != 0 ] || [ -z "$line" ]; then
    if [ -n "$line" ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ]; then count 0 1; fi
    echo "-- $log ended without success (exit $rc); its last lines:" >&2
    tail -n 60 "$log" >&2 2>/dev/null || echo "(no log)" >&2
  fi
}

echo "== buf lint protos/" >&2
if tests/buf/node_modules/.bin/buf lint; then count 1 0; else count 0 1; fi

hosts_build
# Both hosts export traces to the end-to-end tests' OTLP stand-in (TelemetryTests listens there while it runs).
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4319 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_BSP_SCHEDULE_DELAY=200 \
  hosts_start "$run_dir/logs"
ED_E2E_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject test)
ED_E2E_SECOND_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject second-operator)
ED_E2E_SUPPORT_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role support --subject support-test)
export ED_E2E_OPERATOR_TOKEN ED_E2E_SECOND_OPERATOR_TOKEN ED_E2E_SUPPORT_TOKEN ED_E2E_CONTROLPLANE_URL=$ED_CONTROLPLANE_URL ED_E2E_SIDECAR_URL=$ED_SIDECAR_URL
export ED_E2E_OTLP_URL=http://127.0.0.1:4319/

echo "== dotnet test" >&2
set +e
dotnet test EntitlementDecision.sln -c "$ED_CONFIGURATION" --no-build -nologo 2>&1 | tee "$run_dir/dotnet-test.log"
dotnet_rc=${PIPESTATUS[0]}
set -e
while read -r f p; do count "$p" "$f"; done < <(grep -E '^(Passed|Failed)!' "$run_dir/dotnet-test.log" \
  | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+).*/\1 \2/')
if [ "$dotnet_rc" != 0 ] && ! grep -qE '^Failed!' "$run_dir/dotnet-test.log"; then count 0 1; fi

echo "== grpc-js against the running sidecar" >&2
set +e
GRPC_TARGET=${ED_SIDECAR_URL#http://} node --test-reporter=spec tests/interop/sidecar.mjs | tee "$run_dir/sidecar-interop.log"
set -e
count_suite "$run_dir/sidecar-interop.log" 0 # these node suites: their summary line decides

# --- admin console in a real browser (issue 13; owner: tests/browser/): Debian's chromium against the running hosts
echo "== admin console in chromium (tests/browser/console.mjs; screenshots in tests/browser/screenshots/)" >&2
set +e
ensure_chromium && node --test-reporter=spec tests/browser/console.mjs | tee "$run_dir/browser.log"
set -e
count_suite "$run_dir/browser.log" 0 # these node suites: their summary line decides
# --- end admin console

# --- deploy manifests (issue 14; owner: tests/deploy/): offline checks of deploy/k8s, deploy/compose.yaml and the Dockerfiles
echo "== deploy manifests (tests/deploy/manifests.mjs)" >&2
set +e
node --test-reporter=spec tests/deploy/manifests.mjs | tee "$run_dir/deploy.log"
set -e
count_suite "$run_dir/deploy.log" 0 # these node suites: their summary line decides
# --- end deploy manifests

# --- alert rules (issue 14; owner: deploy/observability/): promtool check + unit tests, the dashboard parses
echo "== deploy/observability: promtool check rules, promtool test rules, dashboard JSON" >&2
if ensure_promtool && promtool check rules deploy/observability/alerts.yaml && promtool test rules deploy/observability/alerts.test.yaml \
  && node -e 'JSON.parse(require("fs").readFileSync("deploy/observability/grafana-dashboard.json", "utf8"))'; then count 1 0; else count 0 1; fi
# --- end alert rules

# --- Redis Cluster (issue 15, item 3; owner: tests/cluster/): the Redis tests and the end-to-end path on a local 3-master cluster
echo "== tests/cluster/run.sh (Redis Cluster: Redis integration and end-to-end tests)" >&2
set +e
tests/cluster/run.sh >"$run_dir/cluster.log" 2>&1
cluster_rc=$?
set -e
count_suite "$run_dir/cluster.log" "$cluster_rc"
# --- end Redis Cluster

# --- loadtests smoke (issue 5; owner: loadtests/): one item, its own services and hosts on other ports; log in $run_dir/loadtests-smoke.log
echo "== loadtests/run.sh --smoke" >&2
if loadtests/run.sh --smoke >"$run_dir/loadtests-smoke.log" 2>&1; then count 1 0; else count 0 1; tail -n 40 "$run_dir/loadtests-smoke.log" >&2; fi
# --- end loadtests smoke

# --- fault suite (issue 11, item 5; owner: tests/faults/): its own services and hosts on other ports; log in $run_dir/faults.log
echo "== tests/faults/run.sh" >&2
set +e
tests/faults/run.sh >"$run_dir/faults.log" 2>&1
faults_rc=$?
set -e
count_suite "$run_dir/faults.log" "$faults_rc"
# --- end fault suite

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
