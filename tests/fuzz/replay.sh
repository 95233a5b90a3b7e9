#!/bin/sh
# make check's fuzz suite: every seed (tests/fuzz/corpus/NAME/) and every input that once
# crashed or passed a limit (tests/fuzz/regressions/NAME/) run once through target NAME built
# with the project's compiler and a replay main ($BUILD/fuzz-replay/NAME). One case per input.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac

passed=0 failed=0
for bin in "$BUILD"/fuzz-replay/*; do
  name=$(basename "$bin")
  for input in "$top/tests/fuzz/corpus/$name"/* "$top/tests/fuzz/regressions/$name"/*; do
    [ -f "$input" ] || continue
    if out=$(timeout 60 "$bin" "$input" 2>&1); then
      passed=$((passed + 1))
    else
      rc=$?
      failed=$((failed + 1))
      echo "FAIL fuzz $name ${input#"$top"/} (exit $rc)"
      echo "$out" | tail -n 20
    fi
  done
done
echo "$passed passed, $failed failed"
