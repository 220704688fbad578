#!/usr/bin/env bash
# A private PostgreSQL cluster for the test suites (Debian's `postgresql` package).
#
#   scripts/services/postgres.sh start   # prints: export MAPVAULT_TEST_PG_URL=postgres://…
#   scripts/services/postgres.sh stop
#
# The cluster lives in its own directory (MAPVAULT_PG_DIR, default /tmp/mapvault-pg), listens on
# 127.0.0.1 only (MAPVAULT_PG_PORT, default 55432) and never touches a system cluster. Its server
# runs as the `postgres` user (initdb refuses root). The role it creates may create databases, so
# each test makes a fresh database of its own. Only the export line goes to stdout; logs go to stderr.
set -euo pipefail

DIR=${MAPVAULT_PG_DIR:-/tmp/mapvault-pg}
PORT=${MAPVAULT_PG_PORT:-55432}
ROLE=mapvault
PASSWORD=mapvault-test
URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
RUN_AS=postgres

log() { echo "postgres.sh: $*" >&2; }

# The newest installed server's binaries (Debian keeps them out of PATH, under /usr/lib/postgresql/<v>/bin).
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_if_missing() {
  if [ -z "$(bindir)" ]; then
    log "installing postgresql from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # Debian's post-install creates and starts a default cluster on 5432; ours is separate.
    apt-get install -y -qq postgresql >&2
  fi
  id "$RUN_AS" >/dev/null 2>&1 || useradd --system --home-dir "$DIR" --shell /usr/sbin/nologin "$RUN_AS"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

running() {
  [ -d "$DIR/data" ] && as_owner "$(bindir)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
  install_if_missing
  local bin
  bin=$(bindir)
  if ! running; then
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown "$RUN_AS" "$DIR"
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
      log "initdb in $DIR/data"
      local pwfile="$DIR/.pw"
      printf '%s\n' "$PASSWORD" >"$pwfile"
      [ "$(id -u)" = 0 ] && chown "$RUN_AS" "$pwfile"
      # The superuser is the role the tests use; C collation so text sorts by bytes everywhere.
      as_owner "$bin/initdb" -D "$DIR/data" -U "$ROLE" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C >&2
      rm -f "$pwfile"
    fi
    log "starting on 127.0.0.1:$PORT"
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=on" >&2
  fi
  # Ready means a real connection with the test credentials succeeds.
  for _ in $(seq 1 60); do
    if PGPASSWORD=$PASSWORD "$bin/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
      echo "export MAPVAULT_TEST_PG_URL=$URL"
      return 0
    fi
    sleep 0.5
  done
  log "the server did not accept connections; see $DIR/server.log"
  exit 1
}

stop() {
  local bin
  bin=$(bindir) || true
  if [ -n "$bin" ] && running; then
    as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >&2
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
