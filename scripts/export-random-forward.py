#!/usr/bin/python3
# Developer-only (never run by `make check`): a network's forward on random input in popup and
# in the clients of its ONNX export, for networks too large to train here (wide-resnet50 on
# 3x224x224). Writes a png:DIR of random RGB images, draws the recipe's dense weights
# (popup-init), evaluates them with popup-eval --logits, exports them with popup-export, and
# runs the export in OpenCV's DNN module (Debian python3-opencv) and, when importable,
# onnxruntime; prints each client's largest logit difference relative to popup's largest logit.
#     /usr/bin/python3 scripts/export-random-forward.py [--arch wide-resnet50] [--size 224]
#         [--images 4] [--bin BUILD/bin] [--keep DIR]
# Exit status: 0 when every client's relative difference is under --tolerance, else 1.
"""Forward of a popup network on random images, beside its ONNX export's in other runtimes."""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png_write(path, rgb):
    """An 8-bit RGB PNG of the array [h, w, 3], written with zlib alone."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def safetensors_read(path):
    """The tensors of a safetensors file by name (F32 only)."""
    import json
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {name: np.frombuffer(data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                np.float32).reshape(v["shape"]) for name, v in header.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="wide-resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--images", type=int, default=4, help="test images (and as many training)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--keep", help="work in this folder and keep the files")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="popup-export-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(1)
    data = os.path.join(work, "random")
    for split in ("train", "test"):
        for c in range(args.classes):
            folder = os.path.join(data, split, "c%d" % c)
            os.makedirs(folder, exist_ok=True)
            for i in range(max(1, args.images // args.classes)):
                png_write(os.path.join(folder, "%03d.png" % i),
                          rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8))

    def tool(*argv):
        start = time.time()
        subprocess.run([os.path.join(args.bin, argv[0])] + list(argv[1:]), check=True)
        return time.time() - start
    weights = os.path.join(work, "net.weights")
    onnx_path = os.path.join(work, "net.onnx")
    logits_path = os.path.join(work, "popup.logits")
    shape = "3x%dx%d" % (args.size, args.size)
    tool("popup-init", "--arch", args.arch, "--input", shape, "--classes", str(args.classes),
         "--seed", "1", "-o", weights)
    seconds = tool("popup-eval", weights, "--data", "png:" + data, "--batch-size", "2",
                   "--logits", logits_path)
    print("popup-eval: %.1f s" % seconds)
    tool("popup-export", weights, "--data", "png:" + data, "-o", onnx_path)
    ref = safetensors_read(logits_path)["logits"]
    # The test images in popup's order: classes in byte order of their names, files likewise.
    images = []
    for c in sorted(os.listdir(os.path.join(data, "test"))):
        folder = os.path.join(data, "test", c)
        for name in sorted(os.listdir(folder)):
            from PIL import Image
            images.append(np.asarray(Image.open(os.path.join(folder, name)).convert("RGB")))
    x = (np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255).copy()
    scale = float(np.abs(ref).max())
    print("%s on %s: popup's largest |logit| %.4g; sizes: weights %d B, onnx %d B"
          % (args.arch, shape, scale, os.path.getsize(weights), os.path.getsize(onnx_path)))
    worst = 0.0
    import onnx
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    print("onnx.checker (onnx %s): accepted" % onnx.__version__)
    import cv2
    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(x)
    out = net.forward()
    diff = float(np.abs(out - ref).max()) / scale
    worst = max(worst, diff)
    print("OpenCV %s: max |diff| / max |logit| = %.3g" % (cv2.__version__, diff))
    try:
        import onnxruntime
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        out = session.run(["logits"], {"input": x})[0]
        diff = float(np.abs(out - ref).max()) / scale
        worst = max(worst, diff)
        print("onnxruntime %s: max |diff| / max |logit| = %.3g" % (onnxruntime.__version__, diff))
    except ImportError:
        print("onnxruntime: not importable here (pip install onnxruntime in a venv)")
    if not args.keep:
        import shutil
        shutil.rmtree(work)
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
