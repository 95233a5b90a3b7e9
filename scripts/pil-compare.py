#!/usr/bin/python3
"""Developer check (never part of make check): popup's image decoding and transforms against
PIL and torchvision on generated images. Needs Debian's python3-pil, python3-numpy,
python3-torch and python3-torchvision, and `make image-dump` (BUILD/tests/image-dump).

Writes N images of varied size, content and JPEG settings (baseline, progressive, grey, CMYK,
4:2:0 / 4:2:2 / 4:4:4, quality 50-100; some PNG) into a temporary folder and prints, per kind:
  decode  popup's RGB against Image.open(f).convert("RGB")
  eval    image_prepare_eval against Resize(R) + CenterCrop(S) + ToTensor + Normalize
  crop    image_prepare_crop against F.resized_crop with the same (top, left, h, w) + the rest
  draw    image_crop_draw (image-dump train) against data_random.hpp's documented draw,
          reimplemented here from Philox's definition (mismatches counted)
for each decoding MODE of image-dump: full (torchvision's pixels expected), crop (crop
decoding only: the same), scaled (DCT-scaled decoding: close, not equal; counted only for the
images where it applies). Differences are in
0-255 levels (normalised differences times 255 * std) and as normalised values.

  scripts/pil-compare.py [--dump build/tests/image-dump] [--count 300] [--seed 1] [--size 224]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageFile
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
MODES = ["full", "crop", "scaled"]
ImageFile.MAXBLOCK = 1 << 26  # PIL's progressive encoder needs its output in one block


def photo_like(rng, h, w):
    """Smooth gradients and waves plus noise and a few hard edges."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy = rng.uniform(5, 80, 2)
        img[..., c] = 128 + 80 * np.sin(x / fx + rng.uniform(0, 6)) * np.cos(y / fy + c)
        img[..., c] += rng.uniform(-40, 40) * (x / w) + rng.uniform(-40, 40) * (y / h)
    for _ in range(rng.integers(0, 6)):  # rectangles: edges
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(1, h // 2 + 2), x0:x0 + rng.integers(1, w // 2 + 2)] = \
            rng.uniform(0, 255, 3)
    img += rng.normal(0, rng.uniform(0, 20), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(folder, count, rng):
    """Returns [(path, kind)]."""
    out = []
    for i in range(count):
        if i % 10 == 0:  # some large images: scaled decoding at 1/2 .. 1/8
            h, w = int(rng.integers(600, 2400)), int(rng.integers(600, 2400))
        else:
            h, w = int(rng.integers(60, 900)), int(rng.integers(60, 900))
        img = Image.fromarray(photo_like(rng, h, w))
        r = rng.uniform()
        quality = int(rng.integers(50, 101))
        sub = int(rng.integers(0, 3))  # PIL: 0 4:4:4, 1 4:2:2, 2 4:2:0
        if r < 0.45:
            kind, ext, kw = "baseline", "jpg", dict(quality=quality, subsampling=sub)
        elif r < 0.65:
            kind, ext, kw = "progressive", "jpg", dict(quality=quality, subsampling=sub,
                                                       progressive=True)
        elif r < 0.75:
            kind, ext, kw = "grey", "jpg", dict(quality=quality)
            img = img.convert("L")
        elif r < 0.85:
            kind, ext, kw = "cmyk", "jpg", dict(quality=quality)
            img = img.convert("CMYK")
        else:
            kind, ext, kw = "png", "png", {}
        path = os.path.join(folder, f"{i:04d}.{ext}")
        img.save(path, **kw)
        out.append((path, kind))
    return out


class Stats:
    """Per check: images, max difference in levels and normalised, share of values differing
    by more than half a level, mean difference in levels."""

    def __init__(self):
        self.rows = {}

    def add(self, key, levels, norm=None):
        r = self.rows.setdefault(key, [0, 0.0, 0.0, 0, 0, 0.0])
        r[0] += 1
        r[1] = max(r[1], float(levels.max()))
        r[2] = max(r[2], float(norm.max()) if norm is not None else float("nan"))
        r[3] += int((levels > 0.5).sum())
        r[4] += levels.size
        r[5] += float(levels.sum())

    def print(self):
        print(f"{'check':<28}{'images':>7}{'max (levels)':>14}{'max (norm.)':>13}"
              f"{'differing':>11}{'mean (levels)':>15}")
        for key in sorted(self.rows):
            n, m255, mnorm, bad, total, s = self.rows[key]
            print(f"{key:<28}{n:>7}{m255:>14.3f}{mnorm:>13.5f}{100.0 * bad / total:>10.3f}%"
                  f"{s / total:>15.4f}")


def philox(counter, key):
    """Philox4x32-10 from its definition (Salmon et al.)."""
    c, k, m = list(counter), list(key), 0xFFFFFFFF
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & m, p1 & m, ((p0 >> 32) ^ c[3] ^ k[1]) & m, p0 & m]
        k = [(k[0] + 0x9E3779B9) & m, (k[1] + 0xBB67AE85) & m]
    return c


def crop_draw(seed, epoch, example, height, width):
    """data_random.hpp's image_crop_draw as its comment describes it."""
    def block(index):  # RandomStream::data = 2
        return philox([index & 0xFFFFFFFF, index >> 32, 0x80000000 + epoch, 2],
                      [seed & 0xFFFFFFFF, seed >> 32])

    def u53(lo, hi):
        return (((hi << 32) | lo) >> 11) * 2.0 ** -53
    lo, hi = np.log(3 / 4), np.log(4 / 3)
    found = None
    for a in range(10):
        x = block(example * 16 + a)
        target = height * width * (0.08 + (1 - 0.08) * u53(x[0], x[1]))
        ratio = float(np.exp(lo + (hi - lo) * u53(x[2], x[3])))
        w, h = round(np.sqrt(target * ratio)), round(np.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            found = (h, w)
            break
    x = block(example * 16 + 10)
    if found:
        h, w = found
        top, left = (x[0] * (height - h + 1)) >> 32, (x[1] * (width - w + 1)) >> 32
    else:
        h, w = height, width
        if width / height < 3 / 4:
            h = round(width / (3 / 4))
        elif width / height > 4 / 3:
            w = round(height * (4 / 3))
        top, left = (height - h) // 2, (width - w) // 2
    return [top, left, h, w, x[2] >> 31]


def run(dump, *args):
    return subprocess.run([dump, *map(str, args)], check=True, capture_output=True,
                          text=True).stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dump", default="build/tests/image-dump")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    if not os.access(a.dump, os.X_OK):
        sys.exit(f"pil-compare: {a.dump}: not found; run make image-dump (or give --dump)")
    size = a.size
    resize = (size * 256 + 112) // 224
    rng = np.random.default_rng(a.seed)
    normalize = T.Normalize(MEAN, STD)
    to255 = np.array(STD, dtype=np.float64).reshape(3, 1, 1) * 255
    stats = Stats()
    draw_mismatches = 0
    with tempfile.TemporaryDirectory() as folder:
        images = write_images(folder, a.count, rng)
        raw = os.path.join(folder, "out.raw")
        for index, (path, kind) in enumerate(images):
            pil = Image.open(path).convert("RGB")
            ref = np.asarray(pil)
            h, w = map(int, run(a.dump, "decode", path, raw).split())
            ours = np.fromfile(raw, np.uint8).reshape(h, w, 3)
            stats.add(f"decode {kind}", np.abs(ours.astype(np.int32) - ref))

            want = normalize(F.to_tensor(F.center_crop(F.resize(pil, resize), size))).numpy()
            # Scaled decoding applies to JPEGs whose shorter side stays >= resize at 1/2.
            eval_scaled = kind != "png" and min((h + 1) // 2, (w + 1) // 2) >= resize
            for mode in MODES if eval_scaled else MODES[:2]:
                run(a.dump, "eval", path, size, resize, mode, raw)
                got = np.fromfile(raw, np.float32).reshape(3, size, size)
                diff = np.abs(got.astype(np.float64) - want)
                stats.add(f"eval {mode} {kind}", diff * to255, diff)

            example = index * 7919 + 1
            got = list(map(int, run(a.dump, "train", path, size, 42, 3, example, "full",
                                    raw).split()))
            if got != crop_draw(42, 3, example, h, w):
                draw_mismatches += 1
                print(f"draw mismatch: {path} {got} {crop_draw(42, 3, example, h, w)}")

            # A crop as RandomResizedCrop draws them: area 8-100%, ratio 3/4-4/3.
            for _ in range(10):
                area = h * w * rng.uniform(0.08, 1.0)
                ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
                if 0 < cw <= w and 0 < ch <= h:
                    break
            else:
                ch, cw = h, w
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            want = normalize(F.to_tensor(F.resized_crop(pil, top, left, ch, cw,
                                                        [size, size]))).numpy()
            crop_scaled = kind != "png" and min(ch, cw) >= 2 * size
            for mode in MODES if crop_scaled else MODES[:2]:
                run(a.dump, "crop", path, size, top, left, ch, cw, mode, raw)
                got = np.fromfile(raw, np.float32).reshape(3, size, size)
                diff = np.abs(got.astype(np.float64) - want)
                stats.add(f"crop {mode} {kind}", diff * to255, diff)
    print(f"pil-compare: {a.count} images, seed {a.seed}, size {size}, resize {resize}; "
          f"torch {torch.__version__}, PIL {Image.__version__}")
    stats.print()
    print(f"draw: {draw_mismatches} mismatches in {len(images)} draws")


if __name__ == "__main__":
    main()
