#!/bin/sh
# The time of a rank-ordered float sum (Communicator::sum, DESIGN.md §8) over Open MPI, for the
# step-time model of data-parallel training: NP ranks on this machine (mpirun --oversubscribe,
# one thread each) sum buffers of 1 KB to 64 MB. Per size, medians of REPS repetitions of the
# slowest rank's time: sum(), sum_start + sum_finish, and the time a started sum adds to work of
# twice its length that calls sum_progress() every 100 us (the CPU time of progress included:
# what overlap leaves exposed); then the fit t = alpha + beta * bytes of sum().
#   scripts/bench-reduce.sh                      BUILD=build NP=2 REPS=11
#   SIZES="10000000 275000000" REPS=5 scripts/bench-reduce.sh   other sizes, in bytes
# Needs `make` with Open MPI found (BUILD/lib/popup/libpopup-mpi.so) and BUILD/tests/comm-check
# (make BUILD/tests/comm-check). A developer script: never part of make check.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NP=${NP:-2}
REPS=${REPS:-11}
SIZES=${SIZES:-1024 4096 16384 65536 262144 1048576 4194304 16777216 67108864}
PYTHON=${PYTHON:-/usr/bin/python3}
check=$BUILD/tests/comm-check
[ -x "$check" ] || { echo "bench-reduce: no $check: run make $check" >&2; exit 1; }
[ -f "$BUILD/lib/popup/libpopup-mpi.so" ] ||
  { echo "bench-reduce: no $BUILD/lib/popup/libpopup-mpi.so: Open MPI not found by make" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores; $NP ranks, $REPS repetitions"
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np "$NP" "$check" bench "$REPS" $SIZES |
  tee "$out"
"$PYTHON" - "$out" <<'EOF'
import sys
rows = [tuple(map(float, line.split()[:2])) for line in open(sys.argv[1]) if line[:1].isdigit()]

def fit(points):
    """alpha, beta minimising sum(((alpha + beta x - t) / t)^2), and the worst relative error."""
    sw = swx = swxx = swt = swxt = 0.0
    for x, t in points:
        w = 1.0 / (t * t)
        sw += w; swx += w * x; swxx += w * x * x; swt += w * t; swxt += w * x * t
    det = sw * swxx - swx * swx
    alpha = (swxx * swt - swx * swxt) / det
    beta = (sw * swxt - swx * swt) / det
    return alpha, beta, max(abs(alpha + beta * x - t) / t for x, t in points)

# Latency from the small sizes (<= 256 KB); time per byte from the large ones (>= 4 MB, which
# no cache holds: gradient buckets), with that latency: t = alpha + beta * bytes.
small = [p for p in rows if p[0] <= 1 << 18]
large = [p for p in rows if p[0] >= 1 << 22]
alpha = fit(small)[0] if len(small) >= 2 else 0.0
if large:
    beta = sum((t - alpha) * x for x, t in large) / sum(x * x for x, t in large)
    worst = max(abs(alpha + beta * x - t) / t for x, t in large)
    print("# alpha %.1f us (sizes <= 256 KB), beta %.3f ns/byte = %.2f GB/s (sizes >= 4 MB, "
          "worst relative error %.0f%%)" % (alpha * 1e6, beta * 1e9, 1e-9 / beta, 100 * worst))
if len(rows) >= 2:
    a, b, worst = fit(rows)
    print("# one line through every size: alpha %.1f us, beta %.3f ns/byte; worst relative error %.0f%%"
          % (a * 1e6, b * 1e9, 100 * worst))
EOF
