# What the oracle scripts share (sourced, not run): finding the mirror, the commit and the
# herald binary, the work directory outside the repository, the processes killed by PID on
# exit, and exact text patches. The sourcing script sets `oracle` (its name in messages) and
# `repo` first.

die() { echo "$oracle: $*" >&2; exit 2; }

# oracle_git VAR URL: the git directory named by $VAR (bare or not), normalized into $VAR.
oracle_git() {
  local var=$1 url=$2 dir=${!1:-}
  if [[ -z "$dir" ]]; then
    die "$var is not set. Point it at a git clone of $url (bare or not), e.g.:
  git clone --bare $url ~/src/$(basename "$url").git
  $var=~/src/$(basename "$url").git $0"
  fi
  if ! git --git-dir="$dir" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    dir=$(git -C "$dir" rev-parse --absolute-git-dir 2>/dev/null) \
      || die "$var=${!var} is not a git directory"
  fi
  printf -v "$var" '%s' "$dir"
}

# oracle_commit GIT REF: sets `commit` and `describe`.
oracle_commit() {
  commit=$(git --git-dir="$1" rev-parse --verify "$2^{commit}") || die "no commit $2 in $1"
  describe=$(git --git-dir="$1" describe --tags "$commit" 2>/dev/null || echo "${commit:0:10}")
}

# find_herald: HERALD_BIN, or debug/herald under $CARGO_TARGET_DIR, else under target/;
# made absolute.
find_herald() {
  if [[ -z "${HERALD_BIN:-}" ]]; then
    local c
    for c in "${CARGO_TARGET_DIR:-$repo/target}/debug/herald" "$repo/target/debug/herald"; do
      [[ -x "$c" ]] && { HERALD_BIN=$c; break; }
    done
  fi
  [[ -n "${HERALD_BIN:-}" && -x "$HERALD_BIN" ]] || die "no herald binary; build it or set HERALD_BIN"
  HERALD_BIN=$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")
}

# require TOOL...: each must be on PATH.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
}

# oracle_workdir NAME: sets `work` to $HERALD_ORACLES_DIR/NAME (default cache
# ~/.cache/herald-oracles), which must be outside the repository.
oracle_workdir() {
  work=${HERALD_ORACLES_DIR:-$HOME/.cache/herald-oracles}/$1
  case "$work/" in "$repo"/*) die "the work directory must be outside the repository ($work)";; esac
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
}

# The processes a script starts (append to `pids`): TERM, then KILL after 5 s, on exit.
pids=()
kill_started() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# replace FILE OLD NEW [COUNT]: exact, literal replacement that must match COUNT times
# (default 1), so a patch that no longer applies stops the run instead of being skipped.
replace() {
  node -e '
    const fs = require("fs");
    const [file, from, to, count] = process.argv.slice(1);
    const text = fs.readFileSync(file, "utf8");
    const n = text.split(from).length - 1;
    if (n !== Number(count)) {
      console.error(`patch failed: ${file}: expected ${count} match(es) of ${JSON.stringify(from)}, found ${n}`);
      process.exit(1);
    }
    fs.writeFileSync(file, text.split(from).join(to));
  ' "$1" "$2" "$3" "${4:-1}"
}
