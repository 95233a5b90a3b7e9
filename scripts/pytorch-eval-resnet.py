#!/usr/bin/python3
# Developer-only cross-check (never run by `make check`): evaluates a popup ResNet file in
# PyTorch and compares its test accuracy with popup-eval's. The file is either a weights file
# (popup-train --method dense: trained weights, then each BatchNorm's weight, bias and running
# statistics) or an edge-popup, global or supermask mask (weights regenerated with
# popup-init --from, times the mask bits; its BatchNorm state, affine with --learn-bn). The
# network is torchvision's ResNet-18/34 turned into popup's CIFAR-stem variant (3x3 stride-1
# first convolution, no max-pool, no bias in the last linear layer), or its ResNet-50/101 or
# Wide ResNet-50-2/101-2 (first convolution on the data's channels, no bias in fc; the
# Fashion-MNIST images are 28x28, small for them, but they run), loaded by tensor name,
# so the check also shows that popup's files are PyTorch state_dicts. Needs Debian's
# python3-torch and python3-torchvision:
#     /usr/bin/python3 scripts/pytorch-eval-resnet.py FILE [--limit N] [--bin DIR]
# Exit status: 0 when the two top-1 accuracies differ by at most --tolerance points, else 1.
"""Evaluate a popup ResNet weights or mask file in PyTorch, beside popup-eval."""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cli"))
from independent_reader import read as read_safetensors  # noqa: E402  (checks the file too)
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530      # popup's Fashion-MNIST normalisation (lib/data/dataset.cpp)


def state_dict_of(path, meta, tensors, popup_bin):
    """The file's tensors as a PyTorch state_dict (a mask: regenerated weights * bits)."""
    if meta["popup.kind"] == "weights":
        return {name: torch.from_numpy(a.copy()) for name, _, a in tensors}
    method = meta.get("popup.train.method", "edge-popup")
    if method not in ("edge-popup", "global", "supermask"):
        sys.exit("%s: a %s mask uses other weights than w * mask; not handled here" % (path, method))
    with tempfile.TemporaryDirectory() as work:
        weights_path = os.path.join(work, "w.weights")
        subprocess.run([os.path.join(popup_bin, "popup-init"), "--from", path, "-o", weights_path],
                       check=True)
        _, weights = read_safetensors(weights_path)
    shapes = {name: a for name, _, a in weights}
    state = {}
    for name, dtype, a in tensors:
        if dtype == "U8":
            w = shapes[name]
            keep = np.unpackbits(a, bitorder="little")[:w.size].reshape(w.shape)
            state[name] = torch.from_numpy(w * keep.astype(np.float32))
        else:
            state[name] = torch.from_numpy(a.copy())
    return state


# popup's ImageNet-stem ResNets and torchvision's builders of the same networks.
IMAGENET = {"resnet50": "resnet50", "resnet101": "resnet101",
            "wide-resnet50": "wide_resnet50_2", "wide-resnet101": "wide_resnet101_2"}


def build(meta):
    """torchvision's model of the file's architecture, turned into popup's: conv1 on the data's
    channels, no bias in fc; resnet18/34 with the CIFAR stem (3x3 stride-1 conv1, no max-pool)."""
    arch = meta["popup.arch"]
    channels = int(meta["popup.input"].split("x")[0])
    classes = int(meta["popup.classes"])
    if arch in ("resnet18", "resnet34"):
        model = getattr(torchvision.models, arch)(num_classes=classes)
        model.conv1 = torch.nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    elif arch in IMAGENET:
        model = getattr(torchvision.models, IMAGENET[arch])(num_classes=classes)
        model.conv1 = torch.nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    else:
        sys.exit("%s: only resnet18, resnet34 and %s are handled" % (arch, ", ".join(IMAGENET)))
    model.fc = torch.nn.Linear(model.fc.in_features, classes, bias=False)
    return model


def load(model, state, path):
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        sys.exit("%s: tensors PyTorch's model does not have: %s" % (path, result.unexpected_keys[:5]))
    affine = any(k.endswith(".weight") and ("bn" in k or "downsample.1" in k) for k in state)
    for key in result.missing_keys:
        # non-affine BatchNorm: gamma 1, beta 0, PyTorch's initial values, stand for it
        bn_param = key.endswith((".weight", ".bias")) and ("bn" in key or "downsample.1" in key)
        if key.endswith("num_batches_tracked") or (bn_param and not affine):
            continue
        sys.exit("%s: the file lacks %s" % (path, key))


def fashion_mnist_test(limit):
    """The first `limit` (0: all) Fashion-MNIST test images, uint8 [n, 1, 28, 28], and labels."""
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        pixels = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    if limit > 0:
        pixels, labels = pixels[:limit], labels[:limit]
    return pixels, labels


def test_images(limit):
    pixels, labels = fashion_mnist_test(limit)
    table = ((np.arange(256) / 255.0 - MEAN) / STD).astype(np.float32)
    return torch.from_numpy(table[pixels]), torch.from_numpy(labels.astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--tolerance", type=float, default=0.05, help="in points of top-1")
    args = parser.parse_args()
    meta, tensors = read_safetensors(args.file)
    if meta.get("popup.train.data", "fashion-mnist") != "fashion-mnist":
        sys.exit("%s: trained on %s; this check reads Fashion-MNIST" % (args.file, meta["popup.train.data"]))
    model = build(meta)
    load(model, state_dict_of(args.file, meta, tensors, args.bin), args.file)
    model.eval()
    images, labels = test_images(args.limit)
    torch.set_num_threads(os.cpu_count() or 1)
    correct = 0
    with torch.no_grad():
        for begin in range(0, len(labels), 500):
            logits = model(images[begin:begin + 500])
            correct += int((logits.argmax(1) == labels[begin:begin + 500]).sum())
    torch_top1 = 100.0 * correct / len(labels)
    out = subprocess.run([os.path.join(args.bin, "popup-eval"), args.file, "--json",
                          "--limit", str(args.limit)], check=True, capture_output=True, text=True)
    popup_top1 = 100.0 * json.loads(out.stdout)["top1"]
    diff = abs(torch_top1 - popup_top1)
    print("%s: %d test images: PyTorch top-1 %.2f%%, popup-eval %.2f%%, difference %.2f points"
          % (args.file, len(labels), torch_top1, popup_top1, diff))
    return 0 if diff <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
