#!/bin/sh
# scripts/bench-train-throughput.sh: edge-popup training steps of popup against the PyTorch
# formulation of the official code (scripts/pytorch-edgepopup-bench.py), side by side on the CPU
# with the same threads (a developer benchmark; never part of make check). Default workload:
# ResNet-50 with the ImageNet stem at 3x224x224, 1000 classes, batch 32, k 0.5, 2 threads.
# Each run measures the median of STEPS single steps after WARMUP steps; RUNS runs each,
# alternating which goes first; prints the medians and their ratio. The PyTorch side also runs
# with --topk kthvalue (a selection instead of the official full sort) when KTHVALUE=1.
#
#   scripts/bench-train-throughput.sh
#   ARCH=resnet18 INPUT=3x32x32 CLASSES=10 BATCH=128 STEPS=20 scripts/bench-train-throughput.sh
#
# Variables: BUILD (default build; popup-bench is BUILD/tests/popup-bench), PYTHON (default
# /usr/bin/python3 with python3-torch; PYTHONS: a list, each run in turn), ARCH (resnet50),
# INPUT (3x224x224), CLASSES (1000), BATCH (32), THREADS (2), WARMUP (2), STEPS (5), RUNS (3),
# KTHVALUE (0).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PYTHONS=${PYTHONS:-${PYTHON:-/usr/bin/python3}}
ARCH=${ARCH:-resnet50} INPUT=${INPUT:-3x224x224} CLASSES=${CLASSES:-1000}
BATCH=${BATCH:-32} THREADS=${THREADS:-2} WARMUP=${WARMUP:-2} STEPS=${STEPS:-5} RUNS=${RUNS:-3}
KTHVALUE=${KTHVALUE:-0}
bench=$BUILD/tests/popup-bench
script=$top/scripts/pytorch-edgepopup-bench.py

# show: a copy of the input on stderr (every run's own report), the input on stdout
show() { while IFS= read -r line; do printf '%s\n' "$line" >&2; printf '%s\n' "$line"; done; }
die() { echo "bench-train-throughput: error: $1" >&2; exit "${2:-1}"; }
for v in CLASSES BATCH THREADS WARMUP STEPS RUNS; do
  eval "val=\$$v"
  case $val in '' | *[!0-9]*) die "$v must be a whole number, got '$val'" 2 ;; esac
done
[ -x "$bench" ] || die "$bench: not built (make BUILD=... $bench)"

popup_run() {
  OMP_NUM_THREADS=$THREADS "$bench" --workload "$ARCH@$INPUT" --batch "$BATCH" \
    --classes "$CLASSES" --threads "$THREADS" --warmup "$WARMUP" --steps "$STEPS" --no-peak |
    show | awk -v w="$ARCH@$INPUT" '$1 == w { print $3 }'
}
torch_run() {  # PYTHON TOPK
  OMP_NUM_THREADS=$THREADS "$1" "$script" --device cpu --threads "$THREADS" --arch "$ARCH" \
    --classes "$CLASSES" --batch "$BATCH" --warmup "$WARMUP" --steps 1 --windows "$STEPS" \
    --topk "$2" | show | awk -v a="$ARCH" '$1 == a { print $3 }'
}

echo "# $(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
topks=sort
[ "$KTHVALUE" = 1 ] && topks="sort kthvalue"
# results: lines "NAME RATE"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
r=1
while [ "$r" -le "$RUNS" ]; do
  if [ $((r % 2)) = 1 ]; then echo "popup $(popup_run)" >>"$results"; fi
  for py in $PYTHONS; do
    version=$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
      die "$py: no PyTorch"
    for topk in $topks; do echo "pytorch-$version-$topk $(torch_run "$py" "$topk")" >>"$results"; done
  done
  if [ $((r % 2)) = 0 ]; then echo "popup $(popup_run)" >>"$results"; fi
  r=$((r + 1))
done
summary_py=$(echo "$PYTHONS" | cut -d' ' -f1)
"$summary_py" - "$results" "$ARCH@$INPUT" "$BATCH" "$THREADS" <<'EOF' 2>/dev/null ||
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    name, rate = line.split()
    rates.setdefault(name, []).append(float(rate))
p = statistics.median(rates.pop("popup"))
print("training throughput, %s, batch %s, %s threads, median of %d runs each:" %
      (sys.argv[2], sys.argv[3], sys.argv[4], len(next(iter(rates.values())))))
print("  %-28s %8.2f images/s" % ("popup", p))
for name, v in rates.items():
    m = statistics.median(v)
    print("  %-28s %8.2f images/s  (runs: %s); popup / this: %.2fx"
          % (name, m, ", ".join("%.2f" % x for x in v), p / m))
EOF
  cat "$results"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
