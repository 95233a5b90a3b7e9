#!/usr/bin/env python3
# BENCHMARK REFERENCE ONLY: not part of popup, never run by `make check`. It measures the training
# throughput (images/s) of edge-popup as written in PyTorch by the official implementation
# (github.com/allenai/hidden-networks: utils/conv_type.py GetSubnet + SubnetConv, utils/builder.py
# signed-constant init, models/frankle.py Conv4/Conv6, models/resnet_cifar.py ResNet-18,
# models/resnet.py ResNet-50/101 and Wide ResNet-50-2 with the ImageNet stem), so that
# popup's own numbers have a baseline measured on the same machine. `make gpu-check` runs it with
# the GPU machine's python3 (PyTorch 2.x + CUDA) and --json, and puts its rows beside popup's;
# exit status 3 means "no PyTorch: rows skipped", which the caller reports and does not fail on.
# Also runs on Debian's python3-torch (1.13, CPU only):
#     /usr/bin/python3 scripts/pytorch-edgepopup-bench.py --device cpu --arch conv4 --batch 8
#     /usr/bin/python3 scripts/pytorch-edgepopup-bench.py --device cpu --threads 2 \
#         --arch resnet50 --batch 32 --warmup 2 --steps 3 --windows 3     (3x224x224, 1000 classes)
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

ARCHS = ("fc", "conv4", "conv6", "resnet18", "resnet50", "resnet101", "wide-resnet50")
IMAGENET_ARCHS = ("resnet50", "resnet101", "wide-resnet50")
INPUT, CLASSES = (3, 32, 32), 10                # CIFAR's; the ImageNet ResNets: 3x224x224, 1000
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


class DenseConv(Conv2d):
    """The same layer without scores, its weight trained: PyTorch's dense training of the net."""

    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)


LAYER = SubnetConv                          # DenseConv with --dense (set by main())

# ---- architectures ---------------------------------------------------------------------------


class ConvNet(Module):
    """conv4 / conv6 (Frankle et al.): pairs of 3x3 convs + ReLU, 2x2 max-pool after each pair,
    then 256-256-10 as 1x1 convs over the flattened features (out.view(n, -1, 1, 1))."""

    def __init__(self, pairs, width):
        super().__init__()
        layers, cin, side = [], INPUT[0], INPUT[1]
        for c in pairs:
            c = int(c * width)
            layers += [LAYER(cin, c, 3), nn.ReLU(inplace=True),
                       LAYER(c, c, 3), nn.ReLU(inplace=True), nn.MaxPool2d((2, 2))]
            cin, side = c, side // 2
        hidden = int(256 * width)
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Sequential(
            LAYER(cin * side * side, hidden, 1), nn.ReLU(inplace=True),
            LAYER(hidden, hidden, 1), nn.ReLU(inplace=True),
            LAYER(hidden, CLASSES, 1))

    def forward(self, x):
        out = self.convs(x)
        return self.linear(out.view(out.size(0), -1, 1, 1)).flatten(1)


class FC(Module):
    """fc: 784-300-100-10 over the flattened image, the linear layers as 1x1 convolutions."""

    def __init__(self, width):
        super().__init__()
        h1, h2 = int(300 * width), int(100 * width)
        self.linear = nn.Sequential(
            LAYER(INPUT[0] * INPUT[1] * INPUT[2], h1, 1), nn.ReLU(inplace=True),
            LAYER(h1, h2, 1), nn.ReLU(inplace=True), LAYER(h2, CLASSES, 1))

    def forward(self, x):
        return self.linear(x.view(x.size(0), -1, 1, 1)).flatten(1)


class BasicBlock(Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1, self.bn1 = LAYER(cin, c, 3, stride), nn.BatchNorm2d(c, affine=False)
        self.conv2, self.bn2 = LAYER(c, c, 3), nn.BatchNorm2d(c, affine=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != c:
            self.shortcut = nn.Sequential(LAYER(cin, c, 1, stride),
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
        self.conv1, self.bn1 = LAYER(INPUT[0], c0, 3), nn.BatchNorm2d(c0, affine=False)
        blocks, cin = [], c0
        for i, stride in enumerate((1, 2, 2, 2)):
            c = int(64 * 2 ** i * width)
            blocks += [BasicBlock(cin, c, stride), BasicBlock(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*blocks)
        self.fc = LAYER(cin, CLASSES, 1)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1)).flatten(1)


class Bottleneck(Module):
    """1x1 (width), 3x3 at the block's stride, 1x1 (4 x planes), each followed by non-affine
    BatchNorm; a strided 1x1 projection on the shortcut where the shape changes."""

    def __init__(self, cin, planes, stride, width):
        super().__init__()
        c, cout = int(planes * width), planes * 4
        self.conv1, self.bn1 = LAYER(cin, c, 1), nn.BatchNorm2d(c, affine=False)
        self.conv2, self.bn2 = LAYER(c, c, 3, stride), nn.BatchNorm2d(c, affine=False)
        self.conv3, self.bn3 = LAYER(c, cout, 1), nn.BatchNorm2d(cout, affine=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(LAYER(cin, cout, 1, stride),
                                          nn.BatchNorm2d(cout, affine=False))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


class ImageNetResNet(Module):
    """ResNet-50/101 (bottleneck width multiplier 1) and Wide ResNet-50-2 (2) as the official
    models/resnet.py builds them: 7x7/2 stem, non-affine BatchNorm, ReLU, 3x3/2 max-pool
    (padding 1), four stages, global average pool, a 1x1 subnet conv to the classes."""

    def __init__(self, blocks, width, classes):
        super().__init__()
        self.conv1 = LAYER(3, 64, 7, 2)
        self.bn1 = nn.BatchNorm2d(64, affine=False)
        layers, cin = [], 64
        for i, count in enumerate(blocks):
            planes = 64 * 2 ** i
            for b in range(count):
                layers.append(Bottleneck(cin, planes, 2 if b == 0 and i > 0 else 1, width))
                cin = planes * 4
        self.layers = nn.Sequential(*layers)
        self.fc = LAYER(cin, classes, 1)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        out = self.layers(out)
        return self.fc(F.adaptive_avg_pool2d(out, 1)).flatten(1)


def input_of(name):
    """(input shape, classes) of an architecture's workload."""
    return ((3, 224, 224), 1000) if name in IMAGENET_ARCHS else (INPUT, CLASSES)


def parse_arch(spec):
    """'conv6:width=4' -> ('conv6', 4.0); None when the spec is not understood."""
    name, colon, option = spec.partition(":")
    key, _, value = option.partition("=") if colon else ("width", "", "1")
    try:
        width = float(value) if key == "width" else 0.0
    except ValueError:
        return None
    return (name, width) if name in ARCHS and width > 0 else None


def build(name, width, classes):
    if name in IMAGENET_ARCHS:
        blocks = (3, 4, 23, 3) if name == "resnet101" else (3, 4, 6, 3)
        return ImageNetResNet(blocks, width * (2 if name == "wide-resnet50" else 1), classes)
    if name == "resnet18":
        return ResNet18(width)
    if name == "fc":
        return FC(width)
    return ConvNet((64, 128) if name == "conv4" else (64, 128, 256), width)

# ---- timing ----------------------------------------------------------------------------------


def bench(spec, batch, device, args):
    """(median window seconds per step) of SGD-on-scores training steps at this batch, or of
    forward passes without gradients with --mode eval."""
    torch.manual_seed(0)
    name, width = parse_arch(spec)
    shape, classes = input_of(name)
    classes = args.classes or classes
    model = build(name, width, classes).to(device).train(args.mode == "train")
    scores = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(scores, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    criterion = nn.CrossEntropyLoss()
    images = torch.randn(batch, *shape, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)

    def step():
        if args.mode == "eval":
            with torch.no_grad():
                model(images).argmax(1)
            return
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
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--input", metavar="CxHxW",
                        help="input shape of fc, conv4, conv6, resnet18 (default 3x32x32)")
    parser.add_argument("--mode", choices=("train", "eval"), default="train",
                        help="train: SGD steps; eval: forward passes without gradients")
    parser.add_argument("--dense", action="store_true",
                        help="the same network dense, its weights trained (no scores, no top-k)")
    parser.add_argument("--classes", type=int,
                        help="classes of the last layer (default 10; ImageNet ResNets 1000)")
    args = parser.parse_args()

    archs = split_list(args.arch, "conv4")
    for spec in archs:
        if parse_arch(spec) is None:
            print("pytorch-edgepopup-bench: unknown arch %r (%s, optionally :width=W)"
                  % (spec, ", ".join(ARCHS)), file=sys.stderr)
            return 2
    batches = split_list(args.batch, "128,256")
    if not all(b.isdigit() and int(b) > 0 for b in batches) or not 0 <= args.k <= 1 \
            or min(args.steps, args.windows) < 1 or args.warmup < 0:
        parser.error("batches, --steps and --windows must be positive, k in [0, 1]")
    batches = [int(b) for b in batches]
    global INPUT, LAYER
    if args.input:
        dims = args.input.split("x")
        if len(dims) != 3 or not all(d.isdigit() and int(d) > 0 for d in dims):
            parser.error("--input: expected CxHxW, got %r" % args.input)
        INPUT = tuple(int(d) for d in dims)
    LAYER = DenseConv if args.dense else SubnetConv
    if torch is None:
        print("pytorch-edgepopup-bench: PyTorch is not installed: rows skipped", file=sys.stderr)
        return 3

    if args.threads:
        torch.set_num_threads(args.threads)
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
    print("# torch %s, device %s%s, %s %s, topk %s, k %g; tf32: cudnn.allow_tf32=%s "
          "cuda.matmul.allow_tf32=%s; %d threads; %d warm-up steps, median of %d windows of "
          "%d steps"
          % (torch.__version__, device.type, " (%s)" % gpu if gpu else "",
             "dense" if args.dense else "edge-popup", args.mode, args.topk, args.k,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             torch.get_num_threads(), args.warmup, args.windows, args.steps))
    print("%-20s %6s %12s %10s" % ("arch", "batch", "images/s", "step ms"))
    out = open(args.json, "w") if args.json else None   # closed at exit
    for spec in archs:
        for batch in batches:
            seconds = bench(spec, batch, device, args)
            print("%-20s %6d %12.2f %10.3f" % (spec, batch, batch / seconds, seconds * 1e3),
                  flush=True)
            if out:
                out.write(json.dumps({
                    "impl": "pytorch", "arch": spec, "batch": batch, "device": device.type,
                    "threads": torch.get_num_threads(),
                    "mode": args.mode, "dense": args.dense,
                    "topk": args.topk, "images_per_second": round(batch / seconds, 2),
                    "step_ms_median": round(seconds * 1e3, 4), "torch": torch.__version__,
                    "gpu": gpu}) + "\n")
                out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
