#!/bin/sh
# Install every Debian package popup uses (make deps); with --fuzz, also the compiler and
# runtime of the libFuzzer targets (make fuzz). Idempotent: when all are present it only
# checks, in well under a second. Needs root (or sudo) to install what is missing.
set -eu

PACKAGES="g++ make zlib1g-dev libcli11-dev libboost-test-dev libdnnl-dev libpng-dev libjpeg62-turbo-dev
mandoc clang-format python3 python3-numpy python3-pil dataset-fashion-mnist gnuplot-nox
libopenmpi-dev openmpi-bin libonnx-dev libprotobuf-dev python3-onnx python3-opencv"
if [ "${1:-}" = --fuzz ]; then
  PACKAGES="$PACKAGES clang-14 libfuzzer-14-dev libclang-rt-14-dev libomp-14-dev"
fi

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "deps: all $(echo $PACKAGES | wc -w) Debian packages present"
  exit 0
fi

echo "deps: missing:$missing"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "deps: not root: install them with" >&2
  echo "  sudo apt-get install$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "deps: installed:$missing"
