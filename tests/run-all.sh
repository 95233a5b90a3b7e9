#!/bin/sh
# Runs every test suite that needs no GPU and adds up their closing lines into one:
# "N passed, N failed, N skipped". Each suite prints "N passed, N failed[, N skipped]" last.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export BUILD PYTHON
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

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

run_suite unit "$BUILD/tests/unit_tests" --color_output=no --log_level=test_suite --report_level=no
run_suite cli tests/cli/run.sh
run_suite man tests/man-lint.sh
run_suite format tests/format-check.sh

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
