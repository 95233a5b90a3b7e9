#!/bin/sh
# Downloads, into .debs/, the Debian 12 packages popup builds and tests with, for a GPU machine
# that has a CUDA toolkit but no package registry: run this where Debian's packages can be
# fetched (any user; no installation), copy the checkout with .debs/ to the GPU machine, and
# `make gpu-check` unpacks them into build/sysroot when the system lacks them.
set -eu
cd "$(dirname "$0")/.."
PACKAGES="libdnnl-dev libdnnl2 libcli11-dev libboost-test-dev libboost-test1.74-dev
libboost-test1.74.0 libboost1.74-dev libpng-dev libpng16-16 zlib1g-dev dataset-fashion-mnist"
mkdir -p .debs
cd .debs
# shellcheck disable=SC2086
apt-get download $PACKAGES
echo "gpu-check-debs: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1), in .debs/"
