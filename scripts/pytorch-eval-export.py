#!/usr/bin/python3
# Developer-only cross-check (never run by `make check`) of `popup-export --format torch`
# (formats/torch.md): loads the exported state_dict with strict=True into the module it names,
# torchvision's ResNet adapted as popup builds it (conv1 on the data's channels; resnet18/34:
# 3x3 stride-1 conv1, maxpool Identity) or a module with the structure of hidden-networks'
# FC / Conv2..Conv8 (models/frankle.py; written here for any input shape, class count and
# width), runs the Fashion-MNIST test set through it (x / 255 normalised by the file's
# popup.export.mean and popup.export.std) and prints its top-1 beside popup-eval's on the
# source mask or weights file, with the largest difference of their logits (popup-eval
# --logits). With --csr, also loads each layer of the `popup-export --format csr` file of the
# same source with scipy.sparse.csr_matrix and checks
# that it equals the state_dict's dense tensor exactly. With --official DIR (a checkout of
# allenai/hidden-networks, not part of popup), also loads an fc/ConvN file into the official
# class itself (FC on 1x28x28, ConvN on 3x32x32, 10 classes), checks on random inputs that it
# computes exactly what the module here computes, and evaluates with it.
#     python3 scripts/pytorch-eval-export.py EXPORT [--source FILE] [--csr FILE] [--official DIR]
#                                            [--limit N] [--bin DIR] [--tolerance POINTS]
#                                            [--logit-tolerance FRACTION] [--threads N]
# Needs PyTorch and torchvision (Debian's python3-torch and python3-torchvision, or a venv);
# the safetensors package is used when installed (else a small numpy reader), scipy for --csr.
# Exit status: 0 when the two top-1 accuracies differ by at most --tolerance points, the logits
# by at most --logit-tolerance of the largest (and the CSR layers and official module match),
# else 1.
"""Evaluate a popup-export --format torch file in PyTorch, beside popup-eval on its source."""

import argparse
import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ for the module imported below
_spec = importlib.util.spec_from_file_location(
    "pytorch_eval_resnet", os.path.join(ROOT, "scripts", "pytorch-eval-resnet.py"))
eval_resnet = importlib.util.module_from_spec(_spec)  # its Fashion-MNIST test-set reader
_spec.loader.exec_module(eval_resnet)

NUMPY = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    """(metadata, {name: numpy array}) of a safetensors file."""
    try:
        from safetensors import safe_open
    except ImportError:
        blob = open(path, "rb").read()
        n = struct.unpack("<Q", blob[:8])[0]
        header = json.loads(blob[8:8 + n])
        meta = header.pop("__metadata__", {})
        data = blob[8 + n:]
        tensors = {}
        for name, e in header.items():
            begin, end = e["data_offsets"]
            a = np.frombuffer(data[begin:end], dtype=NUMPY[e["dtype"]]).reshape(e["shape"])
            tensors[name] = a.copy()
        return meta, tensors
    with safe_open(path, "np") as f:
        return f.metadata(), {name: f.get_tensor(name) for name in f.keys()}


# ---- the modules -------------------------------------------------------------------------------

# popup's ImageNet-stem ResNets and torchvision's builders of the same networks.
IMAGENET = {"resnet50": "resnet50", "resnet101": "resnet101",
            "wide-resnet50": "wide_resnet50_2", "wide-resnet101": "wide_resnet101_2"}
# Conv pairs of hidden-networks' FC and ConvN.
FRANKLE_PAIRS = {"fc": 0, "conv2": 1, "conv4": 2, "conv6": 3, "conv8": 4}


class FrankleNet(nn.Module):
    """The structure of hidden-networks' FC / Conv2..Conv8 (models/frankle.py) for an input
    C x H x W, any class count and width: `convs`, an nn.Sequential of (3x3 conv, ReLU, 3x3 conv,
    ReLU, 2x2 max-pool) per pair (FC: none), and `linear`, an nn.Sequential of three 1x1 convs
    with ReLUs between, on the flattened features; no biases. Hidden sizes are int(base * width)
    as in the official code's scale(): pairs 64, 128, 256, 512; linear 256, 256 (FC: 300, 100)."""

    def __init__(self, arch, input_shape, classes, width):
        super().__init__()
        c, h, w = input_shape
        convs = []
        for pair in range(FRANKLE_PAIRS[arch]):
            out = int((64, 128, 256, 512)[pair] * width)
            convs += [nn.Conv2d(c, out, 3, 1, 1, bias=False), nn.ReLU(),
                      nn.Conv2d(out, out, 3, 1, 1, bias=False), nn.ReLU(), nn.MaxPool2d((2, 2))]
            c, h, w = out, h // 2, w // 2
        if convs:
            self.convs = nn.Sequential(*convs)
        hidden = (int(300 * width), int(100 * width)) if arch == "fc" else (int(256 * width),) * 2
        self.features = c * h * w
        self.linear = nn.Sequential(
            nn.Conv2d(self.features, hidden[0], 1, bias=False), nn.ReLU(),
            nn.Conv2d(hidden[0], hidden[1], 1, bias=False), nn.ReLU(),
            nn.Conv2d(hidden[1], classes, 1, bias=False))

    def forward(self, x):
        out = self.convs(x) if hasattr(self, "convs") else x
        out = out.reshape(out.size(0), self.features, 1, 1)
        return self.linear(out).flatten(1)


def arch_parse(spec):
    """("conv4", 2.0) from "conv4:width=2"."""
    name, _, options = spec.partition(":")
    width = 1.0
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        if key != "width":
            sys.exit("unknown option %s in %s" % (key, spec))
        width = float(value)
    return name, width


def build(meta):
    """The module a torch export's state_dict belongs to (formats/torch.md)."""
    name, width = arch_parse(meta["popup.arch"])
    input_shape = tuple(int(d) for d in meta["popup.input"].split("x"))
    classes = int(meta["popup.classes"])
    if name in FRANKLE_PAIRS:
        return FrankleNet(name, input_shape, classes, width)
    channels = input_shape[0]
    if name in ("resnet18", "resnet34"):
        model = getattr(torchvision.models, name)(num_classes=classes)
        model.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif name in IMAGENET:
        model = getattr(torchvision.models, IMAGENET[name])(num_classes=classes)
        model.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    else:
        sys.exit("%s: no module known for this architecture" % name)
    return model


def torch_name(meta, popup_name, popup_names):
    """The state_dict key of popup's weight tensor `popup_name` (popup_names: all of them, in
    network order): the same for the ResNets; hidden-networks' positions for FC / ConvN."""
    name, _ = arch_parse(meta["popup.arch"])
    if name not in FRANKLE_PAIRS:
        return popup_name
    convs = [n for n in popup_names if n.startswith("conv")]
    if popup_name in convs:
        k = convs.index(popup_name)
        return "convs.%d.weight" % (5 * (k // 2) + 2 * (k % 2))
    linears = [n for n in popup_names if not n.startswith("conv")]
    return "linear.%d.weight" % (2 * linears.index(popup_name))


def official_module(directory, meta):
    """hidden-networks' own class (models/frankle.py of a checkout at `directory`, imported with a
    stand-in for its command-line `args`: dense nn.Conv2d layers, whose names the export has).
    Its classes are fixed to one input and class count: FC 1x28x28, ConvN 3x32x32, 10 classes;
    width only for Conv4Wide and Conv6Wide."""
    import contextlib
    import importlib.util
    import types
    name, width = arch_parse(meta["popup.arch"])
    classes = {"fc": "FC", "conv2": "Conv2", "conv4": "Conv4", "conv6": "Conv6", "conv8": "Conv8"}
    if name not in classes:
        sys.exit("%s: --official covers hidden-networks' FC and ConvN only" % name)
    cls = classes[name]
    if width != 1:
        if name not in ("conv4", "conv6"):
            sys.exit("%s: hidden-networks has no width option for %s" % (meta["popup.arch"], cls))
        cls += "Wide"
    stub = types.ModuleType("args")
    stub.args = types.SimpleNamespace(
        conv_type="DenseConv", bn_type="NonAffineBatchNorm", first_layer_type=None,
        init="kaiming_normal", mode="fan_in", nonlinearity="relu", scale_fan=False,
        prune_rate=0.5, width_mult=width)
    sys.modules["args"] = stub
    sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(
        "hidden_networks_frankle", os.path.join(directory, "models", "frankle.py"))
    frankle = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(sys.stderr):  # its builder prints what it builds
        spec.loader.exec_module(frankle)
        return getattr(frankle, cls)(), "hidden-networks models/frankle.py %s (official)" % cls


# ---- the checks ---------------------------------------------------------------------------------

def test_images(meta, limit):
    if meta["popup.input"] != "1x28x28" or meta["popup.classes"] != "10":
        return None, None
    pixels, labels = eval_resnet.fashion_mnist_test(limit)
    mean = json.loads(meta["popup.export.mean"])[0]
    std = json.loads(meta["popup.export.std"])[0]
    table = ((np.arange(256, dtype=np.float32) / np.float32(255) - np.float32(mean))
             / np.float32(std)).astype(np.float32)
    return torch.from_numpy(table[pixels]), torch.from_numpy(labels.astype(np.int64))


def csr_check(path, meta, state):
    """Every layer of the csr file as scipy's csr_matrix, equal to the state_dict's tensor."""
    import scipy.sparse
    csr_meta, tensors = read_safetensors(path)
    # sorted by name: network order for fc and ConvN (conv1 .. conv8, fc1 .. fc3), which is all
    # torch_name needs (the ResNets' names are the same in both files)
    popup_names = sorted(n[:-len(".indptr")] for n in tensors if n.endswith(".indptr"))
    layers = 0
    for name in popup_names:
        shape = json.loads(csr_meta["popup.csr.%s.shape" % name])
        rows, cols = shape[0], int(np.prod(shape[1:]))
        m = scipy.sparse.csr_matrix((tensors[name + ".values"], tensors[name + ".indices"],
                                     tensors[name + ".indptr"]), shape=(rows, cols))
        dense = state[torch_name(meta, name, popup_names)].numpy().reshape(rows, cols)
        if not np.array_equal(m.toarray(), dense):
            print("%s: CSR layer %s differs from the state_dict's" % (path, name))
            return False
        layers += 1
    print("%s: %d CSR layers load with scipy.sparse.csr_matrix and equal the dense tensors"
          % (path, layers))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("export", help="popup-export --format torch file")
    parser.add_argument("--source", help="the mask or weights file it was exported from, for popup-eval")
    parser.add_argument("--csr", help="popup-export --format csr file of the same source")
    parser.add_argument("--official", metavar="DIR",
                        help="a checkout of allenai/hidden-networks: load fc/ConvN files into its own "
                             "class too, check that it computes what the module here computes, "
                             "and evaluate with it")
    parser.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--tolerance", type=float, default=0.05, help="in points of top-1")
    parser.add_argument("--logit-tolerance", type=float, default=1e-4,
                        help="largest logit difference, relative to popup's largest |logit|")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: its default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    meta, arrays = read_safetensors(args.export)
    if meta.get("popup.export.format") != "torch":
        sys.exit("%s: not a popup-export --format torch file" % args.export)
    state = {name: torch.from_numpy(a) for name, a in arrays.items()}
    model = build(meta)
    model.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    model.eval()
    module = meta["popup.export.module"]
    ok = True
    if args.csr:
        ok = csr_check(args.csr, meta, state)
    if args.official:
        official, module = official_module(args.official, meta)
        official.load_state_dict(state, strict=True)
        official.eval()
        shape = [int(d) for d in meta["popup.input"].split("x")]
        x = torch.randn([64] + shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            same = torch.equal(official(x), model(x))
        print("%s: %s loads it with strict=True; on 64 random inputs its logits %s those of the "
              "module here" % (args.export, module, "equal" if same else "DIFFER from"))
        ok = ok and same
        model = official
    images, labels = test_images(meta, args.limit)
    if images is None:
        print("%s: input %s, %s classes: no Fashion-MNIST evaluation" % (
            args.export, meta["popup.input"], meta["popup.classes"]))
        return 0 if ok else 1
    with torch.no_grad():
        logits = torch.cat([model(images[begin:begin + 500]) for begin in range(0, len(labels), 500)])
    torch_top1 = 100.0 * int((logits.argmax(1) == labels).sum()) / len(labels)
    line = "%s: %s, strict=True; %d test images: PyTorch %s top-1 %.2f%%" % (
        args.export, module, len(labels), torch.__version__, torch_top1)
    if args.source:
        with tempfile.TemporaryDirectory() as work:
            logits_path = os.path.join(work, "logits.safetensors")
            out = subprocess.run([os.path.join(args.bin, "popup-eval"), args.source, "--json",
                                  "--limit", str(args.limit), "--logits", logits_path],
                                 check=True, capture_output=True, text=True)
            popup_logits = read_safetensors(logits_path)[1]["logits"]
        popup_top1 = 100.0 * json.loads(out.stdout)["top1"]
        diff = abs(torch_top1 - popup_top1)
        # the largest logit difference relative to popup's largest |logit|: float32 sums in
        # another order differ by rounding only, about 1e-6 of the scale for these depths
        scale = float(np.abs(popup_logits).max()) or 1.0
        relative = float(np.abs(logits.numpy() - popup_logits).max()) / scale
        line += ", popup-eval %.2f%%, difference %.2f points; logits differ by %.1e of the largest" % (
            popup_top1, diff, relative)
        ok = ok and diff <= args.tolerance and relative <= args.logit_tolerance
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
