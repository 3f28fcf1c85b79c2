#!/usr/bin/env bash
# ./run.sh          start PostgreSQL, Redis, the control plane and the sidecar; stay in the foreground until Ctrl-C.
# ./run.sh --demo   the same, then play the Stripe demo scenario once and exit with its status.
# Environment (dev defaults shown in README.md): STRIPE_WEBHOOK_SECRET, STRIPE_API_KEY, ED_TOKEN_SIGNING_KEY,
# ED_CONTROLPLANE_URL, ED_SIDECAR_URL, ED_PG_PORT, ED_REDIS_PORT, or ED_POSTGRES + ED_REDIS to use servers you run yourself.
set -euo pipefail
cd "$(dirname "$0")"

demo=0
case "${1:-}" in
  --demo)
    demo=1
    # The demo shows grace ending and read-only starting: its dunning policy counts seconds, not days
    # (full access 0.0001 day = 8.6 s, read-only until 1 day). Without --demo the runbook's 3 and 14 days apply.
    export ED_DUNNING_FULL_ACCESS_DAYS=${ED_DUNNING_FULL_ACCESS_DAYS:-0.0001} ED_DUNNING_READ_ONLY_DAYS=${ED_DUNNING_READ_ONLY_DAYS:-1}
    ;;
  "") ;;
  *) echo "usage: ./run.sh [--demo]" >&2; exit 2 ;;
esac

export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_dev_only_do_not_use_in_production}
export STRIPE_API_KEY=${STRIPE_API_KEY:-sk_test_dev_only}
# Offline by default: the fake Stripe API (tools/EntitlementDecision.FakeStripe) stands in for api.stripe.com. To use Stripe's
# test mode instead, set STRIPE_API_BASE=https://api.stripe.com and a real STRIPE_API_KEY.
if [ -z "${STRIPE_API_BASE:-}" ]; then export ED_FAKE_STRIPE_URL=${ED_FAKE_STRIPE_URL-http://127.0.0.1:12111}; fi
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
  run_dir_release "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_dir_claim "$run_dir"
if [ -z "${ED_POSTGRES:-}" ] || [ -z "${ED_REDIS:-}" ]; then
  services_start "$run_dir" "${ED_PG_PORT:-55432}" "${ED_REDIS_PORT:-56379}"
  started_services=1
  echo "postgres: 127.0.0.1:${ED_PG_PORT:-55432}  redis: $ED_REDIS  (data in $run_dir)" >&2
fi

hosts_build
hosts_start "$run_dir/logs"

if [ "$demo" = 1 ]; then
  ED_DEMO_TENANT=${ED_DEMO_TENANT:-demo-$(date -u +%Y%m%d%H%M%S)}
  ED_DEMO_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject demo)
  ED_DEMO_OWNER_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant "$ED_DEMO_TENANT" --role owner --subject demo-owner)
  ED_DEMO_SECOND_OPERATOR_TOKEN=$(dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject demo-approver)
  export ED_DEMO_TENANT ED_DEMO_OPERATOR_TOKEN ED_DEMO_OWNER_TOKEN ED_DEMO_SECOND_OPERATOR_TOKEN
  if [ -z "${ED_FAKE_STRIPE_URL:-}" ]; then echo "the demo needs the fake Stripe API (leave STRIPE_API_BASE unset)" >&2; exit 2; fi
  dotnet "$ED_BIN_DEMO"
  exit $?
fi

# The admin console: dev sign-in tokens go to files (mode 600), never to the terminal or a log.
echo "admin console: $ED_CONTROLPLANE_URL/admin" >&2
if [ -z "${ED_AUTH_AUTHORITY:-}" ]; then
  (umask 077
   dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role operator --subject dev-operator --ttl-minutes 480 >"$run_dir/operator.token"
   dotnet "$ED_BIN_CONTROLPLANE" mint-token --tenant platform --role support --subject dev-support --ttl-minutes 480 >"$run_dir/support.token")
  echo "  sign in by pasting the token in $run_dir/operator.token (operator: acts) or $run_dir/support.token (support: reads only); valid 8 h" >&2
  echo "  another: dotnet $ED_BIN_CONTROLPLANE mint-token --tenant platform --role operator --subject <you>  (with ED_TOKEN_SIGNING_KEY set)" >&2
else
  echo "  sign in with $ED_AUTH_AUTHORITY (ED_ADMIN_OIDC_CLIENT_ID), or paste a token it issued (role operator or support)" >&2
fi
echo "running; Ctrl-C stops everything this script started" >&2
# Wait on the hosts; if one of them dies, stop the rest.
wait -n "${ED_HOST_PIDS[@]}" || true
echo "a host exited; see $run_dir/logs" >&2
exit 1
