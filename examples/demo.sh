#!/bin/sh
# make demo: draw conv4's frozen weights for Fashion-MNIST from seed 1, print the network's
# summary, and show that the 1-KiB recipe regenerates the weights bit for bit.
set -eu
BUILD=${BUILD:-build}
PATH=$BUILD/bin:$PATH
out=$BUILD/demo
mkdir -p "$out"

popup-init --arch conv4 --init signed-constant --seed 1 --summary
popup-init --arch conv4 --init signed-constant --seed 1 -o "$out/conv4.weights"
popup-init --from "$out/conv4.weights" --recipe -o "$out/conv4.recipe"
popup-init --from "$out/conv4.recipe" -o "$out/conv4-again.weights"
cmp "$out/conv4.weights" "$out/conv4-again.weights"
echo
echo "wrote $out/conv4.weights ($(wc -c <"$out/conv4.weights") bytes) and its recipe" \
     "$out/conv4.recipe ($(wc -c <"$out/conv4.recipe") bytes);"
echo "the recipe regenerates the weights bit for bit (cmp found no difference)."
