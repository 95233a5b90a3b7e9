#!/usr/bin/python3
# Developer-only cross-check (never run by `make check`): popup's forward pass of the ImageNet
# ResNets (7x7 stride-2 stem, 3x3 stride-2 pad-1 max-pool, bottleneck blocks) against
# torchvision's models. For each architecture it writes a png: folder of random RGB images
# (two classes) and a recipe (signed-constant weights scaled for k 0.3), trains an edge-popup
# mask on it with popup-train (k 0.3, --epochs short epochs: a mask that moved from its initial
# scores and BatchNorm running statistics that are no longer 0 and 1; after few steps they are
# still far from the activations' own and the logits are large), writes popup-eval --logits of
# the test images, then runs torchvision's model, with popup's weights times the mask and the
# running statistics loaded by tensor name (pytorch-eval-resnet.py's loader: fc without bias,
# BatchNorm gamma 1 and beta 0 as popup's non-affine BatchNorm), in eval mode on the same
# normalised images, and prints the largest absolute difference of the logits. Needs Debian's
# python3-torch and python3-torchvision:
#     /usr/bin/python3 scripts/pytorch-forward-resnet.py [--arch resnet50,...] [--size 224]
# Exit status: 0 when every difference is at most --tolerance times the largest |logit|.
"""Compare popup-eval's logits of the ImageNet ResNets with torchvision's."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.dont_write_bytecode = True  # no __pycache__ for the modules imported below
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cli"))
from independent_reader import read as read_safetensors  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "pytorch_eval_resnet", os.path.join(ROOT, "scripts", "pytorch-eval-resnet.py"))
eval_resnet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eval_resnet)

ARCHS = ("resnet50", "resnet101", "wide-resnet50", "wide-resnet101")


def write_images(root, size, train, test, seed):
    """root/{train,test}/{a,b}/NNN.png: random RGB images, smooth enough to give the
    convolutions structure (a random low-resolution image scaled up, plus noise)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for label in ("a", "b"):
            folder = os.path.join(root, split, label)
            os.makedirs(folder)
            for k in range(count):
                low = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                image = np.asarray(Image.fromarray(low).resize((size, size), Image.BILINEAR),
                                   dtype=np.int16)
                image = np.clip(image + rng.integers(-20, 21, image.shape), 0, 255)
                Image.fromarray(image.astype(np.uint8)).save(
                    os.path.join(folder, "%03d.png" % k))


def folder_images(root, split):
    """The split's images as uint8 [n, 3, h, w], in popup's order (sorted class folders,
    sorted file names), and their labels."""
    pixels, labels = [], []
    classes = sorted(os.listdir(os.path.join(root, split)))
    for label, name in enumerate(classes):
        folder = os.path.join(root, split, name)
        for file in sorted(os.listdir(folder)):
            image = np.asarray(Image.open(os.path.join(folder, file)).convert("RGB"))
            pixels.append(image.transpose(2, 0, 1))
            labels.append(label)
    return np.stack(pixels), np.array(labels)


def normalised(pixels, train_pixels):
    """popup's png: normalisation (lib/data/normalise.cpp): per channel, the mean and the
    population standard deviation of the training pixels; (x / 255 - mean) / sd in double,
    then rounded to float."""
    out = np.empty(pixels.shape, dtype=np.float32)
    for c in range(pixels.shape[1]):
        values = train_pixels[:, c].astype(np.float64)
        mean = values.mean() / 255.0
        sd = values.std() / 255.0
        table = ((np.arange(256) / 255.0 - mean) / sd).astype(np.float32)
        out[:, c] = table[pixels[:, c]]
    return out


def logits_read(path):
    """The tensors of popup-eval --logits (safetensors: F32 logits, I32 labels) by name; read
    here since independent_reader also demands popup.crc32, which a logits file does not have."""
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    types = {"F32": np.float32, "I32": np.int32}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + size + begin:8 + size + end],
                                  dtype=types[t["dtype"]]).reshape(t["shape"])
    return out


def run(args, arch, work):
    data = os.path.join(work, "images")
    write_images(data, args.size, args.train, args.test, seed=len(arch))
    recipe = os.path.join(work, arch + ".recipe")
    mask = os.path.join(work, arch + ".mask")
    logits_path = os.path.join(work, arch + ".logits")
    subprocess.run([os.path.join(args.bin, "popup-init"), "--arch", arch, "--input",
                    "3x%dx%d" % (args.size, args.size), "--classes", "2", "--scale", "--k", "0.3",
                    "--recipe", "-o", recipe], check=True)
    subprocess.run([os.path.join(args.bin, "popup-train"), recipe, "--data", "png:" + data,
                    "--k", "0.3", "--epochs", str(args.epochs), "--batch-size", str(args.batch), "--seed",
                    "3", "-o", mask], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(args.bin, "popup-eval"), mask, "--logits", logits_path],
                   check=True, stdout=subprocess.DEVNULL)
    found = logits_read(logits_path)
    popup_logits, popup_labels = found["logits"], found["labels"]

    meta, tensors = read_safetensors(mask)
    model = eval_resnet.build(meta)
    state = eval_resnet.state_dict_of(mask, meta, tensors, args.bin)
    eval_resnet.load(model, state, mask)
    moved = max(float(np.abs(a - (1.0 if name.endswith("running_var") else 0.0)).max())
                for name, _, a in tensors if "running_" in name)
    model.eval()
    train_pixels, _ = folder_images(data, "train")
    test_pixels, labels = folder_images(data, "test")
    if not np.array_equal(labels, popup_labels):
        sys.exit("%s: popup-eval's labels are not in the order of the folders" % arch)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(normalised(test_pixels, train_pixels))).numpy()
    diff = float(np.abs(torch_logits - popup_logits).max())
    scale = float(np.abs(torch_logits).max())
    each = float((np.abs(torch_logits - popup_logits) / np.abs(torch_logits)).max())
    print("%s: %d test images 3x%dx%d, k 0.3: max |popup - torch| %.3g, max |logit| %.3g "
          "(relative %.2g; largest of each logit's own relative difference %.2g); running "
          "statistics moved by up to %.3g from 0/1"
          % (arch, len(labels), args.size, args.size, diff, scale, diff / scale, each, moved))
    return diff <= args.tolerance * scale


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default=",".join(ARCHS), help="comma-separated architectures")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--train", type=int, default=4, help="training images per class")
    parser.add_argument("--test", type=int, default=2, help="test images per class")
    parser.add_argument("--batch", type=int, default=4, help="popup-train --batch-size")
    parser.add_argument("--epochs", type=int, default=1, help="popup-train --epochs")
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest difference, relative to the largest |logit|")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    ok = True
    for arch in args.arch.split(","):
        with tempfile.TemporaryDirectory() as work:
            ok = run(args, arch, work) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
