#!/bin/sh
# pipes.sh: every way the popup tools use standard input and output ("-", or no file name),
# and the one thing they refuse: binary data to a terminal.
#   - weights through a pipe into popup-train, the mask through a pipe into popup-eval;
#   - a recipe (a few hundred bytes) instead of the weights: popup-train regenerates them and
#     finds the same mask;
#   - popup-init --from - takes the recipe of any popup file on stdin, and regenerates the
#     weights (byte for byte) or writes only the recipe;
#   - popup-stats - reads a mask on stdin;
#   - popup-init and popup-train refuse to write to a terminal (exit status 2).
#
#   examples/pipes.sh              2 epochs on Fashion-MNIST
#   SMALL=1 examples/pipes.sh      1 epoch on 2000 images, 500 test images (a few seconds)
#
# BUILD (default: build/ beside examples/) holds the tools; OUT (default BUILD/examples/pipes)
# receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/pipes}
if [ "${SMALL:-0}" = 1 ]; then
  train="--epochs 1 --limit-train 2000 --limit-test 500" test="--limit 500"
else
  train="--epochs 2" test=""
fi
mkdir -p "$OUT"
cd "$OUT"

echo "== weights in through stdin (-), the mask out through stdout (-) into popup-eval (-)"
popup-init --arch fc --init signed-constant --seed 1 |
  popup-train - $train --quiet -o - |
  tee from-weights.mask |
  popup-eval - $test

echo "== a recipe is enough: popup-train regenerates the weights (no -o: stdout)"
popup-init --arch fc --init signed-constant --seed 1 --recipe |
  popup-train $train --quiet >from-recipe.mask
cmp from-weights.mask from-recipe.mask &&
  echo "the same mask from the $(popup-init --arch fc --init signed-constant --seed 1 --recipe | wc -c)-byte recipe as from the weights"

echo "== popup-init --from -: the recipe of any popup file, read on stdin"
popup-init --from - --recipe <from-recipe.mask >fc.recipe
popup-init --from - --summary <fc.recipe
popup-init --from - <from-recipe.mask >regenerated.weights
popup-init --arch fc --init signed-constant --seed 1 | cmp - regenerated.weights &&
  echo "the weights regenerated from the mask's recipe are those popup-init drew: identical"

echo "== popup-stats - reads a mask on stdin"
popup-stats - <from-recipe.mask

echo "== binary data never goes to a terminal"
if command -v script >/dev/null 2>&1; then
  # script(1) runs a command with a pseudo-terminal as its stdout, as an interactive shell would
  for command in "popup-init --arch fc" "popup-train fc.recipe"; do
    status=0
    message=$(script -qec "$command" /dev/null </dev/null) || status=$?
    echo "$message" | tr -d '\r'
    echo "$command on a terminal: exit status $status"
  done
else
  echo "(script(1) from util-linux is not installed: try 'popup-init --arch fc' in a terminal)"
fi
