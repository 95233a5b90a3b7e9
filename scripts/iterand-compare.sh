#!/bin/sh
# Edge-popup against IteRand (popup-train --method iterand) on Fashion-MNIST at k = 0.5: fc and
# conv4 at several widths, the same epochs, signed-constant weights, each seed S used as both
# the recipe's and the training seed. Every mask is evaluated again with popup-eval, which must
# print exactly the test accuracy training recorded (the redrawn weights are rebuilt from the
# seeds). Writes OUT/results.tsv and prints a Markdown table: mean and spread of the test
# top-1 over the seeds, the difference, the mask size in bytes per weight, and the share of
# kept weights that were redrawn. A run whose mask exists is not trained again.
#
#   scripts/iterand-compare.sh                       # fc and conv4 x0.25, x0.5, x1; 5 epochs; seeds 1 2 3
#   WIDTHS="0.25" SEEDS=1 EPOCHS=1 scripts/iterand-compare.sh   # a quick look
# Environment: EPOCHS (5), EPOCHS_FC (EPOCHS), WIDTHS ("0.25 0.5 1"), SEEDS ("1 2 3"),
# SEEDS_WIDE (seeds for width 1; SEEDS), EXTRA (more popup-train options for both methods, e.g.
# "--limit-train 10000"), ITERAND ("": the defaults K = 300, r = 0.1), OUT (build/iterand),
# BIN (build/bin), PYTHON (python3).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$top/build/bin}
OUT=${OUT:-$top/build/iterand}
EPOCHS=${EPOCHS:-5}
EPOCHS_FC=${EPOCHS_FC:-$EPOCHS}
WIDTHS=${WIDTHS:-0.25 0.5 1}
SEEDS=${SEEDS:-1 2 3}
SEEDS_WIDE=${SEEDS_WIDE:-$SEEDS}
EXTRA=${EXTRA:-}
ITERAND=${ITERAND:-}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$OUT"
: >results.tsv.new

# meta FILE KEY: a metadata value of a popup file
meta() {
  "$PY" -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"].get(sys.argv[2], ""))' "$1" "$2"
}

# redrawn FILE: kept weights with a redraw record, the weights of the network (to 8 per
# layer) and the kept weights
redrawn() {
  "$PY" -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n))
m=h.pop("__metadata__"); r=sum(v["shape"][0] for k,v in h.items() if k.endswith(".index"))
w=sum(v["shape"][0] * 8 for k,v in h.items() if v["dtype"] == "U8")
kept=sum(int(v) for k,v in m.items() if k.startswith("popup.mask.") and k.endswith(".kept"))
print(r, w, kept)' "$1"
}

run() {  # run ARCH EPOCHS SEED METHOD
  arch=$1 epochs=$2 seed=$3 method=$4
  name=$(echo "$arch" | tr ':=' '--')-$method-e$epochs-s$seed
  opts=""
  [ "$method" = iterand ] && opts=$ITERAND
  if [ ! -s "$name.mask" ]; then
    echo "== $name" >&2
    start=$(date +%s)
    "$BIN/popup-init" --arch "$arch" --init signed-constant --seed "$seed" |
      "$BIN/popup-train" --method "$method" --k 0.5 --epochs "$epochs" --seed "$seed" \
        --quiet --log "$name.log" $EXTRA $opts -o "$name.mask"
    echo "   $(($(date +%s) - start)) s" >&2
  fi
  trained=$(meta "$name.mask" popup.train.test_acc)
  limit=$(meta "$name.mask" popup.train.limit_test)
  eval_acc=$("$BIN/popup-eval" "$name.mask" --limit "${limit:-0}" --json |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["top1"])')
  same=$("$PY" -c 'import sys; print("exact" if float(sys.argv[1]) == float(sys.argv[2]) else "DIFFERS")' \
    "$trained" "$eval_acc")
  set -- $(redrawn "$name.mask")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$arch" "$method" "$seed" "$epochs" \
    "$trained" "$same" "$(wc -c <"$name.mask")" "$1" "$2" "$3" >>results.tsv.new
}

for seed in $SEEDS; do
  for method in edge-popup iterand; do run fc "$EPOCHS_FC" "$seed" "$method"; done
done
for width in $WIDTHS; do
  seeds=$SEEDS
  [ "$width" = 1 ] && seeds=$SEEDS_WIDE
  for seed in $seeds; do
    for method in edge-popup iterand; do run "conv4:width=$width" "$EPOCHS" "$seed" "$method"; done
  done
done
mv results.tsv.new results.tsv

"$PY" - results.tsv <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}\n")
print("| network | epochs | seeds | edge-popup top-1 % | IteRand top-1 % | IteRand - edge-popup | "
      "popup-eval = training | mask bytes/weight, edge-popup | IteRand | kept weights redrawn |")
print("|---|---|---|---|---|---|---|---|---|---|")
def fmt(v):
    m = statistics.mean(v) * 100
    return f"{m:.2f} ± {statistics.stdev(v) * 100:.2f}" if len(v) > 1 else f"{m:.2f}"
for arch in dict.fromkeys(r[0] for r in rows):
    by = {m: [r for r in rows if r[0] == arch and r[1] == m] for m in ("edge-popup", "iterand")}
    ep, it = by["edge-popup"], by["iterand"]
    if not ep or not it:
        continue
    a = [float(r[4]) for r in ep]; b = [float(r[4]) for r in it]
    weights = int(it[0][8]) or 1
    kept = int(it[0][9]) or 1
    exact = "yes" if all(r[5] == "exact" for r in ep + it) else "NO"
    bpw = lambda rs: statistics.mean(int(r[6]) for r in rs) / weights
    red = statistics.mean(int(r[7]) for r in it) / kept * 100
    print(f"| {arch} | {ep[0][3]} | {len(a)} | {fmt(a)} | {fmt(b)} | "
          f"{(statistics.mean(b) - statistics.mean(a)) * 100:+.2f} | {exact} | "
          f"{bpw(ep):.4f} | {bpw(it):.4f} | {red:.1f}% |")
PY
