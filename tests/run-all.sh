#!/bin/sh
# Runs every test suite that needs no GPU (or those named: unit cli man format fuzz) and adds
# up their closing lines into one: "N passed, N failed, N skipped". Each suite prints
# "N passed, N failed[, N skipped]" last. With SANITIZE set (a build made with sanitizers), every
# sanitizer report is written to a file, not to stderr, and each file is one more failure.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export BUILD PYTHON
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
suites=${*:-unit cli man format fuzz}

if [ -n "${SANITIZE:-}" ]; then
  mkdir "$log/reports"
  # Sanitizers exit 86 at the first report, which no test expects; the report goes to a file so
  # that a tool's stderr stays one line. Suppressions: tests/sanitize/*.supp (outside popup only).
  common="log_path=$log/reports/report:exitcode=86:print_stacktrace=1"
  export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="$common:halt_on_error=1"
  export LSAN_OPTIONS="$common:suppressions=$(pwd)/tests/sanitize/lsan.supp"
  export TSAN_OPTIONS="$common:halt_on_error=1:second_deadlock_stack=1:suppressions=$(pwd)/tests/sanitize/tsan.supp"
fi

passed=0 failed=0 skipped=0
run_suite() {
  name=$1
  shift
  echo "== $name"
  "$@" 2>&1 | tee "$log/$name"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/$name" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$name: no closing line: counted as 1 failure"
    failed=$((failed + 1))
    return
  fi
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + ${s:-0}))
}

for suite in $suites; do
  case $suite in
    unit) run_suite unit "$BUILD/tests/unit_tests" --color_output=no --log_level=test_suite \
      --report_level=no ;;
    cli) run_suite cli tests/cli/run.sh ;;
    man) run_suite man tests/man-lint.sh ;;
    format) run_suite format tests/format-check.sh ;;
    fuzz) run_suite fuzz tests/fuzz/replay.sh ;;
    *)
      echo "run-all.sh: no suite $suite: counted as 1 failure"
      failed=$((failed + 1))
      ;;
  esac
done

if [ -n "${SANITIZE:-}" ]; then
  echo "== sanitizer reports"
  for report in "$log"/reports/*; do
    [ -f "$report" ] || continue
    failed=$((failed + 1))
    echo "FAIL sanitizer report $(basename "$report"):"
    head -n 40 "$report"
  done
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
