#!/usr/bin/env python3
# BENCHMARK REFERENCE ONLY: not part of popup, never run by `make check`. It measures the training
# throughput (images/s) of edge-popup as written in PyTorch by the official implementation
# (github.com/allenai/hidden-networks: utils/conv_type.py GetSubnet + SubnetConv, utils/builder.py
# signed-constant init, models/frankle.py Conv4/Conv6, models/resnet_cifar.py ResNet-18), so that
# popup's own numbers have a baseline measured on the same machine. `make gpu-check` runs it with
# the GPU machine's python3 (PyTorch 2.x + CUDA) and --json, and puts its rows beside popup's;
# exit status 3 means "no PyTorch: rows skipped", which the caller reports and does not fail on.
# Also runs on Debian's python3-torch (1.13, CPU only):
#     /usr/bin/python3 scripts/pytorch-edgepopup-bench.py --device cpu --arch conv4 --batch 8
# Only the training step is timed: synthetic images and labels live on the device already.
# Exit status: 0 done, 2 bad arguments (an unknown arch), 3 PyTorch missing.
"""Training images/s of edge-popup in PyTorch (the hidden-networks formulation)."""

import argparse
import json
import math
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    Function, Module, Conv2d = torch.autograd.Function, nn.Module, nn.Conv2d
except ImportError:  # reported in main(), after the arguments have been checked
    torch = None
    Function = Module = Conv2d = object

ARCHS = ("conv4", "conv6", "resnet18")
INPUT, CLASSES = (3, 32, 32), 10
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4     # hidden-networks' configs

# ---- edge-popup layers ---------------------------------------------------------------------


class GetSubnet(Function):
    """0/1 mask keeping the numel - int((1-k) numel) largest scores, by a full sort (official)."""

    @staticmethod
    def forward(ctx, scores, k):
        out = scores.clone()
        _, idx = scores.flatten().sort()
        j = int((1 - k) * scores.numel())
        flat_out = out.flatten()            # a view of `out` (contiguous)
        flat_out[idx[:j]] = 0
        flat_out[idx[j:]] = 1
        return out

    @staticmethod
    def backward(ctx, g):
        return g, None                      # straight-through


class GetSubnetKthvalue(Function):
    """The same count from a selection: keep |s| > t, t the j-th smallest |s|, then as many of
    the |s| == t as make numel - j (lower index first; float scores do tie, layers are large).
    No host synchronisation. Equal to GetSubnet's mask when the scores have no ties."""

    @staticmethod
    def forward(ctx, scores, k):
        j = int((1 - k) * scores.numel())
        if j == 0:
            return torch.ones_like(scores)
        flat = scores.flatten()
        t = flat.kthvalue(j).values
        above, tie = flat > t, flat == t
        need = flat.numel() - j - above.sum()
        return (above | (tie & (tie.cumsum(0) <= need))).view_as(scores).to(scores.dtype)

    @staticmethod
    def backward(ctx, g):
        return g, None


class SubnetConv(Conv2d):
    """Frozen weight, trained scores: conv2d(x, weight * subnet(|scores|)). The official code
    writes its linear layers as 1x1 convolutions of this class; so does this script."""
    k, get_subnet = 0.5, GetSubnet          # set per run by main()

    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        # signed constant: sign of a kaiming normal draw, times gain / sqrt(fan_in)
        nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu")
        fan_in = self.weight[0].numel()
        with torch.no_grad():
            self.weight.copy_(self.weight.sign() * math.sqrt(2.0 / fan_in))
        self.weight.requires_grad = False

    def forward(self, x):
        w = self.weight * SubnetConv.get_subnet.apply(self.scores.abs(), SubnetConv.k)
        return F.conv2d(x, w, None, self.stride, self.padding)

# ---- architectures ---------------------------------------------------------------------------


class ConvNet(Module):
    """conv4 / conv6 (Frankle et al.): pairs of 3x3 convs + ReLU, 2x2 max-pool after each pair,
    then 256-256-10 as 1x1 convs over the flattened features (out.view(n, -1, 1, 1))."""

    def __init__(self, pairs, width):
        super().__init__()
        layers, cin, side = [], INPUT[0], INPUT[1]
        for c in pairs:
            c = int(c * width)
            layers += [SubnetConv(cin, c, 3), nn.ReLU(inplace=True),
                       SubnetConv(c, c, 3), nn.ReLU(inplace=True), nn.MaxPool2d((2, 2))]
            cin, side = c, side // 2
        hidden = int(256 * width)
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Sequential(
            SubnetConv(cin * side * side, hidden, 1), nn.ReLU(inplace=True),
            SubnetConv(hidden, hidden, 1), nn.ReLU(inplace=True),
            SubnetConv(hidden, CLASSES, 1))

    def forward(self, x):
        out = self.convs(x)
        return self.linear(out.view(out.size(0), -1, 1, 1)).flatten(1)


class BasicBlock(Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1, self.bn1 = SubnetConv(cin, c, 3, stride), nn.BatchNorm2d(c, affine=False)
        self.conv2, self.bn2 = SubnetConv(c, c, 3), nn.BatchNorm2d(c, affine=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != c:
            self.shortcut = nn.Sequential(SubnetConv(cin, c, 1, stride),
                                          nn.BatchNorm2d(c, affine=False))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class ResNet18(Module):
    """CIFAR ResNet-18: 3x3 stem at stride 1, BasicBlocks [2, 2, 2, 2], non-affine BatchNorm,
    4x4 average pool (global on 32x32 inputs), then a 1x1 subnet conv to the classes."""

    def __init__(self, width):
        super().__init__()
        c0 = int(64 * width)
        self.conv1, self.bn1 = SubnetConv(INPUT[0], c0, 3), nn.BatchNorm2d(c0, affine=False)
        blocks, cin = [], c0
        for i, stride in enumerate((1, 2, 2, 2)):
            c = int(64 * 2 ** i * width)
            blocks += [BasicBlock(cin, c, stride), BasicBlock(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*blocks)
        self.fc = SubnetConv(cin, CLASSES, 1)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1)).flatten(1)


def parse_arch(spec):
    """'conv6:width=4' -> ('conv6', 4.0); None when the spec is not understood."""
    name, colon, option = spec.partition(":")
    key, _, value = option.partition("=") if colon else ("width", "", "1")
    try:
        width = float(value) if key == "width" else 0.0
    except ValueError:
        return None
    return (name, width) if name in ARCHS and width > 0 else None


def build(name, width):
    if name == "resnet18":
        return ResNet18(width)
    return ConvNet((64, 128) if name == "conv4" else (64, 128, 256), width)

# ---- timing ----------------------------------------------------------------------------------


def bench(spec, batch, device, args):
    """(median window seconds per step) of SGD-on-scores training steps at this batch."""
    torch.manual_seed(0)
    model = build(*parse_arch(spec)).to(device).train()
    scores = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(scores, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    criterion = nn.CrossEntropyLoss()
    images = torch.randn(batch, *INPUT, device=device)
    labels = torch.randint(0, CLASSES, (batch,), device=device)

    def step():
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    windows = []
    for _ in range(args.windows):
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        windows.append((time.perf_counter() - start) / args.steps)
    return statistics.median(windows)


def split_list(values, default):
    """Repeatable, comma-separated option values, in order."""
    return [v for value in (values or [default]) for v in value.split(",") if v]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", action="append", metavar="SPEC",
                        help="conv4, conv6, resnet18, with :width=W (repeatable or a comma "
                             "list, e.g. conv4,conv6:width=4; default conv4)")
    parser.add_argument("--batch", action="append", help="batch sizes (default 128,256)")
    parser.add_argument("--device", choices=("cuda", "cpu"),
                        help="default: cuda when available")
    parser.add_argument("--k", type=float, default=0.5, help="fraction of weights kept (default 0.5)")
    parser.add_argument("--topk", choices=("sort", "kthvalue"), default="sort",
                        help="sort: the official full sort; kthvalue: a selection")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps (default 10)")
    parser.add_argument("--steps", type=int, default=20, help="steps per window (default 20)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows (default 5)")
    parser.add_argument("--json", metavar="FILE", help="write one JSON object per row")
    parser.add_argument("--no-tf32", action="store_true", help="disable TF32 (cuDNN, matmul)")
    args = parser.parse_args()

    archs = split_list(args.arch, "conv4")
    for spec in archs:
        if parse_arch(spec) is None:
            print("pytorch-edgepopup-bench: unknown arch %r (conv4, conv6, resnet18, "
                  "optionally :width=W)" % spec, file=sys.stderr)
            return 2
    batches = split_list(args.batch, "128,256")
    if not all(b.isdigit() and int(b) > 0 for b in batches) or not 0 <= args.k <= 1 \
            or min(args.steps, args.windows) < 1 or args.warmup < 0:
        parser.error("batches, --steps and --windows must be positive, k in [0, 1]")
    batches = [int(b) for b in batches]
    if torch is None:
        print("pytorch-edgepopup-bench: PyTorch is not installed: rows skipped", file=sys.stderr)
        return 3

    cuda = torch.cuda.is_available()
    device = torch.device(args.device or ("cuda" if cuda else "cpu"))
    if device.type == "cuda" and not cuda:
        print("pytorch-edgepopup-bench: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True           # as the official main.py
    if args.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    SubnetConv.k = args.k
    SubnetConv.get_subnet = GetSubnet if args.topk == "sort" else GetSubnetKthvalue
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print("# torch %s, device %s%s, topk %s, k %g; tf32: cudnn.allow_tf32=%s "
          "cuda.matmul.allow_tf32=%s; %d warm-up steps, median of %d windows of %d steps"
          % (torch.__version__, device.type, " (%s)" % gpu if gpu else "", args.topk, args.k,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             args.warmup, args.windows, args.steps))
    print("%-20s %6s %12s %10s" % ("arch", "batch", "images/s", "step ms"))
    out = open(args.json, "w") if args.json else None   # closed at exit
    for spec in archs:
        for batch in batches:
            seconds = bench(spec, batch, device, args)
            print("%-20s %6d %12.1f %10.3f" % (spec, batch, batch / seconds, seconds * 1e3),
                  flush=True)
            if out:
                out.write(json.dumps({
                    "impl": "pytorch", "arch": spec, "batch": batch, "device": device.type,
                    "topk": args.topk, "images_per_second": round(batch / seconds, 2),
                    "step_ms_median": round(seconds * 1e3, 4), "torch": torch.__version__,
                    "gpu": gpu}) + "\n")
                out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
