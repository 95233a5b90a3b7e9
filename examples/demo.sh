#!/bin/sh
# make demo: the whole pipeline on Fashion-MNIST. Draw fc's frozen weights from seed 1, find a
# subnetwork keeping half of each layer (edge-popup, 5 epochs, about a minute on 2 cores),
# then evaluate the mask against weights regenerated from the recipe stored in it, and show
# what it keeps per layer. The other examples/*.sh are shorter, one point each.
set -eu
BUILD=${BUILD:-build}
PATH=$BUILD/bin:$PATH
out=$BUILD/demo
mkdir -p "$out"

popup-init --arch fc --init signed-constant --seed 1 --summary
popup-init --arch fc --init signed-constant --seed 1 |
  popup-train --k 0.5 --epochs 5 -o "$out/fc.mask"
echo
popup-eval "$out/fc.mask"
echo
popup-stats "$out/fc.mask"
echo
echo "the mask: $out/fc.mask ($(wc -c <"$out/fc.mask") bytes: recipe + 1 bit per weight)"
