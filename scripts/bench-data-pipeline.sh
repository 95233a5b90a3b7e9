#!/bin/sh
# scripts/bench-data-pipeline.sh: popup's streamed JPEG training pipeline against torchvision's,
# side by side on the same folder and cores (a developer benchmark; never part of make check).
# popup: popup-bench --loader images:DIR (read, decode with libjpeg-turbo, RandomResizedCrop 224,
# flip, normalise, in WORKERS threads, batches in order). torchvision: ImageFolder + DataLoader
# (num_workers=WORKERS) with RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor +
# Normalize. Both timed from the loader's creation to the last batch of one epoch; RUNS runs
# each, alternating which goes first; prints the medians and their ratio.
#
#   scripts/bench-data-pipeline.sh            1500 JPEGs (written once), 2 workers, batch 64, 3 runs
#   IMAGES=2000 RUNS=5 scripts/bench-data-pipeline.sh
#
# Variables: BUILD (default build: popup-bench is BUILD/tests/popup-bench, made by make bench or
# make BUILD/tests/popup-bench), PYTHON (default /usr/bin/python3, with PIL and torchvision),
# DIR (default ${TMPDIR:-/tmp}/popup-bench-jpeg-IMAGES), IMAGES, WORKERS, BATCH, RUNS, CPUS (a
# taskset list, e.g. 0,1, to pin both to the same cores), POPUP_ARGS (more popup-bench options:
# --full-decode decodes JPEGs at full size, as torchvision does, instead of DCT-scaled).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PYTHON=${PYTHON:-/usr/bin/python3}
IMAGES=${IMAGES:-1500}
WORKERS=${WORKERS:-2}
BATCH=${BATCH:-64}
RUNS=${RUNS:-3}
DIR=${DIR:-${TMPDIR:-/tmp}/popup-bench-jpeg-$IMAGES}
bench=$BUILD/tests/popup-bench
py=$top/scripts/bench-data-pipeline.py
pin=""
[ -n "${CPUS:-}" ] && pin="taskset -c $CPUS"

# show: a copy of the input on stderr (every run's own report), the input on stdout
show() { while IFS= read -r line; do printf '%s\n' "$line" >&2; printf '%s\n' "$line"; done; }
die() { echo "bench-data-pipeline: error: $1" >&2; exit "${2:-1}"; }
for v in IMAGES WORKERS BATCH RUNS; do
  eval "val=\$$v"
  case $val in '' | *[!0-9]*) die "$v must be a positive whole number, got '$val'" 2 ;; esac
  [ "$val" -ge 1 ] || die "$v must be at least 1" 2
done
[ -x "$bench" ] || die "$bench: not built (make BUILD=... $bench)"
"$bench" --help | grep -q -- '--loader' || die "$bench has no --loader"
"$PYTHON" -c 'import PIL, torch, torchvision' 2>/dev/null ||
  die "$PYTHON lacks PIL, torch or torchvision (Debian: python3-pil python3-torchvision)"

if [ ! -e "$DIR/.complete" ]; then
  rm -rf "$DIR"
  "$PYTHON" "$py" make-folder "$DIR" --images "$IMAGES"
  touch "$DIR/.complete"
fi

popup_run() {
  $pin "$bench" --loader "images:$DIR" --workers "$WORKERS" --batch "$BATCH" ${POPUP_ARGS:-} |
    show | sed -n 's/.* \([0-9.]*\) images\/s .*/\1/p'
}
torch_run() {
  $pin "$PYTHON" "$py" torchvision "$DIR" --workers "$WORKERS" --batch "$BATCH" |
    show | sed -n 's/^torchvision images\/s //p'
}

echo "# $(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
popup_rates="" torch_rates=""
r=1
while [ "$r" -le "$RUNS" ]; do
  if [ $((r % 2)) = 1 ]; then
    popup_rates="$popup_rates $(popup_run)"
    torch_rates="$torch_rates $(torch_run)"
  else
    torch_rates="$torch_rates $(torch_run)"
    popup_rates="$popup_rates $(popup_run)"
  fi
  r=$((r + 1))
done
"$PYTHON" - "$popup_rates" "$torch_rates" "$WORKERS" "$BATCH" "$DIR" <<'EOF'
import statistics, sys
popup = [float(v) for v in sys.argv[1].split()]
torch = [float(v) for v in sys.argv[2].split()]
p, t = statistics.median(popup), statistics.median(torch)
print("data pipeline, %s, %s workers, batch %s, median of %d runs each:" %
      (sys.argv[5], sys.argv[3], sys.argv[4], len(popup)))
print("  popup       %8.1f images/s  (runs: %s)" % (p, ", ".join("%.1f" % v for v in popup)))
print("  torchvision %8.1f images/s  (runs: %s)" % (t, ", ".join("%.1f" % v for v in torch)))
print("  ratio popup / torchvision: %.2fx" % (p / t))
EOF
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
