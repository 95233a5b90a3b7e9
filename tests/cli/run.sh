#!/bin/sh
# Command-line tests: runs every tests/cli/*.test script (plain sh, sourced after lib.sh) in
# a fresh temporary directory, with the built tools first on PATH, and counts its cases: passed,
# failed and skipped (lib.sh's skip). CLI_ONLY=NAME runs only tests/cli/NAME.test (a glob).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PYTHON=${PYTHON:-/usr/bin/python3}
PATH=$BUILD/bin:$PATH
TESTS=$top/tests
export PATH PYTHON TESTS

total_passed=0 total_failed=0 total_skipped=0
for script in "$TESTS"/cli/${CLI_ONLY:-*}.test; do
  work=$(mktemp -d)
  counts=$(
    cd "$work" || exit 1
    passed=0 failed=0 skipped=0
    . "$TESTS/cli/lib.sh"
    . "$script"
    echo "COUNTS $passed $failed $skipped"
  )
  rm -rf "$work"
  echo "$counts" | grep -v '^COUNTS '
  set -- $(echo "$counts" | grep '^COUNTS ' | tail -n 1)
  if [ $# -ne 4 ]; then
    echo "FAIL $(basename "$script"): the script stopped early"
    total_failed=$((total_failed + 1))
    continue
  fi
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
  total_skipped=$((total_skipped + $4))
done
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
