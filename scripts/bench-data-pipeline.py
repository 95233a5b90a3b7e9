#!/usr/bin/env python3
# BENCHMARK REFERENCE ONLY (never part of make check): the Python side of
# scripts/bench-data-pipeline.sh.
#   make-folder DIR [--images N] [--classes C] [--seed S]
#       writes an ImageNet-like class-folder tree, DIR/train/<class>/*.JPEG and DIR/val/<class>/
#       (a tenth as many): photo-like pictures (smooth colour fields, shapes, grain) in ImageNet's
#       common sizes (500x375, 375x500, 500x333, 500x500, 640x480, ...), baseline JPEG, quality
#       90, 4:2:0 chroma, written with PIL.
#   torchvision DIR [--workers W] [--batch B] [--images N]
#       images/s of torchvision's ImageFolder(DIR/train) + DataLoader(shuffle, num_workers=W)
#       with RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize(ImageNet),
#       timed from the iterator's creation to the last batch of the epoch (or N images), as
#       popup-bench --loader times popup's loader. Prints "torchvision images/s X".
"""ImageNet-like JPEG folders, and torchvision's data pipeline throughput on them."""

import argparse
import os
import random
import sys
import time

SIZES = [(500, 375), (375, 500), (500, 333), (333, 500), (500, 500), (640, 480), (480, 640),
         (500, 400), (400, 300), (800, 600)]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo(rng, w, h):
    """A picture with what JPEG finds in photographs: smooth colour regions and edges, some
    texture, sensor-like grain (so the files are about ImageNet's 110 KB at 500x375, q 90)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter
    g = np.random.default_rng(rng.getrandbits(32))
    # a smooth colour field: coarse random colours, upsampled bicubically
    coarse = g.integers(0, 256, (g.integers(3, 7), g.integers(3, 7), 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(g.integers(4, 12))):  # objects with edges
        x0, y0 = int(g.integers(0, w)), int(g.integers(0, h))
        x1, y1 = x0 + int(g.integers(20, w // 2)), y0 + int(g.integers(20, h // 2))
        colour = tuple(int(c) for c in g.integers(0, 256, 3))
        if g.integers(0, 2):
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    a = np.asarray(img, dtype=np.int16)
    texture = g.normal(0, 12, (h // 4 + 1, w // 4 + 1, 1)).repeat(4, 0).repeat(4, 1)[:h, :w]
    grain = g.normal(0, 8, (h, w, 3))
    a = np.clip(a + texture + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(a, "RGB")


def make_folder(args):
    rng = random.Random(args.seed)
    total = 0
    for split, count in (("train", args.images), ("val", max(args.images // 10, args.classes))):
        for i in range(count):
            cls = "n%08d" % (1440764 + i % args.classes)
            folder = os.path.join(args.dir, split, cls)
            os.makedirs(folder, exist_ok=True)
            w, h = rng.choice(SIZES)
            path = os.path.join(folder, "%s_%d.JPEG" % (cls, i))
            photo(rng, w, h).save(path, "JPEG", quality=90, subsampling=2)  # 2: 4:2:0
            total += os.path.getsize(path)
    n = args.images + max(args.images // 10, args.classes)
    print("bench-data-pipeline: %d JPEGs in %s, %.0f KB on average"
          % (n, args.dir, total / n / 1024))
    return 0


def torchvision_rate(args):
    import torch
    import torchvision
    from torchvision import transforms
    torch.set_num_threads(1)  # the main process only waits; the workers decode
    transform = transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    data = torchvision.datasets.ImageFolder(os.path.join(args.dir, "train"), transform)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True,
                                         num_workers=args.workers)
    images, checksum = 0, 0.0
    start = time.perf_counter()
    for batch, _ in loader:
        images += batch.shape[0]
        checksum += float(batch[0, 0, 0, 0])
        if args.images and images >= args.images:
            break
    seconds = time.perf_counter() - start
    print("torchvision %s (torch %s): %d images, %d workers, batch %d: %.2f s, "
          "%.1f images/s" % (torchvision.__version__, torch.__version__, images, args.workers,
                             args.batch, seconds, images / seconds))
    print("torchvision images/s %.2f" % (images / seconds))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-folder", help="write an ImageNet-like JPEG folder tree")
    make.add_argument("dir")
    make.add_argument("--images", type=int, default=1500, help="training images (default 1500)")
    make.add_argument("--classes", type=int, default=10, help="class folders (default 10)")
    make.add_argument("--seed", type=int, default=0)
    tv = sub.add_parser("torchvision", help="torchvision's ImageFolder + DataLoader images/s")
    tv.add_argument("dir")
    tv.add_argument("--workers", type=int, default=2)
    tv.add_argument("--batch", type=int, default=64)
    tv.add_argument("--images", type=int, default=0, help="stop after N images (0: one epoch)")
    args = parser.parse_args()
    if args.command == "make-folder":
        if args.images < 1 or args.classes < 1:
            parser.error("--images and --classes must be positive")
        return make_folder(args)
    if args.workers < 0 or args.batch < 1:
        parser.error("--workers must be >= 0 and --batch positive")
    return torchvision_rate(args)


if __name__ == "__main__":
    sys.exit(main())
