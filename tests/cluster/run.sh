#!/usr/bin/env bash
# tests/cluster/run.sh [--build]: the Redis integration tests and the end-to-end path on a real 3-master Redis Cluster (issue 15,
# item 3). Starts its own PostgreSQL (55441), a local Redis Cluster (redis-server --cluster-enabled yes x 3 on 46391-46393, joined
# by redis-cli --cluster create), the fake Stripe API (12117), the control plane (5187) and the sidecar (50158); run dir
# .run/cluster. Then runs tests/EntitlementDecision.Redis.Tests and tests/EntitlementDecision.EndToEnd.Tests against them and
# stops everything it started. Ends with "N passed, M failed"; exits non-zero when anything failed.
# Assumes the solution is built (test.sh's hosts_build) unless --build is given.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=0
[ "${1:-}" = --build ] && build=1

export STRIPE_WEBHOOK_SECRET=whsec_cluster_only_0123456789abcdef,whsec_cluster_only_rotated_fedcba9876543210  # two: the rotation test
export STRIPE_API_KEY=sk_test_cluster_only
export ED_TOKEN_SIGNING_KEY=cluster-only-token-signing-key-0123456789abcdef
export ED_CONTROLPLANE_URL=http://127.0.0.1:${ED_CLUSTER_CONTROLPLANE_PORT:-5187}
export ED_SIDECAR_URL=http://127.0.0.1:${ED_CLUSTER_SIDECAR_PORT:-50158}
export ED_FAKE_STRIPE_URL=http://127.0.0.1:${ED_CLUSTER_FAKE_STRIPE_PORT:-12117}
export ED_WEBHOOK_REREAD=on    # as test.sh: the shipped mode; the end-to-end tests' own events are decidable from their payloads
export ED_REDIS_CLUSTER=1
export ED_CONFIGURATION=${ED_CONFIGURATION:-Release}
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
unset STRIPE_API_BASE ED_POSTGRES ED_REDIS
run_dir=.run/cluster
otlp_port=${ED_CLUSTER_OTLP_PORT:-4329}

source scripts/services.sh
source scripts/hosts.sh

cleanup() {
  trap - INT TERM EXIT
  hosts_stop
  services_stop "$run_dir" --force
  run_dir_release "$run_dir"   # only when this process holds the claim
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_dir_fresh "$run_dir"
mkdir -p "$run_dir/logs"

if [ "$build" = 1 ]; then hosts_build; fi
services_start "$run_dir" "${ED_CLUSTER_PG_PORT:-55441}" "${ED_CLUSTER_REDIS_PORT:-46391}"
echo "cluster: Redis Cluster at $ED_REDIS" >&2
redis-cli -p "${ED_CLUSTER_REDIS_PORT:-46391}" cluster nodes | awk '{print "cluster:   " $2, $3, $9}' >&2
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_BSP_SCHEDULE_DELAY=200 \
  hosts_start "$run_dir/logs"

ED_E2E_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject test)
ED_E2E_SECOND_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject second-operator)
ED_E2E_SUPPORT_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role support --subject support-test)
export ED_E2E_OPERATOR_TOKEN ED_E2E_SECOND_OPERATOR_TOKEN ED_E2E_SUPPORT_TOKEN ED_E2E_CONTROLPLANE_URL=$ED_CONTROLPLANE_URL ED_E2E_SIDECAR_URL=$ED_SIDECAR_URL
export ED_E2E_OTLP_URL=http://127.0.0.1:$otlp_port/

set +e
for project in tests/EntitlementDecision.Redis.Tests tests/EntitlementDecision.EndToEnd.Tests; do
  dotnet test "$project" -c "$ED_CONFIGURATION" --no-build -nologo 2>&1
done | tee "$run_dir/dotnet-test.log"
set -e
passed=0 failed=0 projects=0
while read -r f p; do passed=$((passed + p)); failed=$((failed + f)); projects=$((projects + 1)); done < <(grep -E '^(Passed|Failed)!' "$run_dir/dotnet-test.log" \
  | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+).*/\1 \2/')
if [ "$projects" != 2 ]; then failed=$((failed + 1)); echo "cluster: expected 2 test summaries, found $projects" >&2; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
