#!/usr/bin/env bash
# ProGuard (Debian's proguard-cli 6.2.2) and a JDK, for the Java retrace oracle tests and bench.
# start: installs them when missing and prints `export MAPVAULT_TEST_PROGUARD=<ProGuard lib dir>`
# (it holds proguard.jar and retrace.jar). Nothing runs in the background, so stop does nothing.
set -euo pipefail
log() { echo "proguard.sh: $*" >&2; }

# Another apt-get may hold the dpkg lock (services start side by side): wait for it.
apt_install() {
  for _ in $(seq 1 120); do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 2>&1; then return 0; fi
    if ! fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 && ! pgrep -x apt-get >/dev/null 2>&1; then
      apt-get update >&2 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 && return 0
      return 1
    fi
    sleep 5
  done
  return 1
}

find_lib() {
  for d in /usr/share/java /usr/share/proguard/lib; do
    if [ -f "$d/proguard.jar" ] && [ -f "$d/retrace.jar" ]; then echo "$d"; return 0; fi
  done
  return 1
}

case "${1:-}" in
  start)
    if ! command -v javac >/dev/null 2>&1; then
      log "installing a JDK"
      apt_install default-jdk-headless
    fi
    if ! lib=$(find_lib); then
      log "installing proguard-cli"
      apt_install proguard-cli
      lib=$(find_lib) || { log "proguard-cli installed but proguard.jar/retrace.jar not found"; exit 1; }
    fi
    echo "export MAPVAULT_TEST_PROGUARD=$lib"
    ;;
  stop) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
