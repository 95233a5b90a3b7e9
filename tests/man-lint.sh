#!/bin/sh
# Lints every man page with mandoc (-T lint -W warning): a page passes when mandoc prints
# nothing about it.
set -u
passed=0 failed=0
for page in man/man1/*.1 man/man5/*.5 man/man7/*.7; do
  [ -e "$page" ] || continue
  out=$(mandoc -T lint -W warning "$page" 2>&1)
  if [ -z "$out" ]; then
    passed=$((passed + 1))
  else
    echo "FAIL $page"
    echo "$out"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
