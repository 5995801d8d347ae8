#!/usr/bin/env bash
# Runs pusher-js's own node integration specs (spec/javascripts/integration, `make
# node_integration`) against Herald's Pusher Channels endpoint. Run by hand; see README.md.
#
# The third-party code is never copied into this repository: it is extracted from a bare
# git mirror of github.com/pusher/pusher-js (PUSHER_JS_GIT) into a cache directory outside
# the repository, patched there (host/port/TLS/keys only) and run there.
#
# Environment:
#   PUSHER_JS_GIT        bare git directory of pusher/pusher-js (required)
#   PUSHER_JS_REF        commit or tag to test (default: v8.6.0 if the mirror has it, else HEAD)
#   HERALD_BIN           herald binary (default: debug/herald under $CARGO_TARGET_DIR, else
#                        under this repository's target/)
#   HERALD_ORACLES_DIR   work/cache directory (default: $HOME/.cache/herald-oracles)
#   HERALD_LOG_LEVEL     Herald's log.level (default: debug; the log is kept in the work dir)
#   ORACLE_TIMEOUT       seconds allowed for the spec run (default: 900)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

oracle=pusher-js.sh
# shellcheck source=common.sh
source "$here/common.sh"

oracle_git PUSHER_JS_GIT https://github.com/pusher/pusher-js
find_herald
require node npm make curl

if [[ -z "${PUSHER_JS_REF:-}" ]]; then
  if git --git-dir="$PUSHER_JS_GIT" rev-parse -q --verify 'v8.6.0^{commit}' >/dev/null; then
    PUSHER_JS_REF=v8.6.0
  else
    PUSHER_JS_REF=HEAD
  fi
fi
oracle_commit "$PUSHER_JS_GIT" "$PUSHER_JS_REF"
echo "pusher-js: $PUSHER_JS_REF = $commit ($describe)"
echo "herald:    $HERALD_BIN (repo HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"

oracle_workdir "pusher-js-${commit:0:12}"

# --- processes we start, killed by PID on exit -----------------------------------------
cleanup() {
  local rc=$?
  kill_started
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three free loopback ports: Herald, the mt1 and the eu helper apps.
read -r herald_port api_port api_eu_port < <(node -e '
  const net = require("net"); const ports = []; const servers = [];
  (function next() {
    if (ports.length === 3) { servers.forEach(s => s.close()); console.log(ports.join(" ")); return; }
    const s = net.createServer(); servers.push(s);
    s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
  })();')
[[ -n "${api_eu_port:-}" ]] || die "could not pick free ports"
echo "ports:     herald $herald_port, helper mt1 $api_port, helper eu $api_eu_port"

# --- fetch and patch -------------------------------------------------------------------
# Fresh sources on every run (node_modules is kept between runs of the same commit).
rm -rf "$work/src" "$work/spec" "$work/webpack" "$work/integration_tests_server/index.js" "$work/tmp"
git --git-dir="$PUSHER_JS_GIT" archive "$commit" \
  Makefile package.json tsconfig.json src spec webpack integration_tests_server \
  | tar x -C "$work"


spec=$work/spec/javascripts
ws_opts="wsHost: \"127.0.0.1\", wsPort: $herald_port, wssPort: $herald_port"
# 1. Clients connect to Herald instead of ws-<cluster>.pusher.com (cluster stays: pusher-js 8
#    requires it).
replace "$spec/integration/core/pusher_spec/test_builder.js" \
  'cluster: "mt1"' "cluster: \"mt1\", $ws_opts" 2
replace "$spec/integration/core/cluster_config_spec.js" \
  'cluster: "eu",' "cluster: \"eu\", $ws_opts,"
# 2. Herald is run without TLS here: drop the forceTLS:true configuration.
replace "$spec/integration/index.node.js" \
  $'var testConfigs = [{\n  transport: "ws",\n  forceTLS: true,\n},{' 'var testConfigs = [{'
# 3. The auth/trigger helper: loopback and free ports instead of localhost:3000/3001.
replace "$spec/helpers/node/integration.js" '"http://localhost:3000"' "\"http://127.0.0.1:$api_port\""
replace "$spec/helpers/node/integration.js" '"http://localhost:3001"' "\"http://127.0.0.1:$api_eu_port\""
its=$work/integration_tests_server/index.js
replace "$its" 'app.listen(port, ' 'app.listen(port, "127.0.0.1", '
replace "$its" 'start_app(3000, {' "start_app($api_port, {"
replace "$its" 'start_app(3001, {' "start_app($api_eu_port, {"
# ... and its npm `pusher` triggers on Herald instead of api-<cluster>.pusher.com.
replace "$its" 'cluster: "mt1",' "host: \"127.0.0.1\", port: $herald_port, useTLS: false,"
replace "$its" 'cluster: "eu"' "host: \"127.0.0.1\", port: $herald_port, useTLS: false"
# 4. Two devDependencies are git URLs (browser/worker tests only): drop them and the lockfile.
node -e '
  const fs = require("fs"); const f = process.argv[1];
  const p = JSON.parse(fs.readFileSync(f, "utf8"));
  for (const d of ["fetch-mock", "karma-jasmine-web-worker"]) {
    if (!(d in p.devDependencies)) { console.error(`patch failed: no devDependency ${d}`); process.exit(1); }
    delete p.devDependencies[d];
  }
  fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n");
' "$work/package.json"
rm -f "$work/package-lock.json"

# --- npm install (once per commit) -------------------------------------------------------
stamp_want=$(cat "$work/package.json" "$work/integration_tests_server/package.json" | cksum)
if [[ "$(cat "$work/.installed" 2>/dev/null)" != "$stamp_want" ]]; then
  echo "npm install (pusher-js and integration_tests_server) ..."
  (cd "$work" && timeout 900 npm install --no-audit --no-fund --ignore-scripts --loglevel=error)
  (cd "$work/integration_tests_server" && timeout 600 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$stamp_want" > "$work/.installed"
fi

# --- Herald --------------------------------------------------------------------------------
# App ids are numeric (the npm `pusher` library's forURL wants one); keys are the ones
# hard-wired in the specs. The secrets are local test values.
mt1_id=1001; mt1_key=c49a449b916bb4246729; mt1_secret=herald-oracle-mt1-secret
eu_id=1002;  eu_key=cb7d5e50f5669e5c9ae6;  eu_secret=herald-oracle-eu-secret
cat > "$work/herald.json" <<EOF
{
  "log": {"level": "${HERALD_LOG_LEVEL:-debug}"},
  "http_api": {"key": "oracle-api-key"},
  "client": {"token": {"hmac_secret_key": "oracle-hmac-secret"}},
  "pusher": {"apps": [
    {"id": "$mt1_id", "key": "$mt1_key", "secret": "$mt1_secret", "client_events": true},
    {"id": "$eu_id", "key": "$eu_key", "secret": "$eu_secret", "client_events": true}
  ]}
}
EOF
"$HERALD_BIN" serve --config "$work/herald.json" --port "$herald_port" --address 127.0.0.1 \
  >"$work/herald.log" 2>&1 &
pids+=($!)
herald_pid=$!

wait_http() { # URL WHAT: up to 20 s
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.2
  done
  die "$2 did not come up ($1)"
}
wait_http "http://127.0.0.1:$herald_port/health" "herald (log: $work/herald.log)"
kill -0 "$herald_pid" 2>/dev/null || die "herald exited (log: $work/herald.log)"

# --- the auth/trigger helper ----------------------------------------------------------------
(
  cd "$work/integration_tests_server"
  export INTEGRATION_TESTS_APP_MT1_APP_ID=$mt1_id INTEGRATION_TESTS_APP_MT1_KEY=$mt1_key
  export INTEGRATION_TESTS_APP_MT1_SECRET=$mt1_secret
  export INTEGRATION_TESTS_APP_EU_APP_ID=$eu_id INTEGRATION_TESTS_APP_EU_KEY=$eu_key
  export INTEGRATION_TESTS_APP_EU_SECRET=$eu_secret
  exec node index.js
) >"$work/integration_tests_server.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/v2/script_request/echo?receiver=x" "integration_tests_server (mt1)"
wait_http "http://127.0.0.1:$api_eu_port/v2/script_request/echo?receiver=x" "integration_tests_server (eu)"

# --- the specs ------------------------------------------------------------------------------
# `make node_integration` = webpack (spec/config/jasmine/webpack.integration.js) + jasmine.
echo "running make node_integration (about 2 minutes) ..."
set +e
(cd "$work" && NODE_OPTIONS=--openssl-legacy-provider timeout "${ORACLE_TIMEOUT:-900}" \
  make node_integration) 2>&1 | tee "$work/run.log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "=== pusher-js $describe (${commit:0:10}) against $HERALD_BIN"
summary=$(sed "s/\x1b\[[0-9;]*m//g" "$work/run.log" | grep -E "^Executed [0-9]+ of [0-9]+ specs" | tail -1 || true)
if [[ -n "$summary" ]]; then
  echo "$summary"
else
  echo "no jasmine summary found (make exited $rc); see $work/run.log"
  [[ $rc -eq 0 ]] && rc=1
fi
echo "logs: $work/run.log, $work/herald.log, $work/integration_tests_server.log"
exit "$rc"
