#!/usr/bin/env bash
# Runs a selection of soketi's Jest suite (tests/*.test.ts: public, private, presence,
# encrypted-private, ws, http-api, webhooks, and the *.redis-adapter variants) against
# Herald's Pusher endpoint, one Herald process per test instead of soketi's in-process
# server. Run by hand; see README.md.
#
# The third-party code is never copied into this repository: soketi's tests/ is extracted
# from a git mirror of github.com/soketi/soketi (SOKETI_GIT) into a cache directory outside
# the repository. Herald's own files from tests/oracles/soketi/ go next to it:
#   utils.ts            replaces soketi's tests/utils.ts (kept as utils.soketi.ts, whose
#                       client helpers it inherits): newServer(options, cb) maps soketi
#                       option keys to a Herald config and spawns Herald on :6001 (:6002)
#   src/*.ts            stand-ins for the soketi modules the tests import (app,
#                       webhook-sender, log, server, message)
#   package.json, jest.config.js, tsconfig.json   pinned test dependencies, jest settings
#   selection.json      the test files run and the cases skipped, each with its reason
#   apply-selection.js  turns the skipped cases into test.skip(...)
#
# soketi's tests hard-code ports 6001, 6002 (second node) and 3001 (webhook receiver):
# they must be free. The redis-adapter variants need redis-server (started here on a free
# port, killed on exit); without it they are left out with a note.
#
# Environment:
#   SOKETI_GIT          git directory of soketi/soketi, bare or not (required)
#   SOKETI_REF          commit or tag to test (default: HEAD)
#   SOKETI_REDIS        0: do not run the redis-adapter variants (default: run them when
#                       redis-server is installed)
#   HERALD_BIN          herald binary (default: debug/herald under $CARGO_TARGET_DIR, else
#                       under this repository's target/)
#   HERALD_ORACLES_DIR  work/cache directory (default: $HOME/.cache/herald-oracles)
#   HERALD_LOG_LEVEL    Herald's log.level (default: debug; one log per test in the work dir)
#   ORACLE_TIMEOUT      seconds allowed for each jest run (default: 900)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
ours=$here/soketi

oracle=soketi.sh
# shellcheck source=common.sh
source "$here/common.sh"

oracle_git SOKETI_GIT https://github.com/soketi/soketi
find_herald
require node npm

ref=${SOKETI_REF:-HEAD}
oracle_commit "$SOKETI_GIT" "$ref"
echo "soketi: $ref = $commit ($describe)"
echo "herald: $HERALD_BIN (repo HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"
oracle_workdir "soketi-${commit:0:12}"

# --- the hard-coded ports must be free -------------------------------------------------------
busy=$(node -e '
  const net = require("net");
  const ports = [6001, 6002, 3001];
  Promise.all(ports.map(p => new Promise(res => {
    const s = net.createServer();
    s.once("error", () => res(p));
    s.listen(p, "127.0.0.1", () => s.close(() => res(null)));
  }))).then(r => console.log(r.filter(Boolean).join(" ")));')
[[ -z "$busy" ]] || die "port(s) $busy in use: soketi's tests hard-code 6001, 6002 and 3001 (stop whatever listens there)"

# --- processes we start, killed by PID on exit ------------------------------------------------
pidfile=$work/herald.pids
: > "$pidfile"
cleanup() {
  local rc=$?
  # Herald processes jest spawned (utils.ts kills them itself; this is for an aborted run).
  # Only PIDs still running our binary are signalled.
  while read -r pid; do
    [[ -n "$pid" ]] || continue
    if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$HERALD_BIN" ]]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done < "$pidfile"
  kill_started
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- extract and set up ----------------------------------------------------------------------
# soketi's .gitattributes marks /tests export-ignore, so the tree is archived on its own.
rm -rf "$work/tests" "$work/src" "$work/logs"
mkdir -p "$work/logs"
git --git-dir="$SOKETI_GIT" archive --prefix=tests/ "$commit:tests" | tar x -C "$work"
[[ -f "$work/tests/utils.ts" ]] || die "no tests/utils.ts in soketi $commit"
mv "$work/tests/utils.ts" "$work/tests/utils.soketi.ts"
cp "$ours/utils.ts" "$work/tests/utils.ts"
cp -r "$ours/src" "$work/src"
cp "$ours/jest.config.js" "$ours/tsconfig.json" "$work/"
node "$ours/apply-selection.js" "$ours/selection.json" "$work/tests" local
node "$ours/apply-selection.js" "$ours/selection.json" "$work/tests" redis

stamp_want=$(cksum < "$ours/package.json")
if [[ "$(cat "$work/.installed" 2>/dev/null)" != "$stamp_want" || ! -d "$work/node_modules" ]]; then
  cp "$ours/package.json" "$work/package.json"
  rm -f "$work/package-lock.json"
  echo "npm install ..."
  (cd "$work" && timeout 900 npm install --no-audit --no-fund --loglevel=error)
  echo "$stamp_want" > "$work/.installed"
fi

files_of() {
  node -e 'const s = require(process.argv[1])[process.argv[2]]; console.log(s.files.join("\n"))' \
    "$ours/selection.json" "$1"
}

# --- jest ------------------------------------------------------------------------------------
summaries=()
overall=0
run_group() {  # run_group GROUP ADAPTER [env...]
  local group=$1 adapter=$2; shift 2
  local files=() f
  while read -r f; do files+=("tests/$f"); done < <(files_of "$group")
  echo
  echo "=== jest: $group (TEST_ADAPTER=$adapter): ${files[*]}"
  # In the background so that the trap can stop it (timeout runs jest in its own group).
  (cd "$work" && exec env "$@" TEST_ADAPTER="$adapter" HERALD_BIN="$HERALD_BIN" \
     SOKETI_HERALD_LOGS="$work/logs" SOKETI_HERALD_PIDS="$pidfile" \
     HERALD_LOG_LEVEL="${HERALD_LOG_LEVEL:-debug}" \
     timeout "${ORACLE_TIMEOUT:-900}" node_modules/.bin/jest --maxWorkers=1 --forceExit --verbose \
       --runTestsByPath "${files[@]}") >"$work/run-$group.log" 2>&1 &
  local jest_pid=$!
  pids+=("$jest_pid")
  tail -n +1 -f --pid="$jest_pid" "$work/run-$group.log" &
  local tail_pid=$!
  pids+=("$tail_pid")
  local rc=0
  wait "$jest_pid" || rc=$?
  wait "$tail_pid" 2>/dev/null || true
  local line
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$work/run-$group.log" | grep -E '^Tests: ' | tail -1 || true)
  if [[ -z "$line" ]]; then
    line="no jest summary (jest exited $rc)"
    [[ $rc -eq 0 ]] && rc=1
  fi
  summaries+=("$group: ${line#Tests: }")
  [[ $rc -eq 0 ]] || overall=1
}

run_group local local

if [[ "${SOKETI_REDIS:-1}" != 0 ]]; then
  if command -v redis-server >/dev/null; then
    redis_port=$(node -e 'const s = require("net").createServer();
      s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$work" >"$work/redis.log" 2>&1 &
    pids+=($!)
    up=
    for _ in $(seq 1 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then up=1; break; fi
      sleep 0.1
    done
    [[ -n "$up" ]] || die "redis-server did not come up on $redis_port (log: $work/redis.log)"
    run_group redis redis SOKETI_REDIS_URL="redis://127.0.0.1:$redis_port"
  else
    summaries+=("redis: not run (no redis-server)")
  fi
else
  summaries+=("redis: not run (SOKETI_REDIS=0)")
fi

# --- report ----------------------------------------------------------------------------------
echo
echo "=== soketi $describe (${commit:0:10}) against $HERALD_BIN"
for s in "${summaries[@]}"; do echo "$s"; done
echo
echo "skipped cases (selection.json):"
node -e '
  const sel = require(process.argv[1]);
  for (const [group, s] of Object.entries(sel)) {
    for (const [file, cases] of Object.entries(s.skip || {})) {
      for (const [name, reason] of Object.entries(cases)) console.log(`  [${group}] ${file}: ${name} -- ${reason}`);
    }
  }' "$ours/selection.json"
echo "logs: $work/run-*.log, Herald's per-test config and log in $work/logs/"
exit "$overall"
