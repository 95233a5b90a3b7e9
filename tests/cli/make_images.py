#!/usr/bin/env python3
"""Writes a class-folder image set for tests/cli/images.test: DIR/train/<class>/** and
DIR/val/<class>/**, JPEG (RGB, grey, CMYK; baseline and progressive; qualities 30..95) and
PNG files of sizes 30..500 px, from a seed; with --bad, one corrupt and one truncated JPEG
in train/. Usage: make_images.py DIR N_TRAIN N_VAL [--classes C] [--seed S] [--bad]"""
import argparse
import os
import random

from PIL import Image, ImageDraw


def picture(rng, label, classes):
    w, h = rng.randint(30, 500), rng.randint(30, 500)
    # each class its own hue, so that a few steps can learn something
    hue = int(255 * label / classes)
    base = (hue, 255 - hue, (hue * 7) % 256)
    img = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 6)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(1, w), y0 + rng.randint(1, h)
        draw.rectangle([x0, y0, x1, y1], fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def write(rng, img, path_stem):
    kind = rng.random()
    if kind < 0.15:
        img.save(path_stem + ".png")
        return
    mode = rng.random()
    if mode < 0.15:
        img = img.convert("L")
    elif mode < 0.25:
        img = img.convert("CMYK")
    ext = rng.choice([".jpg", ".JPEG", ".jpeg"])
    img.save(path_stem + ext, quality=rng.randint(30, 95), progressive=rng.random() < 0.3)


def split(root, n, classes, rng):
    for i in range(n):
        label = i % classes
        folder = os.path.join(root, "c%d" % label)
        if i % 7 == 3:  # some files in a nested folder
            folder = os.path.join(folder, "sub")
        os.makedirs(folder, exist_ok=True)
        write(rng, picture(rng, label, classes), os.path.join(folder, "img%05d" % i))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("n_train", type=int)
    p.add_argument("n_val", type=int)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bad", action="store_true")
    a = p.parse_args()
    rng = random.Random(a.seed)
    split(os.path.join(a.dir, "train"), a.n_train, a.classes, rng)
    split(os.path.join(a.dir, "val"), a.n_val, a.classes, rng)
    with open(os.path.join(a.dir, "train", "c0", "notes.txt"), "w") as f:
        f.write("not an image\n")
    if a.bad:
        with open(os.path.join(a.dir, "train", "c1", "corrupt.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0" + bytes(rng.randrange(256) for _ in range(500)))
        good = os.path.join(a.dir, "train", "c2", "whole.jpg")
        picture(rng, 2, a.classes).save(good, quality=90)
        data = open(good, "rb").read()
        os.remove(good)
        with open(os.path.join(a.dir, "train", "c2", "truncated.jpg"), "wb") as f:
            f.write(data[: len(data) // 3])


if __name__ == "__main__":
    main()
