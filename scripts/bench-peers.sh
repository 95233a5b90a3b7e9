#!/bin/sh
# scripts/bench-peers.sh: popup against current PyTorch on this machine's CPU, side by side in
# one run (a developer benchmark; never part of make check). For each workload: popup-bench
# with --conv-algo direct and auto (training and evaluation images/s, the step's breakdown),
# and, alternating with them, PyTorch's edge-popup written after the official code
# (scripts/pytorch-edgepopup-bench.py, kthvalue top-k) and PyTorch's dense training of the
# same network, both training and evaluation. Prints a Markdown table of medians over RUNS
# rounds with popup's ratio to the best peer, the CPU model and the PyTorch version.
#
#   scripts/bench-peers.sh                     # fc, conv4, conv6 (1x28x28), resnet18 (3x32x32)
#   WORKLOADS=conv4@1x28x28 RUNS=1 scripts/bench-peers.sh
#   DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
#     scripts/bench-peers.sh                   # both sides held to AVX2 on an AVX-512 CPU
#
# PyTorch: PEER_PYTHON (a Python with torch), else BUILD/peers-venv, made and filled with the
# newest torch from PyPI on first use (several GB). Variables: BUILD (build), WORKLOADS,
# BATCH (128), THREADS (2), RUNS (3), OUT (BUILD/bench-peers: the raw JSON rows and table.md).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
WORKLOADS=${WORKLOADS:-fc@1x28x28 conv4@1x28x28 conv6@1x28x28 resnet18@3x32x32}
BATCH=${BATCH:-128} THREADS=${THREADS:-2} RUNS=${RUNS:-3}
OUT=${OUT:-$BUILD/bench-peers}
bench=$BUILD/tests/popup-bench
script=$top/scripts/pytorch-edgepopup-bench.py
die() { echo "bench-peers: error: $1" >&2; exit "${2:-1}"; }
for v in BATCH THREADS RUNS; do
  eval "val=\$$v"
  case $val in '' | *[!0-9]* | 0) die "$v must be a positive whole number, got '$val'" 2 ;; esac
done
[ -x "$bench" ] || die "$bench: not built (make)"

py=${PEER_PYTHON:-$BUILD/peers-venv/bin/python}
if [ -z "${PEER_PYTHON:-}" ] && ! "$py" -c 'import torch' 2>/dev/null; then
  echo "bench-peers: installing the newest torch from PyPI into $BUILD/peers-venv" >&2
  python3 -m venv "$BUILD/peers-venv"
  "$BUILD/peers-venv/bin/pip" install --quiet --upgrade pip torch
fi
version=$("$py" -c 'import torch; print(torch.__version__)') || die "$py: no PyTorch"
mkdir -p "$OUT"
rows=$OUT/rows.json
: >"$rows"

# tag IMPL WORKLOAD: the rows of one.json, named, appended to rows.json
tag() {
  "$py" -c 'import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        r.update(impl=sys.argv[2], workload=sys.argv[3])
        print(json.dumps(r))' "$OUT/one.json" "$1" "$2" >>"$rows"
}
# popup ALGO WORKLOAD: one popup-bench row (training and evaluation) into rows.json
popup() {
  OMP_NUM_THREADS=$THREADS "$bench" --workload "$2" --batch "$BATCH" --threads "$THREADS" \
    --conv-algo "$1" --warmup 3 --steps 20 --no-peak --json "$OUT/one.json" >&2
  tag "popup-$1" "$2"
}
# torch NAME MODE WORKLOAD [OPTIONS]: one PyTorch row into rows.json
torch() {
  name=$1 mode=$2 arch=${3%@*} input=${3#*@}
  shift 3
  OMP_NUM_THREADS=$THREADS "$py" "$script" --device cpu --threads "$THREADS" --arch "$arch" \
    --input "$input" --batch "$BATCH" --mode "$mode" --warmup 3 --steps 5 --windows 3 "$@" \
    --json "$OUT/one.json" >&2
  tag "$name" "$arch@$input"
}

cpu=$(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //')
isa=$(grep -m 1 -ow 'avx512f' /proc/cpuinfo || echo "no AVX-512")
# an instruction-set cap (to measure an AVX2 machine on an AVX-512 one) is part of the machine
for v in DNNL_MAX_CPU_ISA ATEN_CPU_CAPABILITY; do
  eval "val=\${$v:-}"
  [ -z "$val" ] || isa="$isa; $v=$val"
done
echo "# $cpu ($isa), $(nproc) cores, $THREADS threads, batch $BATCH; torch $version" >&2
r=1
while [ "$r" -le "$RUNS" ]; do
  for w in $WORKLOADS; do
    popup direct "$w"
    torch torch-edgepopup train "$w" --topk kthvalue
    torch torch-edgepopup eval "$w" --topk kthvalue
    popup auto "$w"
    torch torch-dense train "$w" --dense
    torch torch-dense eval "$w" --dense
  done
  r=$((r + 1))
done
rm -f "$OUT/one.json"

"$py" - "$rows" "$cpu ($isa)" "$version" "$THREADS" "$BATCH" "$RUNS" <<'EOF' | tee "$OUT/table.md"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
cpu, version, threads, batch, runs = sys.argv[2:]
rate = {}   # (workload, impl, mode) -> [images/s]
steps = {}  # (workload, impl) -> [(forward ms, backward ms)]
for r in rows:
    w, impl = r["workload"], r["impl"]
    if impl.startswith("popup"):
        rate.setdefault((w, impl, "train"), []).append(r["images_per_second"])
        rate.setdefault((w, impl, "eval"), []).append(r["eval_images_per_second"])
        ms = r["ms_per_step"]
        steps.setdefault((w, impl), []).append((ms["forward"], ms["backward"]))
    else:
        rate.setdefault((w, impl, r["mode"]), []).append(r["images_per_second"])
med = {k: statistics.median(v) for k, v in rate.items()}
workloads = list(dict.fromkeys(r["workload"] for r in rows))
print("CPU: %s; %s threads, batch %s; PyTorch %s; medians of %s rounds (images/s)\n"
      % (cpu, threads, batch, version, runs))
print("| workload | mode | popup, direct | popup, auto | PyTorch edge-popup (kthvalue) "
      "| PyTorch dense | popup auto / best peer | popup direct / best peer |")
print("|---|---|---|---|---|---|---|---|")
for w in workloads:
    for mode in ("train", "eval"):
        get = lambda impl: med.get((w, impl, mode), float("nan"))
        best = max(get("torch-edgepopup"), get("torch-dense"))
        print("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx |"
              % (w, mode, get("popup-direct"), get("popup-auto"), get("torch-edgepopup"),
                 get("torch-dense"), get("popup-auto") / best, get("popup-direct") / best))
print("\npopup's training step, ms (median of the rounds' medians): forward / backward "
      "(backward / forward)\n")
print("| workload | direct | auto |")
print("|---|---|---|")
for w in workloads:
    cells = []
    for impl in ("popup-direct", "popup-auto"):
        f = statistics.median(s[0] for s in steps[(w, impl)])
        b = statistics.median(s[1] for s in steps[(w, impl)])
        cells.append("%.1f / %.1f (%.2fx)" % (f, b, b / f))
    print("| %s | %s | %s |" % (w, cells[0], cells[1]))
EOF
