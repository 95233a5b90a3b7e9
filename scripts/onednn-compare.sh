#!/bin/sh
# scripts/onednn-compare.sh: Debian's oneDNN 2.6 against oneDNN 3.x from PyPI on the 3x3
# convolutions of conv4 (1x28x28) and resnet18 (3x32x32), fp32, batch 128, on the CPU (a
# developer benchmark; never part of make check). Builds scripts/onednn-conv-bench.cpp twice
# into BUILD/onednn-compare/ (bench-2 against the system's libdnnl, bench-3 against the 3.x one,
# with -Wl,-rpath to it), runs them alternately (2.6, 3.x, 2.6, ...) RUNS times each, natively
# and then with the ISA capped to AVX2 (DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2), and prints
# Markdown tables: per layer and algorithm (direct, Winograd) the forward, backward-data and
# backward-weights times of both (medians over the runs of each run's median of 7), the ratio
# 2.6 / 3.x and the implementations; then the sums over the conv4 and the resnet18 layers. It
# also measures the CPU time other processes take during each run and says when that passed 5%
# (the times are then not to be trusted). The raw runs are kept in BUILD/onednn-compare/runs/,
# the tables in BUILD/onednn-compare/results.md.
#
#   scripts/onednn-compare.sh                                  3 runs each, 2 threads
#   ONEDNN3_PREFIX=$HOME/onednn3 RUNS=1 scripts/onednn-compare.sh
#
# oneDNN 3.x: ONEDNN3_PREFIX (a prefix with include/oneapi/dnnl/dnnl.hpp and lib/libdnnl.so),
# else BUILD/onednn-compare/venv, made and filled with pip install onednn-devel-cpu-gomp on first
# use (ONEDNN3_PACKAGE installs another, e.g. onednn-devel-cpu-gomp==2023.2.0). Variables: BUILD
# (build), RUNS (3), THREADS (2), CXX (g++), PYTHON (python3; the tables need only its standard
# library).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
RUNS=${RUNS:-3} THREADS=${THREADS:-2}
CXX=${CXX:-g++} PYTHON=${PYTHON:-python3}
ONEDNN3_PACKAGE=${ONEDNN3_PACKAGE:-onednn-devel-cpu-gomp}
out=$BUILD/onednn-compare
src=$top/scripts/onednn-conv-bench.cpp
unset DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA  # "native" means uncapped

die() { echo "onednn-compare: error: $1" >&2; exit "${2:-1}"; }
for v in RUNS THREADS; do
  eval "val=\$$v"
  case $val in '' | *[!0-9]* | 0) die "$v must be a positive whole number, got '$val'" 2 ;; esac
done
mkdir -p "$out"

if [ -n "${ONEDNN3_PREFIX:-}" ]; then
  prefix=$(cd "$ONEDNN3_PREFIX" && pwd) || die "ONEDNN3_PREFIX=$ONEDNN3_PREFIX: no such directory"
else
  prefix=$out/venv
  if [ ! -f "$prefix/lib/libdnnl.so" ]; then
    echo "onednn-compare: installing $ONEDNN3_PACKAGE from PyPI into $prefix" >&2
    "$PYTHON" -m venv "$prefix" || die "$PYTHON -m venv failed (Debian: python3-venv)"
    "$prefix/bin/pip" install --quiet "$ONEDNN3_PACKAGE" ||
      die "pip install $ONEDNN3_PACKAGE into $prefix failed"
  fi
fi
for f in include/oneapi/dnnl/dnnl.hpp lib/libdnnl.so; do
  [ -f "$prefix/$f" ] || die "$prefix has no $f"
done

echo "onednn-compare: building $out/bench-2 (system oneDNN) and $out/bench-3 ($prefix)" >&2
"$CXX" -O2 -std=c++17 -o "$out/bench-2" "$src" -ldnnl ||
  die "could not build against the system oneDNN (Debian: libdnnl-dev)"
"$CXX" -O2 -std=c++17 -I"$prefix/include" -o "$out/bench-3" "$src" -L"$prefix/lib" \
  -Wl,-rpath,"$prefix/lib" -ldnnl || die "could not build against $prefix"

# version LIB: the oneDNN version bench-LIB runs with
version() { "$out/bench-$1" --version | awk -F '\t' '$1 == "version" { print $2 }'; }
v2=$(version 2) v3=$(version 3)
[ -n "$v2" ] || die "$out/bench-2 does not run"
case $v3 in [3-9].* | [1-9][0-9]*.*) ;; *) die "$out/bench-3 runs with oneDNN $v3, not 3.x" ;; esac
echo "onednn-compare: oneDNN $v2 (system) and $v3 ($prefix)" >&2

# busy: the seconds all CPUs have been busy since boot, and the uptime (/proc/stat, /proc/uptime)
hz=$(getconf CLK_TCK) cpus=$(getconf _NPROCESSORS_ONLN)
busy() {
  awk -v hz="$hz" '$1 == "cpu" { printf "%.2f ", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
  cut -d' ' -f1 /proc/uptime
}
# bench SETTING LIB RUN: one run of bench-LIB into runs/SETTING-LIB-RUN.tsv, with a last line
# "others SHARE": the share of all CPUs' time that other processes used during the run
bench() {
  caps=
  [ "$1" = avx2 ] && caps="DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"
  eval "v=\$v$2"
  file=$out/runs/$1-$2-$3.tsv
  before=$(busy)
  # shellcheck disable=SC2086
  env OMP_NUM_THREADS="$THREADS" $caps "$out/bench-$2" >"$file"
  share=$(echo "$before $(busy) $(awk -F '\t' '$1 == "cpu" { print $2 }' "$file") $cpus" |
    awk '{ printf "%.3f %.0f", ($3 - $1 - $5) / (($4 - $2) * $6), $4 - $2 }')
  printf 'others\t%s\n' "${share% *}" >>"$file"
  echo "onednn-compare: $1, oneDNN $v, run $3 of $RUNS: ${share#* } s; other processes used" \
    "$(echo "$share" | awk '{ printf "%.0f", 100 * $1 }')% of the CPUs meanwhile" >&2
}

rm -rf "$out/runs"
mkdir -p "$out/runs"
echo "onednn-compare: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for setting in native avx2; do
  r=1
  while [ "$r" -le "$RUNS" ]; do
    bench "$setting" 2 "$r"
    bench "$setting" 3 "$r"
    r=$((r + 1))
  done
done
echo "onednn-compare: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$PYTHON" - "$out/runs" "$RUNS" "$THREADS" "$prefix" >"$out/results.md" <<'EOF'
import collections, glob, os, statistics, sys

runs_dir, runs, threads, prefix = sys.argv[1:5]
OPS = ("fwd", "bwd_d", "bwd_w")
SETTINGS = (("native", "Native ISA"),
            ("avx2", "ISA capped to AVX2 (DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)"))


class Lib:
    """One build's runs in one setting: per (net, layer, algorithm) and operation, the time of
    each run (None: unavailable; no entry: not run) and the implementations."""

    def __init__(self, setting, lib):
        self.times = collections.defaultdict(lambda: [[] for _ in OPS])
        self.impls = collections.defaultdict(lambda: [set() for _ in OPS])
        self.order, self.info, self.why, self.others = [], {}, set(), []
        for path in sorted(glob.glob(os.path.join(runs_dir, "%s-%s-*.tsv" % (setting, lib)))):
            for line in open(path):
                f = line.rstrip("\n").split("\t")
                if f[0] in ("version", "isa"):
                    self.info[f[0]] = f[1]
                elif f[0] == "others":
                    self.others.append(float(f[1]))
                elif f[0] == "row":
                    self.add(tuple(f[1:4]), f[4:7], f[7:10])
        self.name = ".".join(self.info["version"].split(".")[:2])

    def add(self, key, times, impls):
        if key not in self.order:
            self.order.append(key)
        for i, (ms, impl) in enumerate(zip(times, impls)):
            if ms == "-":
                continue
            if ms == "unavailable":
                self.why.add(impl.split(": ", 1)[-1])
                self.times[key][i].append(None)
                self.impls[key][i].add("unavailable")
            else:
                self.times[key][i].append(float(ms))
                self.impls[key][i].add(impl)

    def median(self, key, i):
        """The median over the runs, "n/a" where not run, "unavailable" where any run had none."""
        t = self.times[key][i] if key in self.times else []
        if not t:
            return "n/a"
        if None in t:
            return "unavailable"
        return statistics.median(t)

    def impl(self, key):
        names = ["/".join(sorted(s)) or "n/a" for s in self.impls[key]]
        if all(n in ("unavailable", "n/a") for n in names):
            return "unavailable"
        return " / ".join(names)

    def run_sum(self, net, alg, run):
        return sum(t[run] for (n, _, a), ops in self.times.items() if (n, a) == (net, alg)
                   for t in ops if t and t[run] is not None)


def cell(x):
    return "%.2f" % x if isinstance(x, float) else x


def ratio(a, b):
    return "%.2f" % (a / b) if isinstance(a, float) and isinstance(b, float) else "-"


def sum_cell(lib, net, alg):
    """The median sum over the net's operations with ALG: Winograd falls back to direct per
    operation where it is unavailable (said in the cell); "unavailable" where no operation has
    it. Returns (number or None, text)."""
    total, fallbacks, ops = 0.0, 0, 0
    for key in lib.order:
        if key[0] != net or key[2] != "direct":
            continue
        for i in range(len(OPS)):
            direct, own = lib.median(key, i), lib.median((net, key[1], alg), i)
            if direct == "n/a":
                continue
            ops += 1
            if isinstance(own, float):
                total += own
            elif isinstance(direct, float) and alg != "direct":
                total += direct
                fallbacks += 1
            else:
                return None, "unavailable"
    if fallbacks == ops:
        return None, "unavailable"
    text = "%.1f" % total
    if alg == "direct" and int(runs) > 1:
        sums = [lib.run_sum(net, alg, r) for r in range(int(runs))]
        text += " (runs %.1f-%.1f)" % (min(sums), max(sums))
    if fallbacks:
        text += " (direct for %d of %d ops)" % (fallbacks, ops)
    return total, text


def cpu():
    model, avx512f = "unknown", False
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and model == "unknown":
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            avx512f = avx512f or "avx512f" in line.split(":", 1)[1].split()
    return model, avx512f


def table(setting, title):
    old, new = Lib(setting, 2), Lib(setting, 3)
    a, b = old.name, new.name
    print("### %s (effective ISA: %s %s, %s %s)\n" %
          (title, a, old.info["isa"], b, new.info["isa"]))
    head = ["net", "layer", "alg"]
    for op in OPS:
        head += ["%s %s" % (op, a), "%s %s" % (op, b), "ratio"]
    head += ["impl %s (fwd / bwd_d / bwd_w)" % a, "impl %s (fwd / bwd_d / bwd_w)" % b]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in old.order:
        row = list(key)
        for i in range(len(OPS)):
            x, y = old.median(key, i), new.median(key, i)
            row += [cell(x), cell(y), ratio(x, y)]
        row += [old.impl(key), new.impl(key)]
        print("| " + " | ".join(row) + " |")
    print("\nSums of fwd + bwd_d + bwd_w in ms (Winograd: direct where it is unavailable):\n")
    print("| layers | %s direct | %s direct | ratio | %s Winograd | %s Winograd / %s direct "
          "| %s Winograd |" % (a, b, a, a, b, b))
    print("|---|---|---|---|---|---|---|")
    for net in sorted({k[0] for k in old.order}, key=[k[0] for k in old.order].index):
        layers = [k[1] for k in old.order if k[0] == net and k[2] == "direct"]
        (d2, t_d2), (d3, t_d3) = sum_cell(old, net, "direct"), sum_cell(new, net, "direct")
        (w2, t_w2), (_, t_w3) = sum_cell(old, net, "winograd"), sum_cell(new, net, "winograd")
        print("| %s (%s) | %s | %s | %s | %s | %s | %s |" %
              (net, ", ".join(layers), t_d2, t_d3, ratio(d2, d3), t_w2, ratio(w2, d3), t_w3))
    notes = ["- unavailable in %s: %s" % (lib.name, why)
             for lib in (old, new) for why in sorted(lib.why)]
    print("\n" + "\n".join(notes) + "\n" if notes else "")


old = Lib("native", 2)
new = Lib("native", 3)
model, avx512f = cpu()
print("## oneDNN %s (system) against %s (%s): 3x3 convolutions\n" %
      (old.info["version"], new.info["version"], prefix))
print("- CPU: %s, %d cores; avx512f: %s" % (model, os.cpu_count(), "yes" if avx512f else "no"))
print("- fp32, batch 128, format_tag::any, forward_training; OMP_NUM_THREADS=%s; padding 1." %
      threads)
print("- Times in ms: the median over %s run(s) of each (alternating %s, %s) of each run's median "
      "of 7 after 1 warm-up. ratio = %s / %s (above 1: %s faster). n/a: not run (conv4's first "
      "layer needs no backward data)." %
      (runs, old.name, new.name, old.name, new.name, new.name))
others = [(max(Lib(s, lib).others), s, lib) for s, _ in SETTINGS for lib in (2, 3)]
worst = max(others)
print("- Other processes used at most %.0f%% of the CPUs during a run (%s, %s)%s\n" %
      (100 * worst[0], worst[1], old.name if worst[2] == 2 else new.name,
       "" if worst[0] < 0.05 else ": **over 5%, the times are not to be trusted; run again on "
       "an idle machine**"))
for setting, title in SETTINGS:
    table(setting, title)
EOF
cat "$out/results.md"
