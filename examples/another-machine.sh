#!/bin/sh
# another-machine.sh: a result is a recipe plus a mask, and the mask file carries the recipe,
# so the mask alone is enough to use the subnetwork elsewhere. Trains fc and keeps its
# weights here; copies only the mask to a fresh directory (standing for another machine:
# scp fc.mask elsewhere:); there regenerates the weights from the recipe stored in the mask
# and evaluates. Shows that
#   - the mask is 32 times smaller than the weights (1 bit against 32 per weight; the files
#     differ a little more because of their headers: the recipe and the training record);
#   - popup-init --from fc.mask gives the weights byte for byte (cmp), on any machine and with
#     any number of threads, so the evaluation elsewhere gives the same accuracy;
#   - an IteRand mask (popup-train --method iterand) travels the same way: the weights it
#     redrew during training are derived from the seeds, so the mask records only how often
#     each kept weight was redrawn, and popup-eval elsewhere gives exactly the test accuracy
#     training recorded in the mask.
#
#   examples/another-machine.sh          3 epochs on Fashion-MNIST
#   SMALL=1 examples/another-machine.sh  1 epoch on 2000 images, 500 test images (a few seconds)
#
# BUILD (default: build/ beside examples/) holds the tools; OUT (default
# BUILD/examples/another-machine) receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/another-machine}
if [ "${SMALL:-0}" = 1 ]; then
  train="--epochs 1 --limit-train 2000 --limit-test 500" test="--limit 500"
  iterand="--rerandomize-every 4"  # 16 steps: 4 events
else
  train="--epochs 3" test="" iterand=""  # 1407 steps: 4 events of the default 300
fi
mkdir -p "$OUT"
cd "$OUT"

# The bytes after a safetensors header: the file size less 8 and the header length (the
# first 8 bytes, little-endian).
data_bytes() {
  echo $(($(wc -c <"$1") - 8 - $(od -An -tu8 -N8 --endian=little "$1")))
}

echo "== here: draw the weights, train, evaluate"
popup-init --arch fc --init signed-constant --seed 1 -o fc.weights
popup-train fc.weights --k 0.5 $train --quiet -o fc.mask
popup-eval fc.mask $test | tee here.txt

echo "== elsewhere: only the mask"
rm -rf elsewhere
mkdir elsewhere
cp fc.mask elsewhere/
(
  cd elsewhere
  popup-init --from fc.mask -o fc.weights    # the weights, from the recipe in the mask
  popup-eval fc.mask $test | tee there.txt   # (popup-eval alone would regenerate them too)
)

echo "== what was needed"
cmp fc.weights elsewhere/fc.weights &&
  echo "weights regenerated from the mask's recipe: byte-identical to those trained on"
if [ "$(sed 's/ (.*//' here.txt)" = "$(sed 's/ (.*//' elsewhere/there.txt)" ]; then
  echo "the same top-1, top-5 and loss here and elsewhere"
else
  echo "the evaluations differ" >&2
  exit 1
fi
w=$(data_bytes fc.weights) m=$(data_bytes fc.mask)
echo "tensor data: weights $w bytes, mask $m bytes: $((w / m)) times smaller"
echo "files: weights $(wc -c <fc.weights) bytes, mask $(wc -c <fc.mask) bytes" \
  "(headers: the recipe, and the mask's training record)"

echo "== IteRand: redrawn weights travel as counts"
popup-train fc.weights --method iterand $iterand --k 0.5 $train --quiet -o fc-iterand.mask
cp fc-iterand.mask elsewhere/
(cd elsewhere && popup-eval fc-iterand.mask $test --json >iterand.json)
# the test accuracy training recorded in the mask's metadata, and popup-eval's elsewhere
recorded=$(grep -ao '"popup.train.test_acc":"[^"]*"' fc-iterand.mask | cut -d'"' -f4)
there=$(grep -o '"top1":[^,]*' elsewhere/iterand.json | cut -d: -f2)
popup-stats fc-iterand.mask | sed -n '2,6p'
if [ "$recorded" = "$there" ]; then
  echo "IteRand mask elsewhere: top-1 $there, exactly the $recorded training recorded"
else
  echo "IteRand mask elsewhere: top-1 $there, training recorded $recorded" >&2
  exit 1
fi
echo "IteRand mask $(wc -c <fc-iterand.mask) bytes, edge-popup mask $(wc -c <fc.mask) bytes"
