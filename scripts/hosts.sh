#!/usr/bin/env bash
# Builds and starts the control plane and the sidecar for run.sh and test.sh. Source it after scripts/services.sh.
# Needs ED_POSTGRES, ED_REDIS, STRIPE_WEBHOOK_SECRET, STRIPE_API_KEY, ED_TOKEN_SIGNING_KEY, ED_CONTROLPLANE_URL, ED_SIDECAR_URL.
# With ED_FAKE_STRIPE_URL set (e.g. http://127.0.0.1:12111) it also starts the fake Stripe API there
# (tools/EntitlementDecision.FakeStripe) and points the control plane at it (STRIPE_API_BASE); the fake posts signed
# webhooks to the control plane with the first secret of STRIPE_WEBHOOK_SECRET. Unset: the control plane talks to
# STRIPE_API_BASE (default https://api.stripe.com). ED_FAKE_STRIPE_LOG_LEVEL (default Information) is the fake's log level;
# ED_FAKE_STRIPE_API_KEY (default STRIPE_API_KEY) the only key it accepts (empty: any key).

ED_CONFIGURATION=${ED_CONFIGURATION:-Release}
ED_BIN_CONTROLPLANE="src/EntitlementDecision.ControlPlane/bin/$ED_CONFIGURATION/net10.0/EntitlementDecision.ControlPlane.dll"
ED_BIN_SIDECAR="src/EntitlementDecision.Sidecar/bin/$ED_CONFIGURATION/net10.0/EntitlementDecision.Sidecar.dll"
ED_BIN_DEMO="tools/EntitlementDecision.Demo/bin/$ED_CONFIGURATION/net10.0/EntitlementDecision.Demo.dll"
ED_BIN_FAKE_STRIPE="tools/EntitlementDecision.FakeStripe.Host/bin/$ED_CONFIGURATION/net10.0/EntitlementDecision.FakeStripe.Host.dll"
ED_HOST_PIDS=()
# The pids of the hosts hosts_start started (also in ED_HOST_PIDS, in start order); ED_PID_FAKE_STRIPE is empty without the fake.
ED_PID_FAKE_STRIPE=
ED_PID_CONTROLPLANE=
ED_PID_SIDECAR=

hosts_build() {
  echo "build: dotnet build EntitlementDecision.sln -c $ED_CONFIGURATION" >&2
  dotnet build EntitlementDecision.sln -c "$ED_CONFIGURATION" -nologo -v q -clp:ErrorsOnly >&2
}

_wait_http() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

_wait_tcp() { # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# hosts_start LOGDIR: applies migrations, starts both hosts in the background, waits until both answer.
hosts_start() {
  local logs=$1
  mkdir -p "$logs"
  echo "migrate: applying EF Core migrations to PostgreSQL" >&2
  dotnet "$ED_BIN_CONTROLPLANE" migrate >"$logs/migrate.log" 2>&1 || { cat "$logs/migrate.log" >&2; return 1; }

  if [ -n "${ED_FAKE_STRIPE_URL:-}" ]; then
    export STRIPE_API_BASE=$ED_FAKE_STRIPE_URL
    Logging__LogLevel__Default=${ED_FAKE_STRIPE_LOG_LEVEL:-Information} FAKE_STRIPE_URLS=$ED_FAKE_STRIPE_URL FAKE_STRIPE_WEBHOOK_URL="$ED_CONTROLPLANE_URL/billing/webhook" \
      FAKE_STRIPE_WEBHOOK_SECRET="$(echo "$STRIPE_WEBHOOK_SECRET" | cut -d, -f1 | tr -d ' ')" FAKE_STRIPE_API_KEY="${ED_FAKE_STRIPE_API_KEY-$STRIPE_API_KEY}" \
      dotnet "$ED_BIN_FAKE_STRIPE" >"$logs/fake-stripe.log" 2>&1 &
    ED_PID_FAKE_STRIPE=$!
    ED_HOST_PIDS+=($!)
    local fake_hostport=${ED_FAKE_STRIPE_URL#http://}
    _wait_tcp "${fake_hostport%:*}" "${fake_hostport##*:}" 60 || { echo "fake Stripe API did not start; its log:" >&2; tail -n 40 "$logs/fake-stripe.log" >&2; return 1; }
    echo "fake Stripe API: $ED_FAKE_STRIPE_URL (log $logs/fake-stripe.log)" >&2
  fi

  DOTNET_gcServer=0 dotnet "$ED_BIN_CONTROLPLANE" >"$logs/controlplane.log" 2>&1 &
  ED_PID_CONTROLPLANE=$!
  ED_HOST_PIDS+=($!)
  DOTNET_gcServer=0 dotnet "$ED_BIN_SIDECAR" >"$logs/sidecar.log" 2>&1 &
  ED_PID_SIDECAR=$!
  ED_HOST_PIDS+=($!)

  _wait_http "$ED_CONTROLPLANE_URL/healthz" 60 || { echo "control plane did not become healthy; its log:" >&2; tail -n 40 "$logs/controlplane.log" >&2; return 1; }
  local sidecar_hostport=${ED_SIDECAR_URL#http://}
  _wait_tcp "${sidecar_hostport%:*}" "${sidecar_hostport##*:}" 60 || { echo "sidecar did not start; its log:" >&2; tail -n 40 "$logs/sidecar.log" >&2; return 1; }
  echo "control plane: $ED_CONTROLPLANE_URL (log $logs/controlplane.log)" >&2
  echo "sidecar:       $ED_SIDECAR_URL gRPC h2c (log $logs/sidecar.log)" >&2
}

# hosts_restart_controlplane LOGFILE: stops the control plane hosts_start started and starts it again with the environment as it
# is now (e.g. another ED_WEBHOOK_REREAD), logging to LOGFILE; waits until it is healthy. hosts_stop then stops the new one.
hosts_restart_controlplane() {
  local log=$1 old=$ED_PID_CONTROLPLANE i
  kill -TERM "$old" 2>/dev/null || true
  wait "$old" 2>/dev/null || true
  DOTNET_gcServer=0 dotnet "$ED_BIN_CONTROLPLANE" >"$log" 2>&1 &
  ED_PID_CONTROLPLANE=$!
  for i in "${!ED_HOST_PIDS[@]}"; do
    if [ "${ED_HOST_PIDS[$i]}" = "$old" ]; then ED_HOST_PIDS[$i]=$ED_PID_CONTROLPLANE; fi
  done
  _wait_http "$ED_CONTROLPLANE_URL/healthz" 60 || { echo "control plane did not become healthy after its restart; its log:" >&2; tail -n 40 "$log" >&2; return 1; }
  echo "control plane: restarted, $ED_CONTROLPLANE_URL (log $log)" >&2
}

hosts_stop() {
  local pid
  for pid in "${ED_HOST_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${ED_HOST_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ED_HOST_PIDS=()
  ED_PID_FAKE_STRIPE= ED_PID_CONTROLPLANE= ED_PID_SIDECAR=
}
