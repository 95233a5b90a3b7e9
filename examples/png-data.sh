#!/bin/sh
# png-data.sh: popup on your own images. Writes a small data set of 12x12 grey PNG images in
# the folder layout popup reads (DIR/train/<class>/*.png, DIR/test/<class>/*.png; classes
# numbered in sorted order of their folder names): a bright bar, horizontal, vertical or
# diagonal, at a random place on noise. Then, since an image folder has no known shape,
# draws fc's weights for --input 1x12x12 --classes 3, trains on png:DIR and evaluates on the
# test images and on the training images.
#
#   examples/png-data.sh           300 training images per class, 10 epochs
#   SMALL=1 examples/png-data.sh   60 per class, 5 epochs (a few seconds)
#
# Needs python3 (standard library only: zlib writes the PNGs). BUILD (default: build/ beside
# examples/) holds the tools; OUT (default BUILD/examples/png-data) receives the files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${BUILD:-$here/../build}" && pwd)
PATH=$BUILD/bin:$PATH
OUT=${OUT:-$BUILD/examples/png-data}
PYTHON=${PYTHON:-python3}
if [ "${SMALL:-0}" = 1 ]; then
  per_class=60 epochs=5
else
  per_class=300 epochs=10
fi
mkdir -p "$OUT"
cd "$OUT"

echo "== bars/: $per_class training and $((per_class / 3)) test images per class"
rm -rf bars
"$PYTHON" - "$per_class" <<'PY'
import os, random, struct, sys, zlib

def png_write(path, rows):  # 8-bit greyscale PNG: signature, IHDR, IDAT, IEND
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    raw = b"".join(b"\0" + bytes(row) for row in rows)  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))

def bar(kind, rng, size=12):
    img = [[rng.randrange(0, 90) for _ in range(size)] for _ in range(size)]
    at = rng.randrange(2, size - 2)
    for i in range(size):
        y, x = {"horizontal": (at, i), "vertical": (i, at), "diagonal": (i, i)}[kind]
        if kind == "diagonal":
            x = (i + at) % size
        img[y][x] = rng.randrange(180, 256)
    return img

per_class = int(sys.argv[1])
rng = random.Random(1)
for split, count in (("train", per_class), ("test", per_class // 3)):
    for kind in ("diagonal", "horizontal", "vertical"):
        folder = os.path.join("bars", split, kind)
        os.makedirs(folder)
        for n in range(count):
            png_write(os.path.join(folder, "%04d.png" % n), bar(kind, rng))
PY

echo "== train fc on png:bars"
popup-init --arch fc --input 1x12x12 --classes 3 --init signed-constant --seed 1 -o bars.weights
popup-train bars.weights --data png:bars --k 0.5 --epochs "$epochs" --batch-size 32 -o bars.mask
popup-eval bars.mask                  # the data set and batch size recorded in the mask
popup-eval bars.mask --split train
