#!/bin/sh
# Checks every C++ and CUDA source of lib/, tools/ and tests/ against .clang-format: a file
# passes when clang-format would leave it as it is. With --fix (make format) it formats them in
# place instead. Without clang-format every file is counted as skipped.
set -u
cd "$(dirname "$0")/.." || exit 1
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
files=$(find lib tools tests -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o \
  -name '*.cuh' \) | LC_ALL=C sort)

if [ "${1:-}" = --fix ]; then
  # shellcheck disable=SC2086
  exec "$CLANG_FORMAT" -i $files
fi

passed=0 failed=0 skipped=0
for f in $files; do
  if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    skipped=$((skipped + 1))
  elif "$CLANG_FORMAT" "$f" | cmp -s "$f" -; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $f: $("$CLANG_FORMAT" "$f" | diff "$f" - | grep -c '^<') lines differ from" \
      ".clang-format (make format)"
  fi
done
if [ "$skipped" -gt 0 ]; then
  echo "SKIP format check: no $CLANG_FORMAT (scripts/install-deps.sh installs clang-format)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
