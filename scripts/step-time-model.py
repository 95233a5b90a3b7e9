#!/usr/bin/env python3
"""A model of data-parallel popup-train's step time at N ranks (DESIGN.md section 8), built
from figures measured on this machine (a developer script; never part of make check).

Each rank is this machine running THREADS threads. For a global batch B and N ranks:

    T(N) = F(B / N) + P + R(N)
    F(b)  forward + backward (+ data) of a share of b images, measured with popup-bench
          (a straight line a + c b fitted to the measured batches when --fit gives them,
          for networks too slow to step at the whole batch here)
    P     the parameter work every rank does in full: straight-through gradient with the
          optimiser, top-k, w * mask (popup-bench's breakdown)
    R(N)  the rank-ordered gradient sum: each rank sends 2 (N - 1) / N of the S gradient
          bytes, at BETA seconds per byte, plus ALPHA per sum for SUMS sums (buckets);
          not hidden behind the backward (on CPU ranks the sum's copies run on the calling
          thread: measured, scripts/bench-reduce.sh)

Usage:
  scripts/step-time-model.py --arch conv4 --input 3x32x32 --classes 10 --batch 128
  scripts/step-time-model.py --arch wide-resnet50 --input 3x224x224 --classes 1000 \\
      --batch 256 --fit 4,8 --epochs 100 --train-images 1281167
Options: --build DIR (default build), --threads T (2), --steps S (5), --ranks LIST
(1,2,4,...,64), --beta-ns NS (time per byte, default 0.38: measured here by
scripts/bench-reduce.sh between 2 ranks in shared memory), --alpha-us US (1), --sums K (10).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile


def popup_bench(build, arch, inp, classes, batch, threads, steps):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [os.path.join(build, "tests", "popup-bench"), "--workload", "%s@%s" % (arch, inp),
             "--classes", str(classes), "--batch", str(batch), "--threads", str(threads),
             "--warmup", "1", "--steps", str(steps), "--no-peak", "--json", out.name],
            check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        rows = [json.loads(line) for line in open(out.name) if line.strip()]
    row = [r for r in rows if "workload" in r][-1]
    ms = row["ms_per_step"]
    compute = ms["data"] + ms["forward"] + ms["backward"]
    params = ms["optimizer"] + ms["topk"] + ms["masked_weights"]
    return compute / 1e3, params / 1e3


def weight_count(build, arch, inp, classes):
    with tempfile.NamedTemporaryFile(suffix=".weights") as out:
        subprocess.run([os.path.join(build, "bin", "popup-init"), "--arch", arch, "--input", inp,
                        "--classes", str(classes), "--init", "signed-constant", "-o", out.name],
                       check=True)
        with open(out.name, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--arch", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--ranks", default="1,2,4,8,16,32,64")
    p.add_argument("--fit", default="", help="measure these batches and fit a + c b")
    p.add_argument("--beta-ns", type=float, default=0.38)
    p.add_argument("--alpha-us", type=float, default=1.0)
    p.add_argument("--sums", type=int, default=10)
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--train-images", type=int, default=0)
    a = p.parse_args()
    ranks = [int(x) for x in a.ranks.split(",")]
    weights = weight_count(a.build, a.arch, a.input, a.classes)
    gradient_bytes = 4 * weights
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines()
                  if l.startswith("Model name")), "?")
    print("CPU: %s; a rank = %d threads; %s@%s, %d classes, %d weights (%.1f MB of gradients)"
          % (model, a.threads, a.arch, a.input, a.classes, weights, gradient_bytes / 1e6))
    measured = {}
    params = []
    shares = sorted({max(1, a.batch // n) for n in ranks})
    to_measure = [int(x) for x in a.fit.split(",")] if a.fit else shares
    for b in to_measure:
        f, q = popup_bench(a.build, a.arch, a.input, a.classes, b, a.threads, a.steps)
        measured[b] = f
        params.append(q)
        print("measured: batch %d: forward+backward %.1f ms, parameter work %.1f ms"
              % (b, 1e3 * f, 1e3 * q))
    param = sorted(params)[len(params) // 2]
    if a.fit:
        xs = sorted(measured)
        if len(xs) < 2:
            sys.exit("step-time-model: --fit needs two batches or more")
        mx = sum(xs) / len(xs)
        my = sum(measured[x] for x in xs) / len(xs)
        c = sum((x - mx) * (measured[x] - my) for x in xs) / sum((x - mx) ** 2 for x in xs)
        a0 = my - c * mx
        print("fit: F(b) = %.1f ms + %.2f ms * b" % (1e3 * a0, 1e3 * c))
        compute = lambda b: a0 + c * b
    else:
        compute = lambda b: measured[b]
    print("model: T(N) = F(B/N) + P + R(N); P = %.1f ms, beta %.2f ns/byte, alpha %.1f us x %d sums"
          % (1e3 * param, a.beta_ns, a.alpha_us, a.sums))
    print("%5s %6s %10s %10s %10s %12s %9s" % ("N", "share", "F ms", "R ms", "T ms", "images/s",
                                              "speed-up"))
    t1 = None
    for n in ranks:
        b = max(1, a.batch // n)
        r = 0.0 if n == 1 else (a.sums * a.alpha_us * 1e-6 +
                                2 * (n - 1) / n * gradient_bytes * a.beta_ns * 1e-9)
        t = compute(b) + param + r
        t1 = t1 or t
        line = "%5d %6d %10.1f %10.1f %10.1f %12.1f %9.2f" % (n, b, 1e3 * compute(b), 1e3 * r,
                                                             1e3 * t, a.batch / t, t1 / t)
        if a.epochs and a.train_images:
            steps = math.ceil(a.train_images / a.batch) * a.epochs
            line += "   %d epochs: %.1f days" % (a.epochs, steps * t / 86400)
        print(line)


if __name__ == "__main__":
    main()
