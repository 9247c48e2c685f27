#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: never a system cluster, never a fixed port.
#
#   source scripts/pg.sh
#   pg_start            # installs Debian's postgresql when missing (without its system
#                       # cluster), starts a cluster, exports BULWARK_TEST_PG_URL, and
#                       # stops it again when the shell exits (after any EXIT trap it had)
#   pg_psql -c "SQL"    # runs psql on it (the password goes by environment, not argument)
#   pg_stop             # stops it now and deletes its folder
#
# PostgreSQL refuses to run as root. As root, the cluster runs as the unprivileged
# `postgres` user the Debian package creates, in a fresh folder only that user can read;
# as anyone else, as that user. It listens on loopback only, on a free port, with a random
# password (scram-sha-256, handed to initdb in a file only the owner can read, never on a
# command line), and is tuned for throwaway data (no fsync). Sourcing this file sets no
# shell options.

PG_DIR=""
PG_BIN=""
PG_PORT=""
PG_PASSWORD=""

pg_say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

pg_install() {
  if [ -z "$(pg_bin_dir)" ]; then
    pg_say "installing PostgreSQL (Debian package postgresql, without its system cluster)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # The package would create and start a system cluster on port 5432; the tests never
    # use one, so none is made.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/bulwark.conf >/dev/null
    $sudo apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null || return 1
  fi
  PG_BIN="$(pg_bin_dir)"
  [ -n "$PG_BIN" ] || { echo "PostgreSQL's programs were not found under /usr/lib/postgresql" >&2; return 1; }
}

# Runs a PostgreSQL program as the cluster's owner.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_start() {
  if [ -n "$PG_DIR" ]; then
    echo "pg_start: a cluster is already running in $PG_DIR" >&2
    return 1
  fi
  pg_install || return 1
  PG_DIR="$(mktemp -d /tmp/bulwark-pg.XXXXXX)" || return 1
  # Stop and delete it however this shell ends, after whatever the caller's trap does.
  local previous
  previous="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
  # shellcheck disable=SC2064
  trap "pg_stop; ${previous:-:}" EXIT
  chmod 700 "$PG_DIR"
  local password port
  password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  port="$(pg_free_port)"
  (umask 077; printf '%s\n' "$password" > "$PG_DIR/pwfile")
  [ "$(id -u)" -ne 0 ] || chown -R postgres: "$PG_DIR"
  if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U bulwark --pwfile="$PG_DIR/pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1; then
    rm -f "$PG_DIR/pwfile"
    cat "$PG_DIR/initdb.log" >&2
    pg_stop
    return 1
  fi
  rm -f "$PG_DIR/pwfile"
  if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null; then
    cat "$PG_DIR/server.log" >&2
    pg_stop
    return 1
  fi
  PG_PORT="$port" PG_PASSWORD="$password"
  export BULWARK_TEST_PG_URL="postgres://bulwark:$password@127.0.0.1:$port/postgres"
  pg_say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (throwaway, $PG_DIR)"
}

pg_psql() {
  PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U bulwark -d postgres "$@"
}

pg_stop() {
  if [ -n "$PG_DIR" ]; then
    if [ -d "$PG_DIR/data" ]; then
      pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
  fi
  PG_DIR=""
}
