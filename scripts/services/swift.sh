#!/usr/bin/env bash
# A real S3 server for the test suites and for local scale-out runs: a single-node OpenStack Swift
# (Debian 12 packages) with its s3api middleware and tempauth, on 127.0.0.1.
#
#   scripts/services/swift.sh start   # install when missing, start, create the bucket, wait; prints `export` lines
#   scripts/services/swift.sh stop    # stop what `start` started (by pid)
#   scripts/services/swift.sh clean   # stop, then delete $MAPVAULT_SWIFT_ROOT (data, config, rings, logs)
#
# Only the `export` lines go to stdout (so `eval "$(scripts/services/swift.sh start)"` works); all else to stderr.
# Several instances can run side by side with their own MAPVAULT_SWIFT_ROOT and ports (the outage test does).
#
# Caveats of Swift 2.30's s3api, handled by the client (src/storage/s3/) or here:
# - only path-style addressing (`forcePathStyle: true`);
# - AWS SDK JS v3 >= 3.729 sends aws-chunked bodies with CRC32 trailers unless
#   `requestChecksumCalculation: 'WHEN_REQUIRED'`, which s3api rejects with 501 NotImplemented;
# - DeleteObjects (POST ?delete) demands a Content-MD5 that such SDKs no longer send: the small
#   `s3md5shim` WSGI filter below adds it.
set -euo pipefail

ROOT=${MAPVAULT_SWIFT_ROOT:-/tmp/mapvault-swift}
S3_PORT=${MAPVAULT_SWIFT_PORT:-18080}
ACCOUNT_PORT=${MAPVAULT_SWIFT_ACCOUNT_PORT:-16202}
CONTAINER_PORT=${MAPVAULT_SWIFT_CONTAINER_PORT:-16201}
OBJECT_PORT=${MAPVAULT_SWIFT_OBJECT_PORT:-16200}
MEMCACHE_PORT=${MAPVAULT_SWIFT_MEMCACHE_PORT:-11311}
BUCKET=${MAPVAULT_SWIFT_BUCKET:-mapvault-test}
# Worker processes per Swift server (0: the server process itself serves, with eventlet).
WORKERS=${MAPVAULT_SWIFT_WORKERS:-0}
ACCOUNT=test
USER_NAME=tester
SECRET=testing
REGION=us-east-1

ETC=$ROOT/etc
DATA=$ROOT/data
RUN=$ROOT/run
LOG=$ROOT/log

say() { echo "swift.sh: $*" >&2; }

install_packages() {
  local bin missing=0
  for bin in swift-proxy-server swift-object-server swift-container-server swift-account-server memcached; do
    [ -x "/usr/bin/$bin" ] || missing=1
  done
  [ "$missing" = 0 ] && return 0
  say "installing swift and memcached from Debian packages"
  # DPkg::Lock::Timeout: other scripts may be installing at the same time; wait for them.
  apt-get -o DPkg::Lock::Timeout=900 update >&2
  # policy-rc.d (present in most containers) keeps the packages' own services from starting.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends \
    swift swift-proxy swift-object swift-container swift-account memcached python3 >&2
}

write_config() {
  mkdir -p "$ETC" "$DATA/d1" "$RUN" "$LOG"
  local me kind port
  me=$(id -un)
  # Swift reads the hash prefix/suffix from /etc/swift/swift.conf whatever swift_dir says.
  if [ ! -f /etc/swift/swift.conf ]; then
    mkdir -p /etc/swift
    cat > /etc/swift/swift.conf <<'EOF'
[swift-hash]
swift_hash_path_suffix = mapvault
swift_hash_path_prefix = mapvault
[storage-policy:0]
name = Policy-0
default = yes
EOF
  fi
  for kind in account container object; do
    case $kind in
      account) port=$ACCOUNT_PORT ;;
      container) port=$CONTAINER_PORT ;;
      object) port=$OBJECT_PORT ;;
    esac
    cat > "$ETC/$kind-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = $WORKERS
user = $me
swift_dir = $ETC
devices = $DATA
mount_check = false
disable_fallocate = true
log_level = WARNING

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
EOF
  done
  cat > "$ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $S3_PORT
workers = $WORKERS
user = $me
swift_dir = $ETC
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3md5shim s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3md5shim]
paste.filter_factory = s3md5shim:filter_factory

[filter:s3api]
use = egg:swift#s3api
location = $REGION
s3_acl = false
max_upload_part_num = 10000

[filter:tempauth]
use = egg:swift#tempauth
user_${ACCOUNT}_${USER_NAME} = ${SECRET} .admin

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHE_PORT

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:dlo]
use = egg:swift#dlo
EOF
  # Adds the Content-MD5 that s3api demands on DeleteObjects when the client sent only a CRC32.
  cat > "$ETC/s3md5shim.py" <<'EOF'
import base64, hashlib, io
from urllib.parse import parse_qs

MAX_BODY = 2 * 1024 * 1024


class S3Md5Shim(object):
    def __init__(self, app):
        self.app = app

    def __call__(self, env, start_response):
        if (env.get('REQUEST_METHOD') == 'POST' and 'HTTP_CONTENT_MD5' not in env
                and 'delete' in parse_qs(env.get('QUERY_STRING', ''), keep_blank_values=True)):
            try:
                length = int(env.get('CONTENT_LENGTH') or 0)
            except ValueError:
                length = 0
            if 0 < length <= MAX_BODY:
                body = env['wsgi.input'].read(length)
                env['wsgi.input'] = io.BytesIO(body)
                env['CONTENT_LENGTH'] = str(len(body))
                env['HTTP_CONTENT_MD5'] = base64.b64encode(hashlib.md5(body).digest()).decode('ascii')
        return self.app(env, start_response)


def filter_factory(global_conf, **local_conf):
    return S3Md5Shim
EOF
}

build_rings() {
  # One replica, one device per ring, built in one python process (nine swift-ring-builder calls take ~5 s).
  /usr/bin/python3 - "$ETC" "$OBJECT_PORT" "$CONTAINER_PORT" "$ACCOUNT_PORT" <<'EOF'
import os, sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], dict(zip(('object', 'container', 'account'), map(int, sys.argv[2:5])))
for kind, port in ports.items():
    ring = os.path.join(etc, kind + '.ring.gz')
    if os.path.exists(ring):
        continue
    b = RingBuilder(6, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 1.0,
               'meta': '', 'replication_ip': '127.0.0.1', 'replication_port': port})
    b.rebalance()
    b.get_ring().save(ring)
    b.save(os.path.join(etc, kind + '.builder'))
EOF
}

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start_one() {
  local name=$1
  running "$name" && return 0
  PYTHONPATH="$ETC" nohup /usr/bin/python3 "/usr/bin/swift-$name" "$ETC/$name.conf" -v >"$LOG/$name.log" 2>&1 </dev/null &
  echo $! > "$RUN/$name.pid"
}

# Waits for the proxy and the three backends, then creates the bucket (a Swift container of the
# tempauth account, which is what s3api maps buckets to) and checks it answers.
wait_ready_and_create_bucket() {
  /usr/bin/python3 - "$S3_PORT" "$BUCKET" "$ACCOUNT:$USER_NAME" "$SECRET" "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" "$MEMCACHE_PORT" <<'EOF'
import socket, sys, time, urllib.request, urllib.error
proxy, bucket, user, key, backends = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
base = 'http://127.0.0.1:%s' % proxy
deadline = time.time() + 90
last = None
while time.time() < deadline:
    try:
        for p in backends:
            socket.create_connection(('127.0.0.1', int(p)), timeout=1).close()
        with urllib.request.urlopen(base + '/healthcheck', timeout=2) as r:
            r.read()
        auth = urllib.request.Request(base + '/auth/v1.0', headers={'X-Auth-User': user, 'X-Auth-Key': key})
        with urllib.request.urlopen(auth, timeout=5) as r:
            token, storage = r.headers['X-Auth-Token'], r.headers['X-Storage-Url']
        put = urllib.request.Request(storage + '/' + bucket, method='PUT', headers={'X-Auth-Token': token})
        with urllib.request.urlopen(put, timeout=10) as r:
            r.read()
        head = urllib.request.Request(storage + '/' + bucket, method='HEAD', headers={'X-Auth-Token': token})
        with urllib.request.urlopen(head, timeout=10) as r:
            r.read()
        sys.exit(0)
    except (OSError, urllib.error.URLError) as e:
        last = e
    time.sleep(0.3)
sys.exit('not ready after 90 s: %s' % last)
EOF
}

do_start() {
  install_packages
  if ! running proxy-server; then
    local p
    for p in "$S3_PORT" "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" "$MEMCACHE_PORT"; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        running memcached && [ "$p" = "$MEMCACHE_PORT" ] && continue
        running account-server && [ "$p" = "$ACCOUNT_PORT" ] && continue
        running container-server && [ "$p" = "$CONTAINER_PORT" ] && continue
        running object-server && [ "$p" = "$OBJECT_PORT" ] && continue
        say "port $p on 127.0.0.1 is taken by another program; set MAPVAULT_SWIFT_*PORT"; exit 1
      fi
    done
  fi
  write_config
  build_rings
  if ! running memcached; then
    nohup /usr/bin/memcached -l 127.0.0.1 -p "$MEMCACHE_PORT" -U 0 -m 64 -u "$(id -un)" >"$LOG/memcached.log" 2>&1 </dev/null &
    echo $! > "$RUN/memcached.pid"
  fi
  start_one account-server
  start_one container-server
  start_one object-server
  start_one proxy-server
  if ! wait_ready_and_create_bucket >&2; then
    say "swift did not come up; logs:"; tail -n 30 "$LOG"/*.log >&2; do_stop; exit 1
  fi
  local name
  for name in memcached account-server container-server object-server proxy-server; do
    running "$name" && continue
    say "$name exited; logs:"; tail -n 30 "$LOG"/*.log >&2; do_stop; exit 1
  done
  say "S3 (Swift) ready on http://127.0.0.1:$S3_PORT, bucket $BUCKET, data in $ROOT"
  echo "export MAPVAULT_TEST_S3_URL='s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=$REGION'"
  echo "export AWS_ACCESS_KEY_ID='$ACCOUNT:$USER_NAME'"
  echo "export AWS_SECRET_ACCESS_KEY='$SECRET'"
}

do_stop() {
  local name pid
  for name in proxy-server object-server container-server account-server memcached; do
    [ -f "$RUN/$name.pid" ] || continue
    pid=$(cat "$RUN/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
  done
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  clean) do_stop; rm -rf "$ROOT" ;;
  *) echo "usage: $0 start|stop|clean" >&2; exit 2 ;;
esac
