#!/usr/bin/env bash
# ./run.sh          start PostgreSQL, Redis, the control plane and the sidecar; stay in the foreground until Ctrl-C.
# ./run.sh --demo   the same, then play the Stripe demo scenario once and exit with its status.
# Environment (dev defaults shown in README.md): STRIPE_WEBHOOK_SECRET, STRIPE_API_KEY, ED_TOKEN_SIGNING_KEY,
# ED_CONTROLPLANE_URL, ED_SIDECAR_URL, ED_PG_PORT, ED_REDIS_PORT, or ED_POSTGRES + ED_REDIS to use servers you run yourself.
set -euo pipefail
cd "$(dirname "$0")"

demo=0
case "${1:-}" in
  --demo) demo=1 ;;
  "") ;;
  *) echo "usage: ./run.sh [--demo]" >&2; exit 2 ;;
esac

export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_dev_only_do_not_use_in_production}
export STRIPE_API_KEY=${STRIPE_API_KEY:-sk_test_dev_only}
# Webhooks re-read subscriptions from Stripe's API (STRIPE_API_BASE) unless off; off until this script starts the fake Stripe API.
export ED_WEBHOOK_REREAD=${ED_WEBHOOK_REREAD:-off}
export ED_TOKEN_SIGNING_KEY=${ED_TOKEN_SIGNING_KEY:-dev-only-token-signing-key-0123456789abcdef}
export ED_CONTROLPLANE_URL=${ED_CONTROLPLANE_URL:-http://127.0.0.1:5080}
export ED_SIDECAR_URL=${ED_SIDECAR_URL:-http://127.0.0.1:50051}
run_dir=${ED_RUN_DIR:-.run/dev}

source scripts/services.sh
source scripts/hosts.sh

started_services=0
cleanup() {
  trap - INT TERM EXIT
  echo "stopping ..." >&2
  hosts_stop
  if [ "$started_services" = 1 ]; then services_stop "$run_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${ED_POSTGRES:-}" ] || [ -z "${ED_REDIS:-}" ]; then
  services_start "$run_dir" "${ED_PG_PORT:-55432}" "${ED_REDIS_PORT:-56379}"
  started_services=1
  echo "postgres: 127.0.0.1:${ED_PG_PORT:-55432}  redis: $ED_REDIS  (data in $run_dir)" >&2
fi

hosts_build
hosts_start "$run_dir/logs"

if [ "$demo" = 1 ]; then
  ED_DEMO_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject demo)
  export ED_DEMO_OPERATOR_TOKEN
  dotnet "$ED_BIN_DEMO"
  exit $?
fi

echo "running; Ctrl-C stops everything this script started" >&2
# Wait on the hosts; if one of them dies, stop the rest.
wait -n "${ED_HOST_PIDS[@]}" || true
echo "a host exited; see $run_dir/logs" >&2
exit 1
