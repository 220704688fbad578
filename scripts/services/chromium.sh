#!/usr/bin/env bash
# Chromium for the web console's browser tests (test/browser). `start` installs Debian's chromium
# when missing and prints the export line; there is no daemon: each test launches its own
# headless browser with a fresh profile. Logs go to stderr; stdout carries only `export` lines.
set -euo pipefail
BIN=/usr/bin/chromium

case "${1:-}" in
  start)
    if ! [ -x "$BIN" ]; then
      echo "chromium.sh: installing Debian's chromium" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update >&2
      apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
    fi
    "$BIN" --version >&2
    echo "export MAPVAULT_TEST_CHROMIUM=$BIN"
    ;;
  stop)
    # Nothing runs between test runs: each browser is closed by the test that launched it.
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
