#!/bin/sh
# resume.sh: stop a training run with Ctrl-C and continue it later, to the very mask the run
# would have written without the interruption. Trains fc for 2 epochs with --checkpoint and a
# JSON Lines --log; when the log shows the first epoch, sends SIGINT (what Ctrl-C sends):
# popup-train finishes the step in progress, writes the checkpoint, writes no mask and exits
# with status 130. The same command with --resume then trains the rest, and its mask is
# compared with that of an uninterrupted run (cmp). The log goes on in the same file.
#
#   examples/resume.sh           2 epochs on Fashion-MNIST
#   SMALL=1 examples/resume.sh   2 epochs on 4000 images, 500 test images (a few seconds)
#
# BUILD (default: build/ beside examples/) holds the tools; OUT (default BUILD/examples/resume)
# receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/resume}
if [ "${SMALL:-0}" = 1 ]; then
  # small batches: enough steps in the second epoch for the interrupt to land in it
  train="--epochs 2 --limit-train 4000 --limit-test 500 --batch-size 16"
else
  train="--epochs 2"
fi
mkdir -p "$OUT"
cd "$OUT"
rm -f fc.ckpt fc.log fc.mask
popup-init --arch fc --init signed-constant --seed 1 --recipe -o fc.recipe

echo "== train, and press Ctrl-C in the second epoch"
popup-train fc.recipe $train --checkpoint fc.ckpt --log fc.log -o fc.mask &
pid=$!
while [ ! -s fc.log ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
kill -INT "$pid" 2>/dev/null || true
status=0
wait "$pid" || status=$?
echo "popup-train exited with status $status; checkpoint: $(ls fc.ckpt 2>/dev/null || echo none)"
if [ "$status" -ne 130 ]; then
  echo "the run ended before the interrupt reached it: nothing to resume" >&2
  exit 1
fi

echo "== the same command with --resume"
popup-train fc.recipe $train --checkpoint fc.ckpt --log fc.log -o fc.mask --resume fc.ckpt
echo "fc.log: $(wc -l <fc.log) epochs logged across both runs"

echo "== an uninterrupted run, for comparison"
popup-train fc.recipe $train --quiet -o uninterrupted.mask
cmp fc.mask uninterrupted.mask && echo "the resumed run's mask is the uninterrupted run's, byte for byte"
