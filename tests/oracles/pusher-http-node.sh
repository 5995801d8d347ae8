#!/usr/bin/env bash
# Runs the remote tests of pusher-http-node (npm `pusher`; tests/remote/**, mocha) against
# Herald's Pusher HTTP API, through PUSHER_URL. Run by hand; see README.md.
#
# The third-party code is never copied into this repository: it is extracted from a bare
# git mirror of github.com/pusher/pusher-http-node (PUSHER_HTTP_NODE_GIT) into a cache
# directory outside the repository and run there. The only patch: the proxy test's helper
# proxy listens on a free loopback port instead of *:8321.
#
# Environment:
#   PUSHER_HTTP_NODE_GIT bare git directory of pusher/pusher-http-node (required)
#   PUSHER_HTTP_NODE_REF commit or tag to test (default: HEAD)
#   HERALD_BIN           herald binary (default: debug/herald under $CARGO_TARGET_DIR, else
#                        under this repository's target/)
#   HERALD_ORACLES_DIR   work/cache directory (default: $HOME/.cache/herald-oracles)
#   HERALD_LOG_LEVEL     Herald's log.level (default: debug; the log is kept in the work dir)
#   ORACLE_TIMEOUT       seconds allowed for the mocha run (default: 300)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

oracle=pusher-http-node.sh
# shellcheck source=common.sh
source "$here/common.sh"

oracle_git PUSHER_HTTP_NODE_GIT https://github.com/pusher/pusher-http-node
find_herald
require node npm curl

ref=${PUSHER_HTTP_NODE_REF:-HEAD}
oracle_commit "$PUSHER_HTTP_NODE_GIT" "$ref"
echo "pusher-http-node: $ref = $commit ($describe)"
echo "herald:           $HERALD_BIN (repo HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"
oracle_workdir "pusher-http-node-${commit:0:12}"

# --- processes we start, killed by PID on exit -------------------------------------------
cleanup() {
  local rc=$?
  kill_started
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two free loopback ports: Herald and the test's HTTP proxy.
read -r herald_port proxy_port < <(node -e '
  const net = require("net"); const ports = []; const servers = [];
  (function next() {
    if (ports.length === 2) { servers.forEach(s => s.close()); console.log(ports.join(" ")); return; }
    const s = net.createServer(); servers.push(s);
    s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
  })();')
[[ -n "${proxy_port:-}" ]] || die "could not pick free ports"
echo "ports:            herald $herald_port, proxy $proxy_port"

# --- fetch and patch -------------------------------------------------------------------
rm -rf "$work/lib" "$work/tests"
git --git-dir="$PUSHER_HTTP_NODE_GIT" archive "$commit" package.json package-lock.json lib tests \
  | tar x -C "$work"

# tests/remote/pusher/proxy.js runs its own CONNECT proxy (tests/helpers/http_proxy.js) on
# *:8321: move it to a free loopback port.
replace "$work/tests/helpers/http_proxy.js" 'listen(8321, callback)' "listen($proxy_port, \"127.0.0.1\", callback)"
replace "$work/tests/remote/pusher/proxy.js" '"http://localhost:8321"' "\"http://127.0.0.1:$proxy_port\""

# --- npm ci (once per commit) ---------------------------------------------------------------
stamp_want=$(cksum < "$work/package-lock.json")
if [[ "$(cat "$work/.installed" 2>/dev/null)" != "$stamp_want" ]]; then
  echo "npm ci ..."
  (cd "$work" && timeout 900 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$stamp_want" > "$work/.installed"
fi

# --- Herald --------------------------------------------------------------------------------
# The app id must be numeric: Pusher.forURL parseInt()s it.
app_id=4242; app_key=herald-oracle-key; app_secret=herald-oracle-secret
cat > "$work/herald.json" <<EOF
{
  "log": {"level": "${HERALD_LOG_LEVEL:-debug}"},
  "http_api": {"key": "oracle-api-key"},
  "client": {"token": {"hmac_secret_key": "oracle-hmac-secret"}},
  "pusher": {"apps": [
    {"id": "$app_id", "key": "$app_key", "secret": "$app_secret", "client_events": true}
  ]}
}
EOF
"$HERALD_BIN" serve --config "$work/herald.json" --port "$herald_port" --address 127.0.0.1 \
  >"$work/herald.log" 2>&1 &
pids+=($!)
herald_pid=$!
up=
for _ in $(seq 1 100); do  # up to 20 s
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$herald_port/health" && { up=1; break; }
  sleep 0.2
done
[[ -n "$up" ]] && kill -0 "$herald_pid" 2>/dev/null || die "herald did not come up (log: $work/herald.log)"

# --- the tests --------------------------------------------------------------------------------
echo "running mocha tests/remote ..."
set +e
(cd "$work" && PUSHER_URL="http://$app_key:$app_secret@127.0.0.1:$herald_port/apps/$app_id" \
  timeout "${ORACLE_TIMEOUT:-300}" node_modules/.bin/mocha --reporter spec --exit 'tests/remote/**/*.js') \
  2>&1 | tee "$work/run.log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "=== pusher-http-node $describe (${commit:0:10}) against $HERALD_BIN"
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$work/run.log")
passing=$(grep -Eo '^ *[0-9]+ passing' <<<"$plain" | grep -Eo '[0-9]+' | tail -1 || true)
failing=$(grep -Eo '^ *[0-9]+ failing' <<<"$plain" | grep -Eo '[0-9]+' | tail -1 || true)
if [[ -n "$passing$failing" ]]; then
  echo "${passing:-0} passing, ${failing:-0} failing"
else
  echo "no mocha summary found (mocha exited $rc); see $work/run.log"
  [[ $rc -eq 0 ]] && rc=1
fi
echo "logs: $work/run.log, $work/herald.log"
exit "$rc"
