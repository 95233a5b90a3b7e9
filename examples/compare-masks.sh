#!/bin/sh
# compare-masks.sh: do two training runs on the same frozen weights find the same subnetwork?
# Trains fc twice from one recipe with training seeds 1 and 2 (the seed draws the initial
# scores and the order of the data; the weights stay those of the recipe), then:
#   - popup-stats a.mask b.mask: per layer the weights kept, and the overlap of the two masks
#     (Jaccard index, Hamming distance) beside what two random masks of the same k would give
#     (Jaccard k/(2-k) = 1/3 for k = 0.5): do the two runs agree more than chance would?
#   - popup-stats --json: the same numbers for a script;
#   - popup-stats --png DIR: each layer's mask as a picture (white = kept);
#   - popup-stats --k 0.3 a.scores: the learned scores re-thresholded at another k, without
#     training again.
#
#   examples/compare-masks.sh          3 epochs on Fashion-MNIST per run
#   SMALL=1 examples/compare-masks.sh  1 epoch on 2000 images per run (a few seconds)
#
# BUILD (default: build/ beside examples/) holds the tools; OUT (default
# BUILD/examples/compare-masks) receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/compare-masks}
if [ "${SMALL:-0}" = 1 ]; then
  train="--epochs 1 --limit-train 2000 --limit-test 500"
else
  train="--epochs 3"
fi
mkdir -p "$OUT"
cd "$OUT"

echo "== two runs on the same weights, training seeds 1 and 2"
popup-init --arch fc --init signed-constant --seed 1 --recipe -o fc.recipe
popup-train fc.recipe --k 0.5 $train --seed 1 --scores-out a.scores -o a.mask
popup-train fc.recipe --k 0.5 $train --seed 2 -o b.mask

echo "== the two masks, per layer, and their overlap against chance"
popup-stats a.mask b.mask

echo "== the same as JSON: overlap.json"
popup-stats --json a.mask b.mask >overlap.json

echo "== pictures of the masks: pictures/"
rm -rf pictures
popup-stats --png pictures a.mask b.mask >/dev/null
ls pictures

echo "== run 1's scores cut at k = 0.3 instead of 0.5"
popup-stats --k 0.3 a.scores
