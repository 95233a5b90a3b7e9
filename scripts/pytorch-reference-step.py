#!/usr/bin/python3
# Developer-only reference (never run by `make check`): checks that popup-train's edge-popup step
# is the official hidden-networks step. For each architecture it takes popup's weights
# (popup-init), draws popup's initial scores itself (formats/generation.md, scores stream),
# runs ONE SGD step in PyTorch as github.com/allenai/hidden-networks does (GetSubnet: per-layer
# top-k of |scores| by a full sort, straight-through backward; w_eff = weight * subnet;
# CrossEntropyLoss; SGD with momentum 0.9 and weight decay 1e-4 on the scores only) on the first
# 128 Fashion-MNIST training images, and compares masks, scores and loss with popup-train's
# after the same step (popup sees the 128 images in its shuffled order, which changes the mean
# gradient only by float rounding). Needs Debian's python3-torch:
#     /usr/bin/python3 scripts/pytorch-reference-step.py [--arch fc conv4]
# Exit status: 0 when every check passes, 1 when one fails (a mask bit, an initial score, the loss).
"""Compare popup-train's first SGD step with a PyTorch edge-popup reference."""

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import reference_generator as ref  # noqa: E402  (its scalar Philox checks the vectorised one)

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530      # popup's Fashion-MNIST normalisation (lib/data/dataset.cpp)
BATCH = 128
K = 0.5                         # popup-train's default --k
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4
WEIGHTS_SEED, TRAIN_SEED = 1, 0
STREAM_SCORES = 1
LOSS_TOLERANCE = 1e-5           # relative; popup's --log prints 6 significant digits

# ---- popup's files --------------------------------------------------------------------------

def read_safetensors(path):
    """(metadata, [(name, array)] in data order) of a popup file; F32 and U8 tensors only."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    dtypes = {"F32": np.float32, "U8": np.uint8}
    tensors = []
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = t["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=dtypes[t["dtype"]])
        tensors.append((name, array if t["dtype"] == "U8" else array.reshape(t["shape"])))
    return meta, tensors


def read_mask(path, weights):
    """{name: bool array shaped like the weight} from a mask file."""
    _, tensors = read_safetensors(path)
    shapes = dict(weights)
    return {name: np.unpackbits(bits, bitorder="little")[:shapes[name].size]
            .reshape(shapes[name].shape).astype(bool)
            for name, bits in tensors if name in shapes}


def run(*command):
    subprocess.run(command, check=True)

# ---- popup's initial scores (lib/train/trainer.cpp scores_init) ------------------------------------

MASK32 = np.uint64(0xFFFFFFFF)


def philox_numpy(counter, key):
    """ref.philox4x32_10 on arrays: 32-bit words held in uint64, products exact in 64 bits."""
    x0, x1, x2, x3 = (np.asarray(w, dtype=np.uint64) for w in counter)
    k0, k1 = (np.uint64(w) for w in key)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * x0
        p1 = np.uint64(0xCD9E8D57) * x2
        x0, x1, x2, x3 = ((p1 >> np.uint64(32)) ^ x1 ^ k0, p1 & MASK32,
                          (p0 >> np.uint64(32)) ^ x3 ^ k1, p0 & MASK32)
        k0 = (k0 + np.uint64(0x9E3779B9)) & MASK32
        k1 = (k1 + np.uint64(0xBB67AE85)) & MASK32
    return x0, x1, x2, x3


def philox_numpy_check():
    """The vectorised Philox must give ref's known answers and ref's philox_element blocks."""
    for counter, key, expected in ref.KAT:
        got = [int(w) for w in philox_numpy([[c] for c in counter], key)]
        assert got == expected, "numpy Philox fails a known-answer test"
    index = np.array([0, 1, 12345, 2**32 + 7], dtype=np.uint64)
    blocks = philox_numpy((index & MASK32, index >> np.uint64(32), [3] * 4, [STREAM_SCORES] * 4),
                          (0x89ABCDEF, 0x01234567))
    for j, i in enumerate(index):
        assert [int(w[j]) for w in blocks] == ref.philox_element(
            0x0123456789ABCDEF, STREAM_SCORES, 3, int(i)), "numpy Philox differs from ref"


def scores_init(seed, tensor, shape):
    """float32(bound * (2u - 1)), bound = 1/sqrt(fan_in), u = random_uniform53 of the block
    philox_element(seed, scores, tensor, i) of element i (conv and linear: fan_in = numel/out)."""
    n = int(np.prod(shape))
    fan_in = n // shape[0]
    index = np.arange(n, dtype=np.uint64)
    x0, x1, _, _ = philox_numpy((index & MASK32, index >> np.uint64(32), np.full(n, tensor),
                                 np.full(n, STREAM_SCORES)),
                                (seed & 0xFFFFFFFF, seed >> 32))
    a = ((x1 << np.uint64(32)) | x0) >> np.uint64(11)            # ref.block_ab's a
    u = a.astype(np.float64) * 2.0 ** -53                        # exact: a < 2^53
    bound = 1.0 / np.sqrt(np.float64(fan_in))
    return (bound * (2.0 * u - 1.0)).astype(np.float32).reshape(shape)

# ---- the batch --------------------------------------------------------------------------------

def load_batch(n):
    """The first n training images, normalised as popup does (float of the double), and labels."""
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        pixels = np.frombuffer(f.read(16 + n * 784)[16:], dtype=np.uint8)
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(8 + n)[8:], dtype=np.uint8)
    table = ((np.arange(256) / 255.0 - MEAN) / STD).astype(np.float32)
    return (torch.from_numpy(table[pixels].reshape(n, 1, 28, 28)),
            torch.from_numpy(labels.astype(np.int64)))

# ---- the reference: hidden-networks' GetSubnet, SubnetConv, SubnetLinear ---------------------

class GetSubnet(torch.autograd.Function):
    """hidden-networks utils/conv_type.py: keep the top k of the scores by a full sort."""

    @staticmethod
    def forward(ctx, scores, k):
        out = scores.clone()
        _, idx = scores.flatten().sort()
        j = int((1 - k) * scores.numel())
        flat_out = out.flatten()
        flat_out[idx[:j]] = 0
        flat_out[idx[j:]] = 1
        return out

    @staticmethod
    def backward(ctx, g):
        return g, None


class Subnet(torch.nn.Module):
    """SubnetConv / SubnetLinear: frozen weight, trained scores, w = weight * GetSubnet(|s|).
    (hidden-networks writes its linear layers as 1x1 convolutions, the same arithmetic.)"""

    def __init__(self, weight, scores, padding=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.from_numpy(weight.copy()), requires_grad=False)
        self.scores = torch.nn.Parameter(torch.from_numpy(scores.copy()))
        self.padding = padding

    def subnet(self):
        return GetSubnet.apply(self.scores.abs(), K)

    def forward(self, x):
        w = self.weight * self.subnet()
        if self.padding is None:
            return F.linear(x, w)
        return F.conv2d(x, w, padding=self.padding)


# Layers in network order: ("conv"|"linear", tensor name) or "relu", "pool", "flatten".
ARCHS = {
    "fc": ["flatten", ("linear", "fc1.weight"), "relu", ("linear", "fc2.weight"), "relu",
           ("linear", "fc3.weight")],
    "conv4": [("conv", "conv1.weight"), "relu", ("conv", "conv2.weight"), "relu", "pool",
              ("conv", "conv3.weight"), "relu", ("conv", "conv4.weight"), "relu", "pool",
              "flatten", ("linear", "fc1.weight"), "relu", ("linear", "fc2.weight"), "relu",
              ("linear", "fc3.weight")],
}


def build(arch, weights, scores):
    """(the model, {tensor name: its Subnet layer})."""
    modules, layers = [], {}
    for layer in ARCHS[arch]:
        if layer == "relu":
            modules.append(torch.nn.ReLU())
        elif layer == "pool":
            modules.append(torch.nn.MaxPool2d(2))
        elif layer == "flatten":
            modules.append(torch.nn.Flatten())
        else:
            kind, name = layer
            layers[name] = Subnet(weights[name], scores[name], 1 if kind == "conv" else None)
            modules.append(layers[name])
    return torch.nn.Sequential(*modules), layers


def reference_step(arch, weights, scores, images, labels):
    """(initial masks, loss, scores after the step, masks after the step) of PyTorch."""
    model, layers = build(arch, weights, scores)
    masks0 = {name: m.subnet().detach().numpy().astype(bool) for name, m in layers.items()}
    optimizer = torch.optim.SGD([m.scores for m in layers.values()], lr=LR, momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY, nesterov=False)
    loss = torch.nn.CrossEntropyLoss()(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scores1 = {name: m.scores.detach().numpy().copy() for name, m in layers.items()}
    masks1 = {name: m.subnet().detach().numpy().astype(bool) for name, m in layers.items()}
    return masks0, loss.item(), scores1, masks1

# ---- comparison ---------------------------------------------------------------------------

def mismatch_report(name, popup_mask, ref_mask, popup_scores, ref_scores, shown=5):
    """Lines explaining the differing mask bits: each one's |score| against the reference
    threshold (midway between the largest dropped and the smallest kept |score|). A bit whose
    |score| lies within 4 float32 ulps of the threshold is a near-tie that float rounding can
    flip; any other is a bug. Counts both, and shows the first `shown` of each."""
    magnitude = np.sort(np.abs(ref_scores).ravel())
    j = int((1 - K) * magnitude.size)
    threshold = (float(magnitude[j - 1]) + float(magnitude[j])) / 2  # k = 0.5: 0 < j < size
    differ = np.flatnonzero(popup_mask.ravel() != ref_mask.ravel())
    margin = np.abs(np.abs(ref_scores.ravel()[differ].astype(np.float64)) - threshold)
    near = margin <= 4 * float(np.spacing(np.float32(threshold)))
    lines = ["  %s: %d bits differ, %d near-ties, %d BUG (threshold %.9g)"
             % (name, differ.size, np.count_nonzero(near), np.count_nonzero(~near), threshold)]
    for verdict, chosen in (("near-tie", near), ("BUG", ~near)):
        for i, m in zip(differ[chosen][:shown], margin[chosen][:shown]):
            lines.append("    element %d: popup keeps %d, pytorch %d; |s| popup %.9g, pytorch "
                         "%.9g; margin %.3g (%s)"
                         % (i, popup_mask.flat[i], ref_mask.flat[i], abs(popup_scores.flat[i]),
                            abs(ref_scores.flat[i]), m, verdict))
    return lines


def compare(arch, popup_bin, work, images, labels):
    """Runs popup and the reference for one architecture; returns (table rows, notes, ok)."""
    w_path = os.path.join(work, arch + ".weights")
    run(os.path.join(popup_bin, "popup-init"), "--arch", arch, "--init", "signed-constant",
        "--seed", str(WEIGHTS_SEED), "-o", w_path)
    _, weight_list = read_safetensors(w_path)
    weights = dict(weight_list)
    expected = [l[1] for l in ARCHS[arch] if isinstance(l, tuple)]
    assert [n for n, _ in weight_list] == expected, "%s: tensors %s" % (arch, weight_list)

    def popup_train(tag, lr):
        paths = {x: os.path.join(work, "%s-%s.%s" % (arch, tag, x))
                 for x in ("mask", "scores", "log")}
        if os.path.exists(paths["log"]):  # popup-train appends to its log
            os.remove(paths["log"])
        run(os.path.join(popup_bin, "popup-train"), w_path, "--epochs", "1", "--limit-train",
            str(BATCH), "--limit-test", "256", "--batch-size", str(BATCH), "--lr", repr(lr),
            "--seed", str(TRAIN_SEED), "--quiet", "--log", paths["log"],
            "--scores-out", paths["scores"], "-o", paths["mask"])
        scores = dict(read_safetensors(paths["scores"])[1])
        with open(paths["log"]) as f:
            loss = json.loads(f.readline())["train_loss"]
        return read_mask(paths["mask"], weight_list), scores, loss

    # An lr of 1e-30 moves no score by half an ulp: popup writes its initial scores and mask.
    popup_masks0, popup_scores0, _ = popup_train("init", 1e-30)
    popup_masks1, popup_scores1, popup_loss = popup_train("step", LR)

    scores0 = {name: scores_init(TRAIN_SEED, t, weights[name].shape)
               for t, name in enumerate(expected)}
    ref_masks0, ref_loss, ref_scores1, ref_masks1 = reference_step(arch, weights, scores0,
                                                                   images, labels)
    rows, notes, ok = [], [], True
    for name in expected:
        init_bits = int(np.count_nonzero(popup_scores0[name].view(np.uint32)
                                         != scores0[name].view(np.uint32)))
        mask0 = int(np.count_nonzero(popup_masks0[name] != ref_masks0[name]))
        mask1 = int(np.count_nonzero(popup_masks1[name] != ref_masks1[name]))
        diff = float(np.max(np.abs(popup_scores1[name].astype(np.float64) - ref_scores1[name])))
        relative = diff / float(np.max(np.abs(ref_scores1[name])))
        moved = int(np.count_nonzero(popup_masks1[name] != popup_masks0[name]))
        rows.append((arch, name, weights[name].size, int(popup_masks1[name].sum()), moved,
                     init_bits, mask0, mask1, diff, relative))
        ok = ok and init_bits == 0 and mask0 == 0 and mask1 == 0
        if mask0:
            notes += mismatch_report(name + " (initial)", popup_masks0[name], ref_masks0[name],
                                     popup_scores0[name], scores0[name])
        if mask1:
            notes += mismatch_report(name, popup_masks1[name], ref_masks1[name],
                                     popup_scores1[name], ref_scores1[name])
    loss_relative = abs(popup_loss - ref_loss) / abs(ref_loss)
    notes.insert(0, "%s loss: popup %.6g, pytorch %.9g, relative difference %.2g%s"
                 % (arch, popup_loss, ref_loss, loss_relative,
                    "" if loss_relative <= LOSS_TOLERANCE else " (FAIL)"))
    return rows, notes, ok and loss_relative <= LOSS_TOLERANCE


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of popup-init and popup-train (default: build/bin)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep popup's files in DIR (default: a temporary folder)")
    args = parser.parse_args()

    philox_numpy_check()
    images, labels = load_batch(BATCH)
    rows, notes, ok = [], [], True
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or temporary
        os.makedirs(work, exist_ok=True)
        for arch in args.arch:
            r, n, passed = compare(arch, args.bin, work, images, labels)
            rows, notes, ok = rows + r, notes + n, ok and passed

    header = "%-6s %-13s %8s %8s %7s %10s %9s %9s %10s %9s"
    print(header % ("arch", "tensor", "weights", "kept", "step", "init-score", "init-mask",
                    "step-mask", "max|ds|", "max|ds|/"))
    print(header % ("", "", "", "", "flips", "bits diff", "bits diff", "bits diff", "", "max|s|"))
    for row in rows:
        print("%-6s %-13s %8d %8d %7d %10d %9d %9d %10.3g %9.3g" % row)
    for line in notes:
        print(line)
    print("all masks match" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
