# Helpers for tests/cli/*.test. Each case ends in pass or fail; a failure prints why. Cases
# this machine cannot run (a missing tool, no bf16 CPU) are counted by skip, which says why.
# `run CMD...` leaves the exit status in $rc, stdout in ./out, stderr in ./err.

pass() { passed=$((passed + 1)); }
# skip N REASON: N cases not run here.
skip() {
  skipped=$((skipped + $1))
  echo "SKIP $(basename "$script"): $1 cases: $2"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL $(basename "$script"): $1"
  [ -s err ] && sed 's/^/    stderr: /' err | head -n 5
  return 0
}

run() {
  "$@" >out 2>err
  rc=$?
}

# expect_ok NAME CMD...: exit status 0.
expect_ok() {
  name=$1
  shift
  run "$@"
  if [ "$rc" -eq 0 ]; then pass; else fail "$name: exit $rc, expected 0"; fi
}

# expect_error NAME CODE REGEX OUTPUT CMD...: exit status CODE, exactly one line on stderr
# matching REGEX (grep -E) and starting with the tool's name, and no file OUTPUT afterwards
# (nor any temporary sibling of it).
expect_error() {
  name=$1 code=$2 regex=$3 output=$4
  shift 4
  run "$@"
  error_result_check
}

# The checks of expect_error on $rc, ./err and $output (and $max_mb against $rss_kb when set).
error_result_check() {
  lines=$(wc -l <err)
  if [ "$rc" -ne "$code" ]; then
    fail "$name: exit $rc, expected $code"
  elif [ -n "${max_mb:-}" ] && [ "$rss_kb" -gt $((max_mb * 1024)) ]; then
    fail "$name: peak memory $((rss_kb / 1024)) MiB, over $max_mb MiB"
  elif [ "$lines" -ne 1 ]; then
    fail "$name: $lines lines on stderr, expected 1"
  elif ! grep -Eq "^popup-[a-z]+: error: " err; then
    fail "$name: message does not start with 'popup-TOOL: error: '"
  elif ! grep -Eq -- "$regex" err; then
    fail "$name: message '$(cat err)' does not match '$regex'"
  elif [ -e "$output" ] || ls -a | grep -q "^\.$(basename "$output")\.tmp"; then
    fail "$name: left an output file behind"
  else
    pass
  fi
}

# check NAME TEST-ARGS...: a `test` expression.
check() {
  name=$1
  shift
  if test "$@"; then pass; else fail "$name: test $*"; fi
}

# same_file NAME A B: byte-identical files.
same_file() {
  if cmp -s "$2" "$3"; then pass; else fail "$1: $2 and $3 differ"; fi
}

# run_bounded CMD...: as run, and $rss_kb is the command's peak resident memory in KiB; a
# command still running after 60 s is killed (exit 124). Measured by the kernel's rusage.
run_bounded() {
  set -- $("$PYTHON" - "$@" <<'PY'
import resource, subprocess, sys
try:
    r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=open("out", "wb"),
                       stderr=open("err", "wb"), timeout=60)
    code = r.returncode if r.returncode >= 0 else 128 - r.returncode
except subprocess.TimeoutExpired:
    code = 124
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
  rc=$1 rss_kb=$2
}

# expect_bounded NAME CODE REGEX OUTPUT MAX_MB CMD...: expect_error, and the command's peak
# resident memory stays under MAX_MB MiB. With $HOSTILE_REPORT set, appends a line
# "NAME<TAB>exit<TAB>peak KiB<TAB>stderr" to that file (scripts/hostile-report.sh).
expect_bounded() {
  name=$1 code=$2 regex=$3 output=$4 max_mb=$5
  shift 5
  run_bounded "$@"
  [ -n "${HOSTILE_REPORT:-}" ] &&
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$rss_kb" "$(head -n 1 err)" >>"$HOSTILE_REPORT"
  error_result_check
  max_mb=
}
