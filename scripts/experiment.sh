#!/bin/sh
# scripts/experiment.sh FIGURE: one of the paper's CIFAR-10 experiments (Ramanujan et al. 2020),
# run on Fashion-MNIST (default) or on CIFAR-10 itself (DATA=cifar10:DIR, with the official
# small-scale recipe, popup-train --preset cifar) with the built tools: figure3 (accuracy against k for conv2/4/6),
# figure4 (against width for conv4/6), figure6 (edge-popup against Zhou et al.'s supermask,
# accuracy against the fraction of weights kept), figure7 (against k per weight distribution).
# Writes build/experiments/FIGURE/: per run NAME.mask, NAME.jsonl (popup-train --log),
# NAME.eval.json (popup-eval --json), NAME.done; then results.tsv, results.md and the PNGs.
# A run whose .done file records the same command is skipped, so an interrupted target
# resumes. Driven by examples/Makefile (make -C examples figure3); see examples/README.md.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PYTHON=${PYTHON:-/usr/bin/python3}
bin=$BUILD/bin

usage() {
  cat <<EOF
usage: scripts/experiment.sh figure3|figure4|figure6|figure7|plan FIGURE

  figure3  test accuracy against k (0.1 ... 0.9) for conv2, conv4, conv6 (signed-constant)
  figure4  test accuracy against width (0.25, 0.5, 1, 2) for conv4, conv6 at k = 0.5
  figure6  edge-popup (k 0.1 ... 0.9) against the supermask of Zhou et al. (--score-init in
           SCORE_INITS) for conv2, conv4, conv6: accuracy against the fraction of weights kept
  figure7  test accuracy against k per weight distribution, conv4 (and conv6 with FULL=1)
  plan F   only print what FIGURE F would run and how long it should take

Variables (environment): EPOCHS, LIMIT_TRAIN, LIMIT_TEST (0: all images), SEEDS (list),
THREADS, FULL=1 (the paper's schedule: all images, 100 epochs), ARCHS, KS, WIDTHS (lists),
DATA (fashion-mnist[:DIR], default, or cifar10:DIR: the paper's data set and --preset cifar),
BUILD (default build), OUT (default BUILD/experiments/FIGURE), DENSE=0 (no dense baseline),
SCORE_INITS (figure6's supermask logits, default '-1 0 1'), SUPERMASK=0 (no supermask point in
figure3).
EOF
}

die_usage() {
  echo "experiment: error: $1" >&2
  echo "run 'scripts/experiment.sh --help' for usage" >&2
  exit 2
}

plan_only=0
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  plan) plan_only=1; shift ;;
esac
[ $# -eq 1 ] || die_usage "expected one figure: figure3, figure4, figure6 or figure7"
figure=$1
case $figure in figure3 | figure4 | figure6 | figure7) ;; *) die_usage "unknown figure '$figure'" ;; esac

# ---- settings ----------------------------------------------------------------------------
FULL=${FULL:-0}
if [ "$FULL" = 1 ]; then
  # the paper's schedule for the conv nets (official configs/smallscale: 100 epochs, SGD lr 0.1
  # with cosine, momentum 0.9, weight decay 1e-4, batch 128 = popup-train's defaults), all data
  EPOCHS=${EPOCHS:-100} LIMIT_TRAIN=${LIMIT_TRAIN:-0} LIMIT_TEST=${LIMIT_TEST:-0}
else
  # short: about 10 minutes per figure on a quiet 2-core machine
  EPOCHS=${EPOCHS:-3} LIMIT_TRAIN=${LIMIT_TRAIN:-5000} LIMIT_TEST=${LIMIT_TEST:-2000}
fi
SEEDS=${SEEDS:-0}
THREADS=${THREADS:-2}
DENSE=${DENSE:-1}
SUPERMASK=${SUPERMASK:-1}
SCORE_INITS=${SCORE_INITS:--1 0 1}
DATA=${DATA:-fashion-mnist}
# The data set: Fashion-MNIST keeps the commands (and .done files) it always had; CIFAR-10 adds
# its input shape to popup-init and the official small-scale recipe to popup-train (--preset
# cifar: SGD lr 0.1, cosine, momentum 0.9, weight decay 1e-4, batch 128; --epochs stays ours;
# not for the supermask, whose rates are Zhou et al.'s).
case $DATA in
  fashion-mnist | fashion-mnist:?*)
    data_init="" data_train="" data_label=Fashion-MNIST train_images=60000 test_images=10000 ;;
  cifar10:?*)
    data_init="--data cifar10" data_train="--data $DATA" data_label=CIFAR-10
    train_images=50000 test_images=10000 ;;
  *) die_usage "DATA must be fashion-mnist[:DIR] or cifar10:DIR, got '$DATA'" ;;
esac
[ "$DATA" = fashion-mnist ] || data_train=${data_train:-"--data $DATA"}
is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }
for v in EPOCHS LIMIT_TRAIN LIMIT_TEST THREADS; do
  eval "val=\$$v"
  is_uint "$val" || die_usage "$v must be a whole number, got '$val'"
done
[ "$EPOCHS" -ge 1 ] || die_usage "EPOCHS must be at least 1"
[ "$THREADS" -ge 1 ] || die_usage "THREADS must be at least 1"
[ -n "$SEEDS" ] || die_usage "SEEDS is empty"
for s in $SEEDS; do is_uint "$s" || die_usage "SEEDS must be whole numbers, got '$s'"; done
case $FULL in 0 | 1) ;; *) die_usage "FULL must be 0 or 1, got '$FULL'" ;; esac
case $DENSE in 0 | 1) ;; *) die_usage "DENSE must be 0 or 1, got '$DENSE'" ;; esac
case $SUPERMASK in 0 | 1) ;; *) die_usage "SUPERMASK must be 0 or 1, got '$SUPERMASK'" ;; esac

case $figure in
  figure3 | figure6) ARCHS=${ARCHS:-conv2 conv4 conv6} KS=${KS:-0.1 0.3 0.5 0.7 0.9} WIDTHS=1 ;;
  figure4) ARCHS=${ARCHS:-conv4 conv6} KS=0.5 WIDTHS=${WIDTHS:-0.25 0.5 1 2} ;;
  figure7)
    if [ "$FULL" = 1 ]; then ARCHS=${ARCHS:-conv4 conv6} KS=${KS:-0.1 0.3 0.5 0.7 0.9}
    else ARCHS=${ARCHS:-conv4} KS=${KS:-0.3 0.5 0.7}; fi
    WIDTHS=1 ;;
esac
for a in $ARCHS; do
  case $a in conv2 | conv4 | conv6 | conv8) ;; *) die_usage "ARCHS: '$a' is not conv2/4/6/8" ;; esac
done
is_fraction() { "$PYTHON" -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v <= 1 else 1)" "$1" 2>/dev/null; }
is_positive() { "$PYTHON" -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v < 1e3 else 1)" "$1" 2>/dev/null; }
for k in $KS; do is_fraction "$k" || die_usage "KS: '$k' is not in (0, 1]"; done
for w in $WIDTHS; do is_positive "$w" || die_usage "WIDTHS: '$w' is not a positive number"; done
is_logit() { "$PYTHON" -c "import sys; v=float(sys.argv[1]); sys.exit(0 if -20 <= v <= 20 else 1)" "$1" 2>/dev/null; }
[ -n "$SCORE_INITS" ] || die_usage "SCORE_INITS is empty"
for c in $SCORE_INITS; do
  case $c in *[!0-9.+-]*) die_usage "SCORE_INITS: '$c' is not a number in [-20, 20]" ;; esac
  is_logit "$c" || die_usage "SCORE_INITS: '$c' is not a number in [-20, 20]"
done

# CIFAR-10's runs in a folder of their own (their commands differ: they never replace
# Fashion-MNIST's, and the copies between figures stay among runs on the same data)
if [ -n "$data_init" ]; then out=${OUT:-$BUILD/experiments/cifar10/$figure}
else out=${OUT:-$BUILD/experiments/$figure}; fi
for t in popup-init popup-train popup-eval popup-stats; do
  if [ ! -x "$bin/$t" ]; then
    echo "experiment: error: $bin/$t: not built (run make in $top)" >&2
    exit 1
  fi
done

# ---- the supermask (issue 7) --------------------------------------------------------------
# HOOK: Zhou et al.'s supermask, `popup-train --method supermask --score-init C` (scores are
# logits, a Bernoulli(sigmoid(s)) mask per forward, the deterministic mask s > 0 in the file, so
# its kept fraction is the density learned). figure6 trains it for every C of SCORE_INITS and
# needs it; figure3 adds the C = 0 run of each architecture as one point at its final density
# when this popup-train has it (its --help names --method supermask and --score-init), unless
# SUPERMASK=0. The weights are edge-popup's: signed-constant, unscaled.
supermask_why="popup-train has no --method supermask"
supermask_available() {
  case $figure in figure3 | figure6) ;; *) return 1 ;; esac
  supermask_why="SUPERMASK=0"
  [ "$figure" = figure6 ] || [ "$SUPERMASK" = 1 ] || return 1
  supermask_why="popup-train has no --method supermask with --score-init"
  help=$("$bin/popup-train" --help 2>/dev/null) || return 1
  echo "$help" | grep -- '--method' | grep -q 'supermask' && echo "$help" | grep -q -- '--score-init'
}
supermask=0
if supermask_available; then
  supermask=1
elif [ "$figure" = figure6 ]; then
  echo "experiment: error: figure6 needs the supermask: $supermask_why" >&2
  exit 1
fi
[ "$figure" = figure6 ] && supermask_inits=$SCORE_INITS || supermask_inits=0

# ---- the runs: NAME ARCH WIDTH DISTRIBUTION INIT SCALED K SEED METHOD SCORE_INIT ----------
# (tab-separated; DISTRIBUTION is the legend text, e.g. "signed-constant (scaled)"; METHOD
# edge-popup or supermask; K and SCORE_INIT are - where the method has none)
tab=$(printf '\t')
plan_rows() {
  for seed in $SEEDS; do
    if [ "$figure" = figure4 ]; then
      # the narrow nets of every architecture first: the width-2 runs take longest
      for w in $WIDTHS; do
        for arch in $ARCHS; do
          printf '%s\t%s\t%s\tsigned-constant\tsigned-constant\t0\t0.5\t%s\tedge-popup\t-\n' \
            "$arch-w$w-s$seed" "$arch" "$w" "$seed"
        done
      done
      continue
    fi
    for arch in $ARCHS; do
      case $figure in
        figure3 | figure6)
          for k in $KS; do
            printf '%s\t%s\t1\tsigned-constant\tsigned-constant\t0\t%s\t%s\tedge-popup\t-\n' \
              "$arch-k$k-s$seed" "$arch" "$k" "$seed"
          done ;;
        figure7)
          for k in $KS; do
            # signed-constant after its scaled variant: by then figure3's identical run may be done
            for d in kaiming-normal:0 kaiming-normal:1 signed-constant:1 signed-constant:0 \
                     xavier-normal:0 kaiming-uniform:0; do
              init=${d%:*} scaled=${d#*:}
              if [ "$scaled" = 1 ]; then label="$init (scaled)" name=$init-scaled
              else label=$init name=$init; fi
              printf '%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\tedge-popup\t-\n' \
                "$arch-$name-k$k-s$seed" "$arch" "$label" "$init" "$scaled" "$k" "$seed"
            done
          done ;;
      esac
    done
    # the supermask runs after every architecture's edge-popup runs (figure6: all may be copies)
    if [ "$supermask" = 1 ]; then
      for arch in $ARCHS; do
        for c in $supermask_inits; do
          printf '%s\t%s\t1\tsigned-constant\tsigned-constant\t0\t-\t%s\tsupermask\t%s\n' \
            "$arch-supermask-c$c-s$seed" "$arch" "$seed" "$c"
        done
      done
    fi
  done
}

# The command of one run (without --threads, which changes no result); the .done file holds it.
run_command() {  # ARCH WIDTH INIT SCALED K SEED METHOD SCORE_INIT
  spec=$1
  [ "$2" = 1 ] || spec="$1:width=$2"
  scale=""
  [ "$4" = 1 ] && scale="--scale --k $5"
  if [ "$7" = supermask ]; then train="--method supermask --score-init $8"
  else train="--k $5"; [ -n "$data_init" ] && train="--preset cifar $train"; fi
  echo "popup-init --arch $spec $data_init --init $3 $scale --seed $6 --recipe |" \
    "popup-train $data_train $train --epochs $EPOCHS --limit-train $LIMIT_TRAIN" \
    "--limit-test $LIMIT_TEST --seed $6" | tr -s ' '
}

is_done() {  # NAME COMMAND
  [ -s "$out/$1.mask" ] && [ -s "$out/$1.eval.json" ] && [ -s "$out/$1.done" ] &&
    [ "$(head -n 1 "$out/$1.done")" = "$2" ]
}

# Rough seconds of one run on a quiet 2-core machine: training images/s of make bench
# (conv4 587, conv6 442; conv2 about 750), about width^2 slower for wider nets, evaluation
# of the test images after every epoch about 4x faster than training, 2 s of start-up.
# CIFAR-10's 3x32x32 images: about 1.6x the work per image of 1x28x28 (the first layer and the
# 8x8 / 4x4 / 2x2 feature maps of the dense layers), hence the factor below (an estimate).
estimate() {  # ARCH WIDTH
  "$PYTHON" - "$1" "$2" "$EPOCHS" "$LIMIT_TRAIN" "$LIMIT_TEST" "$THREADS" "$train_images" \
    "$test_images" "$data_label" <<'EOF'
import sys
arch, w = sys.argv[1], float(sys.argv[2])
epochs, lt, lte, threads, n_train, n_test = map(int, sys.argv[3:9])
rate = {"conv2": 750, "conv4": 560, "conv6": 440, "conv8": 350}[arch] * min(threads, 2) / 2
if sys.argv[9] == "CIFAR-10":
    rate /= 1.6
cost = 0.15 + 0.85 * w * w
train, test = lt or n_train, lte or n_test
print(round((train * epochs + test * (epochs + 1) / 4) * cost / rate + 2))
EOF
}

human() {  # SECONDS
  if [ "$1" -ge 7200 ]; then echo "$(($1 / 3600)) h $((($1 % 3600) / 60)) min"
  elif [ "$1" -ge 120 ]; then echo "$((($1 + 30) / 60)) min"
  else echo "$1 s"; fi
}

# reusable COMMAND EXT: prints a finished run of COMMAND in a sibling figure's folder, if any
# (figure4's width-1 runs and figure7's signed-constant ones are figure3's runs).
reusable() {
  for src_done in "$(dirname "$out")"/*/*.done; do
    src=${src_done%.done}
    [ "$(dirname "$src")" != "$out" ] || continue
    [ -s "$src.$2" ] && [ -s "$src.jsonl" ] && [ -s "$src.eval.json" ] || continue
    [ "$(head -n 1 "$src_done")" = "$1" ] || continue
    echo "$src"
    return 0
  done
  return 1
}

# reuse NAME COMMAND EXT: copies that run instead of training it again
reuse() {
  src=$(reusable "$2" "$3") || return 1
  for ext in "$3" jsonl eval.json; do
    cp "$src.$ext" "$out/$1.$ext.tmp"
    mv "$out/$1.$ext.tmp" "$out/$1.$ext"
  done
  { head -n 2 "$src.done"; echo "copied from $src"; } >"$out/$1.done.tmp"
  mv "$out/$1.done.tmp" "$out/$1.done"
  echo "same run as $(basename "$(dirname "$src")")/$(basename "$src"): copied"
}

# ---- the dense baseline (issue 7) ---------------------------------------------------------
# HOOK: the learned dense-weights baseline, `popup-train --method dense` (writes a weights file).
# When this popup-train has it (its --help names it and a 16-image probe trains), figure3 (and
# figure6, which copies figure3's) also trains each architecture's dense network once per seed
# (kaiming-normal weights, the same schedule, popup-train's learning rate for dense unless
# DENSE_LR is set; the official dense baselines use 0.01) and draws its test accuracy as a
# dashed horizontal line in the series' colour. DENSE=0 turns it off.
dense_why="popup-train has no --method dense yet"
dense_available() {
  case $figure in figure3 | figure6) ;; *) return 1 ;; esac
  dense_why="DENSE=0"
  [ "$DENSE" = 1 ] || return 1
  dense_why="popup-train has no --method dense yet"
  "$bin/popup-train" --help 2>/dev/null | grep -- '--method' | grep -q 'dense' || return 1
  probe=$(mktemp -d)
  if "$bin/popup-init" --arch fc --recipe -o "$probe/r" 2>"$probe/err" &&
    "$bin/popup-train" "$probe/r" --method dense --epochs 1 --limit-train 16 --limit-test 16 \
      --threads 1 --quiet -o "$probe/w" 2>"$probe/err" </dev/null; then
    rm -rf "$probe"
    return 0
  fi
  dense_why="popup-train --method dense does not train yet: $(head -n 1 "$probe/err")"
  rm -rf "$probe"
  return 1
}
dense_rows() {
  for seed in $SEEDS; do
    for arch in $ARCHS; do printf '%s\t%s\n' "dense-$arch-s$seed" "$arch"; done
  done
}
dense_command() {  # ARCH SEED
  lr=""
  [ -n "${DENSE_LR:-}" ] && lr="--lr $DENSE_LR"
  # CIFAR-10: the official dense SGD baseline (configs/smallscale_baselines/dense) is the
  # small-scale recipe at lr 0.01
  [ -n "$data_init" ] && [ -z "$lr" ] && lr="--preset cifar --lr 0.01"
  echo "popup-init --arch $1 $data_init --init kaiming-normal --seed $2 --recipe |" \
    "popup-train $data_train --method dense $lr --epochs $EPOCHS --limit-train $LIMIT_TRAIN" \
    "--limit-test $LIMIT_TEST --seed $2" | tr -s ' '
}

# ---- plan ---------------------------------------------------------------------------------
plan_tmp=$(mktemp)
trap 'rm -f "$plan_tmp"' EXIT
plan=$plan_tmp
{
  printf 'run\tarch\twidth\tdistribution\tinit\tscaled\tk\tseed\tmethod\tscore_init\n'
  plan_rows
} >"$plan"

total=0 todo=0 todo_s=0
while IFS=$tab read -r name arch width dist init scaled k seed method sinit; do
  [ "$name" = run ] && continue
  total=$((total + 1))
  cmd=$(run_command "$arch" "$width" "$init" "$scaled" "$k" "$seed" "$method" "$sinit")
  if ! is_done "$name" "$cmd"; then
    todo=$((todo + 1))
    reusable "$cmd" mask >/dev/null || todo_s=$((todo_s + $(estimate "$arch" "$width")))
  fi
done <"$plan"
dense=0
dense_done() {  # NAME COMMAND
  [ -s "$out/$1.weights" ] && [ -s "$out/$1.eval.json" ] && [ -s "$out/$1.done" ] &&
    [ "$(head -n 1 "$out/$1.done")" = "$2" ]
}
if dense_available; then
  dense=1
  for arch in $ARCHS; do
    for seed in $SEEDS; do
      cmd=$(dense_command "$arch" "$seed")
      dense_done "dense-$arch-s$seed" "$cmd" || reusable "$cmd" weights >/dev/null ||
        todo_s=$((todo_s + $(estimate "$arch" 1)))
    done
  done
fi

shown_train=$LIMIT_TRAIN shown_test=$LIMIT_TEST
[ "$LIMIT_TRAIN" = 0 ] && shown_train="all $train_images"
[ "$LIMIT_TEST" = 0 ] && shown_test="all $test_images"
case $figure in
  figure3) what="test accuracy against k, $(echo $ARCHS | tr ' ' ','), k in {$(echo $KS | tr ' ' ',')}" ;;
  figure6) what="edge-popup against the supermask (Zhou et al.), test accuracy against the fraction of weights kept, $(echo $ARCHS | tr ' ' ','), k in {$(echo $KS | tr ' ' ',')}, score-init in {$(echo $SCORE_INITS | tr ' ' ',')}" ;;
  figure4) what="test accuracy against width, $(echo $ARCHS | tr ' ' ','), width in {$(echo $WIDTHS | tr ' ' ',')}, k 0.5" ;;
  figure7) what="test accuracy against k per weight distribution, $(echo $ARCHS | tr ' ' ','), k in {$(echo $KS | tr ' ' ',')}" ;;
esac
echo "experiment $figure: $what"
plural() { if [ "$1" = 1 ]; then echo "$1 $2"; else echo "$1 ${2}s"; fi; }
echo "  data: $DATA$([ -n "$data_init" ] && echo ' (popup-train --preset cifar, the official small-scale recipe)')"
echo "  schedule: $(plural "$EPOCHS" epoch), $shown_train training images, $shown_test test images," \
  "seeds {$(echo $SEEDS | tr ' ' ',')}, $(plural "$THREADS" thread)$([ "$FULL" = 1 ] && echo ' (FULL=1: the paper'"'"'s schedule)')"
echo "  runs: $total, of which $((total - todo)) already done; to run: $todo," \
  "about $(human "$todo_s") on a quiet 2-core machine"
case $figure in figure3 | figure6)
  if [ "$dense" = 1 ]; then echo "  dense baseline: popup-train --method dense, one run per architecture and seed"
  else echo "  dense baseline: not drawn ($dense_why)"; fi
  if [ "$supermask" = 1 ]; then
    echo "  supermask: popup-train --method supermask --score-init C, C in {$(echo $supermask_inits | tr ' ' ',')}, one run per architecture, C and seed"
  else echo "  supermask: not drawn ($supermask_why)"; fi ;;
esac
echo "  output: $out"
if [ "$plan_only" = 1 ]; then
  echo "  commands (popup-train also gets --threads, --quiet, --log and -o; popup-eval --json each mask):"
  while IFS=$tab read -r name arch width dist init scaled k seed method sinit; do
    [ "$name" = run ] && continue
    echo "    $name: $(run_command "$arch" "$width" "$init" "$scaled" "$k" "$seed" "$method" "$sinit")"
  done <"$plan"
  if [ "$dense" = 1 ]; then
    dense_rows | while IFS=$tab read -r name arch; do
      echo "    $name: $(dense_command "$arch" "${name##*-s}")"
    done
  fi
  exit 0
fi
mkdir -p "$out"
cp "$plan" "$out/plan.tsv.tmp"
mv "$out/plan.tsv.tmp" "$out/plan.tsv"
plan=$out/plan.tsv

# ---- run ----------------------------------------------------------------------------------
started=$(date +%s)
i=0
# fd 3 carries the plan, so the tools' standard input is not the loop's
while IFS=$tab read -r name arch width dist init scaled k seed method sinit <&3; do
  [ "$name" = run ] && continue
  cmd=$(run_command "$arch" "$width" "$init" "$scaled" "$k" "$seed" "$method" "$sinit")
  is_done "$name" "$cmd" && continue
  i=$((i + 1))
  printf '[%d/%d] %s: ' "$i" "$todo" "$name"
  rm -f "$out/$name.jsonl" "$out/$name.eval.json" "$out/$name.done" "$out/$name.mask"
  reuse "$name" "$cmd" mask && continue
  t0=$(date +%s)
  # the command recorded in .done, with the tools' paths and --threads added
  sh -c "$(echo "$cmd" | sed "s|popup-init|'$bin/popup-init'|; s|popup-train|'$bin/popup-train' --threads $THREADS --quiet --log '$out/$name.jsonl' -o '$out/$name.mask'|")"
  "$bin/popup-eval" --json --limit "$LIMIT_TEST" --threads "$THREADS" "$out/$name.mask" \
    >"$out/$name.eval.json.tmp"
  mv "$out/$name.eval.json.tmp" "$out/$name.eval.json"
  t1=$(date +%s)
  printf '%s\nseconds %d\n' "$cmd" "$((t1 - t0))" >"$out/$name.done.tmp"
  mv "$out/$name.done.tmp" "$out/$name.done"
  "$PYTHON" -c 'import json,sys; print("test accuracy %.2f%% (%s s)" % (100 * json.load(open(sys.argv[1]))["top1"], sys.argv[2]))' \
    "$out/$name.eval.json" "$((t1 - t0))"
done 3<"$plan"

if [ "$dense" = 1 ]; then
  dense_rows | while IFS=$tab read -r name arch; do
    seed=${name##*-s}
    cmd=$(dense_command "$arch" "$seed")
    dense_done "$name" "$cmd" && continue
    printf 'dense baseline %s: ' "$name"
    rm -f "$out/$name.jsonl" "$out/$name.eval.json" "$out/$name.done" "$out/$name.weights"
    reuse "$name" "$cmd" weights && continue
    t0=$(date +%s)
    sh -c "$(echo "$cmd" | sed "s|popup-init|'$bin/popup-init'|; s|popup-train|'$bin/popup-train' --threads $THREADS --quiet --log '$out/$name.jsonl' -o '$out/$name.weights'|")" </dev/null
    "$bin/popup-eval" --json --limit "$LIMIT_TEST" --threads "$THREADS" "$out/$name.weights" \
      >"$out/$name.eval.json.tmp"
    mv "$out/$name.eval.json.tmp" "$out/$name.eval.json"
    printf '%s\nseconds %d\n' "$cmd" "$(($(date +%s) - t0))" >"$out/$name.done"
    "$PYTHON" -c 'import json,sys; print("test accuracy %.2f%%" % (100 * json.load(open(sys.argv[1]))["top1"]))' \
      "$out/$name.eval.json"
  done
fi
[ "$i" -gt 0 ] && echo "experiment $figure: $i runs in $(human $(($(date +%s) - started)))"

# ---- results.tsv, results.md, plots -------------------------------------------------------
FIGURE=$figure OUT_DIR=$out DENSE_ON=$dense EPOCHS=$EPOCHS LIMIT_TRAIN=$LIMIT_TRAIN \
  LIMIT_TEST=$LIMIT_TEST SEEDS=$SEEDS THREADS=$THREADS STATS="$bin/popup-stats" \
  DATA_LABEL=$data_label "$PYTHON" "$top/scripts/experiment_table.py"

# plots: the figure, and the accuracy per epoch of a few runs
plot() { "$PYTHON" "$top/scripts/plot.py" "$@"; }
# plot_kept TITLE PNG [--hline ...]: accuracy against the fraction of weights kept, a marker
# style per method (edge-popup's k per layer, the supermask's learned density)
plot_kept() {
  title=$1 png=$2
  shift 2
  plot table "$out/results.tsv" --x kept --y test_acc --series arch --style method "$@" \
    --xtics "$ks_tics" --key 'outside right top' --width 1100 \
    --xlabel 'fraction of weights kept (edge-popup: k per layer; supermask: density learned)' \
    --ylabel 'test accuracy (%)' --title "$title" -o "$png"
}
settings="$(plural "$EPOCHS" epoch), $shown_train train / $shown_test test images"
first_seed=$(echo "$SEEDS" | cut -d' ' -f1)
ks_tics=$(echo $KS | tr ' ' ',')
case $figure in
  figure3)
    set --
    if [ "$dense" = 1 ]; then
      while IFS=$tab read -r a v; do
        [ "$a" = arch ] || set -- "$@" --hline "$a dense=$v"
      done <"$out/dense.tsv"
    fi
    if [ "$supermask" = 1 ]; then
      # the supermask's run with score-init 0: one point per architecture at its final density
      plot_kept "Figure 3 on $data_label: edge-popup, supermask score-init 0, signed-constant ($settings)" \
        "$out/figure3.png" "$@"
    else
      plot table "$out/results.tsv" --x k --y test_acc --series arch "$@" \
        --xlabel 'k (fraction of weights kept per layer)' --ylabel 'test accuracy (%)' \
        --title "Figure 3 on $data_label: edge-popup, signed-constant ($settings)" \
        -o "$out/figure3.png"
    fi
    set --
    for a in $ARCHS; do set -- "$@" "$out/$a-k0.5-s$first_seed.jsonl"; done
    for a in $ARCHS; do set -- "$@" --label "$a k 0.5"; done
    case " $KS " in *" 0.5 "*)
      plot epochs "$@" --metric both --title "Figure 3 runs at k 0.5: accuracy per epoch" \
        --key 'outside right top' --width 1000 \
        -o "$out/epochs.png" ;;
    esac ;;
  figure6)
    set --
    if [ "$dense" = 1 ]; then
      while IFS=$tab read -r a v; do
        [ "$a" = arch ] || set -- "$@" --hline "$a dense=$v"
      done <"$out/dense.tsv"
    fi
    plot_kept "Figure 6 on $data_label: edge-popup vs supermask (Zhou et al.), signed-constant ($settings)" \
      "$out/figure6.png" "$@"
    # the first architecture's runs per epoch: edge-popup at k 0.5 (if run) and every supermask
    a=$(echo "$ARCHS" | cut -d' ' -f1)
    set --
    case " $KS " in *" 0.5 "*) set -- "$out/$a-k0.5-s$first_seed.jsonl" ;; esac
    for c in $SCORE_INITS; do set -- "$@" "$out/$a-supermask-c$c-s$first_seed.jsonl"; done
    case " $KS " in *" 0.5 "*) set -- "$@" --label "edge-popup k 0.5" ;; esac
    for c in $SCORE_INITS; do set -- "$@" --label "supermask score-init $c"; done
    plot epochs "$@" --metric test --title "Figure 6 runs, $a: test accuracy per epoch" \
      --key 'outside right top' --width 1000 \
      -o "$out/epochs.png" ;;
  figure4)
    plot table "$out/results.tsv" --x width --y test_acc --series arch --logx \
      --xlabel 'width multiplier (log scale)' --ylabel 'test accuracy (%)' \
      --title "Figure 4 on $data_label: edge-popup, k 0.5, signed-constant ($settings)" \
      -o "$out/figure4.png"
    set --
    for a in $ARCHS; do
      for w in $WIDTHS; do set -- "$@" "$out/$a-w$w-s$first_seed.jsonl"; done
    done
    for a in $ARCHS; do
      for w in $WIDTHS; do set -- "$@" --label "$a width $w"; done
    done
    plot epochs "$@" --metric test --title "Figure 4 runs: test accuracy per epoch" \
      --key 'outside right top' --width 1000 \
      -o "$out/epochs.png" ;;
  figure7)
    for a in $ARCHS; do
      plot table "$out/results.tsv" --where "arch=$a" --x k --y test_acc --series distribution \
        --xlabel 'k (fraction of weights kept per layer)' --ylabel 'test accuracy (%)' \
        --title "Figure 7 on $data_label: $a, weight distributions ($settings)" \
        --key 'outside right top' --width 1100 \
        -o "$out/figure7-$a.png"
    done
    [ -e "$out/figure7-conv4.png" ] && cp "$out/figure7-conv4.png" "$out/figure7.png.tmp" &&
      mv "$out/figure7.png.tmp" "$out/figure7.png"
    case " $KS " in *" 0.5 "*)
      a=$(echo "$ARCHS" | cut -d' ' -f1)
      # the order and legend text of the figure, so that the colours agree
      dists="kaiming-normal kaiming-normal-scaled signed-constant-scaled signed-constant
             xavier-normal kaiming-uniform"
      set --
      for d in $dists; do set -- "$@" "$out/$a-$d-k0.5-s$first_seed.jsonl"; done
      for d in $dists; do set -- "$@" --label "$(echo "$d" | sed 's/-scaled$/ (scaled)/')"; done
      plot epochs "$@" --metric test --title "Figure 7 runs, $a k 0.5: test accuracy per epoch" \
        --key 'outside right top' --width 1000 \
        -o "$out/epochs.png" ;;
    esac ;;
esac
echo "experiment $figure: $out/results.md, $out/results.tsv, $(cd "$out" && ls ./*.png | sed 's|^\./||' | tr '\n' ' ')"
