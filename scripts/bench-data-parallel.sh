#!/bin/sh
# scripts/bench-data-parallel.sh: data-parallel popup-train under mpirun against one process,
# side by side on the same cores (a developer benchmark; never part of make check).
#   throughput: RANKS ranks of 1 thread against 1 process of RANKS threads, the same global
#     batch, alternating which goes first, RUNS pairs; images/s of a 1-epoch run on LIMIT
#     training images, the per-step gradient-sum time and bytes from the ranks' JSON log;
#     prints each pair's ratio and the median.
#   agreement (AGREE=1): 1 epoch of each network in NETS on the whole of Fashion-MNIST, RANKS
#     ranks against 1 process: test accuracy of each and the share of mask bits they agree in.
#
#   scripts/bench-data-parallel.sh
#   AGREE=1 NETS="fc conv4" scripts/bench-data-parallel.sh
#
# Variables: BUILD (default build), ARCH (conv4), RANKS (2), BATCH (128), LIMIT (6400),
# RUNS (3), AGREE (0), NETS (fc conv4), EPOCHS (1), EXTRA (more popup-train options, e.g.
# "--sync-bn" for a ResNet).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
ARCH=${ARCH:-conv4} RANKS=${RANKS:-2} BATCH=${BATCH:-128} LIMIT=${LIMIT:-6400} RUNS=${RUNS:-3}
AGREE=${AGREE:-0} NETS=${NETS:-fc conv4} EPOCHS=${EPOCHS:-1} EXTRA=${EXTRA:-}
die() { echo "bench-data-parallel: error: $1" >&2; exit "${2:-1}"; }
for v in RANKS BATCH LIMIT RUNS EPOCHS; do
  eval "val=\$$v"
  case $val in '' | *[!0-9]*) die "$v must be a whole number, got '$val'" 2 ;; esac
done
PATH=$BUILD/bin:$PATH
command -v mpirun >/dev/null || die "mpirun not found (make deps installs openmpi-bin)"
[ -e "$BUILD/lib/popup/libpopup-mpi.so" ] || die "$BUILD/lib/popup/libpopup-mpi.so: not built"
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi="mpirun --oversubscribe --bind-to none -np $RANKS -x OMP_NUM_THREADS=1"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# field LOG KEY: the last epoch's KEY in a JSON log
field() { tail -n 1 "$1" | grep -o "\"$2\":[0-9.e+-]*" | cut -d: -f2; }

popup-init --arch "$ARCH" --init signed-constant --seed 1 --recipe -o "$work/net.recipe"
common="$work/net.recipe --epochs 1 --limit-train $LIMIT --limit-test 1000 --batch-size $BATCH \
  --quiet $EXTRA"
ratios=""
echo "throughput: $ARCH, batch $BATCH, $LIMIT images, $RANKS ranks x 1 thread vs 1 process x $RANKS threads"
printf '%-5s %14s %14s %7s %16s %14s\n' pair "ranks img/s" "single img/s" ratio "sum ms/step" "sum MB/step"
ranks_run() {
  rm -f "$work/ranks.log"
  $mpi popup-train $common --log "$work/ranks.log" -o "$work/ranks.mask"
}
single_run() {
  rm -f "$work/single.log"
  OMP_NUM_THREADS=$RANKS popup-train $common --threads "$RANKS" --log "$work/single.log" \
    -o "$work/single.mask"
}
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) -eq 1 ]; then ranks_run; single_run; else single_run; ranks_run; fi
  a=$(field "$work/ranks.log" images_per_second)
  b=$(field "$work/single.log" images_per_second)
  s=$(field "$work/ranks.log" reduce_seconds)
  m=$(field "$work/ranks.log" reduce_bytes)
  r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
  ratios="$ratios $r"
  printf '%-5s %14.1f %14.1f %7s %16.2f %14.2f\n' "$i" "$a" "$b" "$r" \
    "$(awk -v s="$s" 'BEGIN { print 1000 * s }')" "$(awk -v m="$m" 'BEGIN { print m / 1e6 }')"
done
echo "median ratio (ranks / single): $(echo $ratios | tr ' ' '\n' | sort -n |
  awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"

[ "$AGREE" = 1 ] || exit 0
echo
echo "agreement: $EPOCHS epoch(s) of Fashion-MNIST, batch $BATCH, $RANKS ranks vs 1 process"
printf '%-8s %12s %12s %14s\n' net "ranks acc" "single acc" "bits agreeing"
for net in $NETS; do
  popup-init --arch "$net" --init signed-constant --seed 1 --recipe -o "$work/$net.recipe"
  args="$work/$net.recipe --epochs $EPOCHS --batch-size $BATCH --quiet $EXTRA"
  $mpi popup-train $args -o "$work/$net.ranks.mask"
  OMP_NUM_THREADS=$RANKS popup-train $args --threads "$RANKS" -o "$work/$net.single.mask"
  acc() { grep -ao '"popup.train.test_acc":"[0-9.e-]*"' "$1" | cut -d'"' -f4; }
  agree=$(popup-stats "$work/$net.ranks.mask" "$work/$net.single.mask" |
    awk '$1 == "total" && NF == 11 { printf "%.5f%% (%d of %d differ)", 100 * (1 - $8 / $2), $8, $2 }')
  printf '%-8s %12s %12s %14s\n' "$net" "$(acc "$work/$net.ranks.mask")" \
    "$(acc "$work/$net.single.mask")" "$agree"
done
