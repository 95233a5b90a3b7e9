#!/bin/sh
# pipeline.sh: the whole popup pipeline, twice. First as one pipe, where only the report (and
# a copy of the mask, through tee) reaches the disk: popup-init draws the frozen weights of fc
# (784-300-100-10) from seed 1, popup-train finds the subnetwork that keeps half of each
# layer, popup-eval measures it. Then step by step with named files: weights, mask, a JSON
# Lines log of the epochs, the evaluation and popup-stats' per-layer table. Both are the same
# command, so they give the same mask, byte for byte.
#
#   examples/pipeline.sh           3 epochs on Fashion-MNIST (about half a minute on 2 cores)
#   SMALL=1 examples/pipeline.sh   1 epoch on 2000 images, 500 test images (a few seconds)
#
# BUILD (default: build/ beside examples/) holds the tools; OUT (default BUILD/examples/pipeline)
# receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/pipeline}
if [ "${SMALL:-0}" = 1 ]; then
  train="--epochs 1 --limit-train 2000 --limit-test 500" test="--limit 500"
else
  train="--epochs 3" test=""
fi
mkdir -p "$OUT"
cd "$OUT"

echo "== one pipe: popup-init | popup-train | popup-eval"
popup-init --arch fc --init signed-constant --seed 1 |
  popup-train --k 0.5 $train |
  tee pipe.mask |
  popup-eval $test

echo "== the same with files"
popup-init --arch fc --init signed-constant --seed 1 -o fc.weights
popup-train fc.weights --k 0.5 $train --log fc.log -o fc.mask
popup-eval fc.mask $test      # --json: per-class accuracy and the confusion matrix too
echo "fc.log: one JSON object per epoch ($(wc -l <fc.log) lines)"

echo "== what the mask keeps, per layer"
popup-stats fc.mask

echo "== the pipe and the files"
cmp pipe.mask fc.mask && echo "same mask, byte for byte: $OUT/fc.mask"
echo "fc.weights $(wc -c <fc.weights) bytes, fc.mask $(wc -c <fc.mask) bytes"
