#!/usr/bin/env bash
# Starts (and stops) the private PostgreSQL and Redis that run.sh and test.sh use.
# Source it, then: services_start DIR PG_PORT REDIS_PORT; services_stop DIR [--force].
# services_stop stops only what services_start started in this shell (servers already running are left running),
# unless --force is given.
# PostgreSQL comes from the image's binaries; redis-server is installed with apt when missing.
# Exports ED_POSTGRES (Npgsql connection string to database "entitlements") and ED_REDIS (StackExchange.Redis configuration).
# ED_REDIS_CLUSTER=1: Redis is a local 3-master Redis Cluster (REDIS_PORT .. REDIS_PORT+2) instead of one server.

_pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  local d; d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || { echo "services: PostgreSQL binaries not found (expected initdb on PATH or /usr/lib/postgresql/*/bin)" >&2; return 1; }
  echo "$d"
}

_ensure_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  echo "services: installing redis-server with apt ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2 || { echo "services: apt-get install redis-server failed" >&2; return 1; }
}

# ensure_chromium: Debian's chromium for the admin console's browser tests (tests/browser/), installed with apt when missing.
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
  echo "services: installing chromium with apt ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || { echo "services: apt-get install chromium failed" >&2; return 1; }
}

# ensure_promtool: promtool (Debian's prometheus package) for the alert-rule checks in deploy/observability/, installed with apt when missing.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  echo "services: installing prometheus (for promtool) with apt ..." >&2
  # A policy-rc.d answering 101 keeps the package from starting a Prometheus server; only its promtool binary is wanted.
  local own_policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1; fi
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2 || rc=$?
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$rc" != 0 ]; then echo "services: apt-get install prometheus failed" >&2; return 1; fi
}

# run_dir_claim DIR: one script per run directory. Waits up to 60 s for an earlier run.sh/test.sh on DIR that is still
# stopping; stops with a message naming it when it is still running. The claim (DIR/owner.pid) is released at exit.
run_dir_claim() {
  local dir=$1 owner
  mkdir -p "$dir"
  for i in $(seq 1 120); do
    owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
    if [ -z "$owner" ] || [ "$owner" = "$$" ] || ! kill -0 "$owner" 2>/dev/null; then
      echo $$ > "$dir/owner.pid"
      return 0
    fi
    if [ "$i" = 1 ]; then echo "services: $dir is in use by process $owner ($(ps -o args= -p "$owner" 2>/dev/null | cut -c1-60)); waiting up to 60 s for it to stop ..." >&2; fi
    sleep 0.5
  done
  echo "services: $dir is still in use by process $owner; stop it (Ctrl-C in its terminal) or use another directory (ED_RUN_DIR)" >&2
  return 1
}

# run_dir_release DIR: gives up the claim when this process holds it.
run_dir_release() {
  local dir=$1
  if [ "$(cat "$dir/owner.pid" 2>/dev/null || true)" = "$$" ]; then rm -f "$dir/owner.pid"; fi
}

# run_dir_fresh DIR: claims DIR (run_dir_claim), stops servers an earlier run left on it and empties it (keeping the claim):
# for the suites that start their own stack (tests/cluster, tests/faults).
run_dir_fresh() {
  local dir=$1
  run_dir_claim "$dir" || return 1
  services_stop "$dir" --force
  find "$dir" -mindepth 1 -maxdepth 1 ! -name owner.pid -exec rm -rf {} +
}

# _reserve_ports: keeps the kernel from giving the ports our hosts listen on (sidecars and their admin ports 50000-51999,
# PostgreSQL 55400-55499, Redis 56300-56499: all inside Linux's ephemeral range) to outgoing connections, which the test
# suites open by the thousand; a host starting later then failed with "address already in use". Root only; else a no-op.
_reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports ours=50000-51999,55400-55499,56300-56499 current
  [ -w "$file" ] || return 0
  current=$(cat "$file" 2>/dev/null)
  case ",$current," in *",50000-51999,"*) return 0 ;; esac
  echo "${current:+$current,}$ours" >"$file" 2>/dev/null || true
}

services_start() {
  local dir=$1 pg_port=$2 redis_port=$3
  local pg_password=${ED_POSTGRES_PASSWORD:-entitlements-dev}
  _reserve_ports
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local bin; bin=$(_pg_bin) || return 1
  _ensure_redis || return 1

  # Redis: no persistence, loopback only. With ED_REDIS_CLUSTER=1: a 3-master Redis Cluster on redis_port .. redis_port+2.
  mkdir -p "$dir/redis"
  ED_STARTED_REDIS=0
  ED_STARTED_POSTGRES=0
  if [ "${ED_REDIS_CLUSTER:-0}" = 1 ]; then
    _redis_cluster_start "$dir" "$redis_port" || return 1
  elif ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    ED_STARTED_REDIS=1
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
      --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" >/dev/null
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 || { echo "services: redis did not start, see $dir/redis/redis.log" >&2; return 1; }
  fi

  # PostgreSQL: a private cluster owned by the postgres OS user, TCP on loopback with a password.
  local data="$dir/pgdata"
  if [ ! -s "$data/PG_VERSION" ]; then
    install -d -o postgres -g postgres -m 700 "$data"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { echo "services: initdb failed, see $dir/initdb.log" >&2; return 1; }
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; then
      echo "services: port $pg_port is taken by another server (not the cluster in $data); stop it or choose another port (ED_PG_PORT / ED_TEST_PG_PORT)" >&2
      return 1
    fi
    chown postgres:postgres "$dir"
    ED_STARTED_POSTGRES=1
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $data -c fsync=off -c max_connections=200" start >/dev/null \
      || { echo "services: postgres did not start, see $dir/postgres.log" >&2; return 1; }
  fi
  runuser -u postgres -- psql -h "$data" -p "$pg_port" -U postgres -qtAc \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='entitlements') THEN CREATE ROLE entitlements LOGIN CREATEDB PASSWORD '$pg_password'; END IF; END\$\$;" >/dev/null
  if [ "$(runuser -u postgres -- psql -h "$data" -p "$pg_port" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='entitlements'")" != "1" ]; then
    runuser -u postgres -- psql -h "$data" -p "$pg_port" -U postgres -qc "CREATE DATABASE entitlements OWNER entitlements" >/dev/null
  fi

  export ED_POSTGRES="Host=127.0.0.1;Port=$pg_port;Database=entitlements;Username=entitlements;Password=$pg_password"
  if [ "${ED_REDIS_CLUSTER:-0}" = 1 ]; then
    # StackExchange.Redis's cluster configuration: the seed nodes; it discovers the slot map itself.
    export ED_REDIS="127.0.0.1:$redis_port,127.0.0.1:$((redis_port + 1)),127.0.0.1:$((redis_port + 2))"
  else
    export ED_REDIS="127.0.0.1:$redis_port"
  fi
}

# _redis_cluster_start DIR PORT: three empty cluster-enabled Redis servers on PORT, PORT+1, PORT+2 (bus ports PORT+10000.., so
# PORT <= 55533), joined by redis-cli --cluster create with no replicas; waits until the cluster says cluster_state:ok.
_redis_cluster_start() {
  local dir=$1 port=$2 p nodes=()
  for p in "$port" $((port + 1)) $((port + 2)); do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$dir/redis/$p"; mkdir -p "$dir/redis/$p"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --cluster-enabled yes --cluster-config-file "$dir/redis/$p/nodes.conf" \
      --save '' --appendonly no --dir "$dir/redis/$p" --pidfile "$dir/redis/$p/redis.pid" --logfile "$dir/redis/$p/redis.log" >/dev/null
    for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$p" ping >/dev/null 2>&1 || { echo "services: redis cluster node $p did not start, see $dir/redis/$p/redis.log" >&2; return 1; }
    nodes+=("127.0.0.1:$p")
  done
  ED_STARTED_REDIS=1
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/redis/cluster-create.log" 2>&1 \
    || { echo "services: redis-cli --cluster create failed, see $dir/redis/cluster-create.log" >&2; return 1; }
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -p "$port" cluster info | tr -d '\r' | grep cluster_state)" = cluster_state:ok ]; then return 0; fi
    sleep 0.1
  done
  echo "services: the redis cluster on $port did not reach cluster_state:ok" >&2
  return 1
}

services_stop() {
  local dir=$1 force=${2:-}
  local bin; bin=$(_pg_bin) || true
  if [ "$force" = --force ] || [ "${ED_STARTED_REDIS:-0}" = 1 ]; then
    if [ -f "$dir/redis/redis.pid" ]; then kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true; fi
    local f
    for f in "$dir"/redis/*/redis.pid; do if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi; done
  fi
  if [ "$force" = --force ] || [ "${ED_STARTED_POSTGRES:-0}" = 1 ] && [ -n "$bin" ] && [ -s "$dir/pgdata/PG_VERSION" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# --- One service at a time, for the fault suite (tests/faults): kill, restart empty, stop and start on the same data.
# They act on the servers services_start started in DIR and leave ED_STARTED_* alone, so services_stop still stops them.

# redis_kill DIR: SIGKILL the Redis of DIR (no shutdown save: with --save '' there is nothing to save anyway).
redis_kill() {
  local dir=$1 pid
  pid=$(cat "$dir/redis/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] || { echo "services: no $dir/redis/redis.pid" >&2; return 1; }
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$dir/redis/redis.pid"
}

# redis_start_empty DIR PORT: starts Redis on PORT with the options of services_start, after removing any data file, so it
# comes back EMPTY (as after a failover to a fresh replica or a restart without persistence).
redis_start_empty() {
  local dir=$1 port=$2
  mkdir -p "$dir/redis"
  dir=$(cd "$dir" && pwd)
  rm -f "$dir/redis/dump.rdb" "$dir/redis/appendonly.aof"
  rm -rf "$dir/redis/appendonlydir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" >/dev/null
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "services: redis did not start, see $dir/redis/redis.log" >&2; return 1; }
}

# postgres_stop DIR: stops the cluster of DIR (fast: open connections are cut, as in a crash of the server's clients).
postgres_stop() {
  local dir=$1 bin; bin=$(_pg_bin) || return 1
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null
}

# postgres_start DIR PORT: starts the cluster of DIR again on its data, with the options of services_start.
postgres_start() {
  local dir=$1 port=$2 bin; bin=$(_pg_bin) || return 1
  dir=$(cd "$dir" && pwd)
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pgdata -c fsync=off -c max_connections=200" start >/dev/null \
    || { echo "services: postgres did not start, see $dir/postgres.log" >&2; return 1; }
}
