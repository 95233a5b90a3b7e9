#!/bin/sh
# make fuzz: runs each libFuzzer target named ($FUZZ_BUILD/NAME) for $FUZZ_S seconds, two at a
# time, from its seeds (tests/fuzz/corpus/NAME/) and the corpus it grew before
# ($FUZZ_BUILD/corpus/NAME/). Limits: 512 MB of memory, 5 s per input, a length per target.
# Prints per target its executions, coverage (cov) and findings (crashes, leaks, inputs over a
# limit), saved in $FUZZ_BUILD/findings/NAME/ (copy each into tests/fuzz/regressions/NAME/
# once fixed), then "N passed, N failed" over the targets.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_S=${FUZZ_S:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}

max_len() {
  case $1 in
    cifar) echo 40000 ;;
    json | png) echo 16384 ;;
    recipe_strings) echo 1024 ;;
    *) echo 8192 ;;
  esac
}

# One target: its log in $FUZZ_BUILD/logs/NAME.log, its result line in NAME.result.
fuzz_one() {
  name=$1
  corpus=$FUZZ_BUILD/corpus/$name findings=$FUZZ_BUILD/findings/$name
  mkdir -p "$corpus" "$findings" "$FUZZ_BUILD/logs"
  dict=$top/tests/fuzz/dict/$name.dict
  [ -f "$dict" ] || dict=$top/tests/fuzz/dict/popup.dict
  log=$FUZZ_BUILD/logs/$name.log
  # FUZZ_S=0 only runs the corpus once (libFuzzer's -max_total_time=0 would mean no limit).
  if [ "$FUZZ_S" -gt 0 ]; then limit=-max_total_time=$FUZZ_S; else limit=-runs=0; fi
  # ASan's quarantine of freed memory (256 MB by default) would count against the limit.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64} "$FUZZ_BUILD/$name" "$limit" \
    -rss_limit_mb=512 -timeout=5 -max_len="$(max_len "$name")" -dict="$dict" \
    -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" "$top/tests/fuzz/corpus/$name" \
    >"$log" 2>&1
  rc=$?
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  cov=$(sed -nE 's/^#[0-9]+.* cov: ([0-9]+).*/\1/p' "$log" | tail -n 1)
  found=$(find "$findings" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  echo "$name ${runs:-0} ${cov:-0} $found $rc" >"$FUZZ_BUILD/logs/$name.result"
}

names=$*
running=0
for name in $names; do
  fuzz_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$FUZZ_JOBS" ]; then
    wait
    running=0
  fi
done
wait

passed=0 failed=0 total=0
printf '%-20s %12s %8s %9s\n' target executions cov findings
for name in $names; do
  set -- $(cat "$FUZZ_BUILD/logs/$name.result")
  printf '%-20s %12s %8s %9s\n' "$1" "$2" "$3" "$4"
  total=$((total + $2))
  if [ "$4" -eq 0 ] && [ "$5" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL fuzz $1: exit $5, findings in $FUZZ_BUILD/findings/$1/, log $FUZZ_BUILD/logs/$1.log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$FUZZ_BUILD/logs/$1.log" | head -n 5
  fi
done
echo "executions in total: $total"
echo "$passed passed, $failed failed"
