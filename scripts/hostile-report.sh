#!/bin/sh
# The hostile-input figures (DESIGN.md §11): runs the command-line tests that feed the tools
# hostile files and prints, per case, the exit status, the peak resident memory and the error
# line, with the CPU model. Uses the tools in $BUILD (default build/); make them first.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
report=$(mktemp)
trap 'rm -f "$report"' EXIT
for suite in hostile_files hostile_data; do
  HOSTILE_REPORT=$report CLI_ONLY=$suite BUILD=$BUILD tests/cli/run.sh | tail -n 1
done
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(date -u +%Y-%m-%d)"
echo
echo "| case | exit | peak RSS (MiB) | error line |"
echo "|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %.1f | `%s` |\n", $1, $2, $3 / 1024, $4 }' "$report"
