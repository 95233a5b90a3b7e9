#!/bin/sh
# Developer-only check of popup-export with clients written apart from popup (never run by
# `make check`; tests/cli/export.test is the fast version): trains (or takes) fc, conv4 and
# resnet18 masks on Fashion-MNIST, exports each to ONNX, PyTorch and CSR, and prints one
# Markdown table: popup-eval's top-1 on the mask; OpenCV's (and onnxruntime's, when a Python
# with it is given) on the ONNX model, whether onnx.checker (full_check) accepts it; PyTorch's
# on the state_dict loaded with strict=True (scripts/pytorch-eval-export.py, which also loads
# the CSR file with scipy); each client's largest logit difference from popup-eval --logits,
# relative to the largest logit; and the sizes of the mask and of the three exports.
#
# usage: scripts/export-check.sh [NETWORK...]      NETWORK: fc, conv4, resnet18 (default: all)
# Environment:
#   BUILD         build folder holding bin/ (default: build)
#   WORK          folder for masks, exports and logs (default: export-check.work); a mask
#                 already there (WORK/NETWORK.mask) is taken, not trained again
#   PYTHON        Python with numpy, onnx and cv2 (default: /usr/bin/python3, Debian's)
#   ORT_PYTHON    a Python that also imports onnxruntime (optional; e.g. a venv made with
#                 --system-site-packages and `pip install onnxruntime`)
#   TORCH_PYTHON  a Python with torch, torchvision and scipy (default: PYTHON when it has them;
#                 else the PyTorch column says "-")
#   TRAIN_fc, TRAIN_conv4, TRAIN_resnet18   popup-train options for each network (defaults
#                 below: short runs, since the check is about agreement, not accuracy)
#   LIMIT_fc, LIMIT_conv4, LIMIT_resnet18   test images evaluated (0: all 10000; default 0)
# Exit status: 0 when every client agrees with popup-eval to within 0.05 points of top-1 and
# the checker accepts every model, else 1.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
bin=$BUILD/bin
WORK=${WORK:-export-check.work}
PYTHON=${PYTHON:-/usr/bin/python3}
ORT_PYTHON=${ORT_PYTHON:-}
if [ -z "${TORCH_PYTHON:-}" ] && "$PYTHON" -c 'import torch, torchvision, scipy' 2>/dev/null; then
  TORCH_PYTHON=$PYTHON
fi
TORCH_PYTHON=${TORCH_PYTHON:-}
: "${TRAIN_fc:=--epochs 1}"
: "${TRAIN_conv4:=--epochs 1 --limit-train 10000}"
: "${TRAIN_resnet18:=--epochs 1 --limit-train 2000 --batch-size 128}"
networks=${*:-fc conv4 resnet18}
mkdir -p "$WORK" || exit 1
cd "$WORK" || exit 1
log=commands.log
: >"$log"
status=0

# say CMD...: runs CMD, logging it; stops the script when it fails.
say() {
  echo "$*" >>"$log"
  "$@" || { echo "export-check.sh: failed: $*" >&2; exit 1; }
}
size() { wc -c <"$1" | awk '{ if ($1 < 1e6) printf "%.1f kB", $1 / 1e3; else printf "%.2f MB", $1 / 1e6 }'; }
# within A B: the two percentages differ by at most 0.05 points.
within() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d <= 0.05 && d >= -0.05) }'; }

rows=""
for net in $networks; do
  case $net in
    fc) train=$TRAIN_fc limit=${LIMIT_fc:-0} ;;
    conv4) train=$TRAIN_conv4 limit=${LIMIT_conv4:-0} ;;
    resnet18) train=$TRAIN_resnet18 limit=${LIMIT_resnet18:-0} ;;
    *) echo "export-check.sh: no network $net (fc, conv4, resnet18)" >&2; exit 2 ;;
  esac
  echo "== $net" >&2
  if [ ! -s $net.mask ]; then
    say "$bin/popup-init" --arch $net --init signed-constant --seed 1 --recipe -o $net.recipe
    # shellcheck disable=SC2086  # the options are words
    say "$bin/popup-train" $net.recipe $train --quiet -o $net.mask
  fi
  say "$bin/popup-export" $net.mask -o $net.onnx
  say "$bin/popup-export" $net.mask --format torch -o $net.safetensors
  say "$bin/popup-export" $net.mask --format csr -o $net.csr.safetensors
  say "$bin/popup-eval" $net.mask --limit $limit --json --logits $net.logits >$net.eval.json
  popup=$("$PYTHON" -c 'import json, sys; print("%.2f" % (100 * json.load(open(sys.argv[1]))["top1"]))' $net.eval.json)

  # OpenCV (and onnxruntime): the checker, top-1, and logits against popup-eval's.
  runner=$PYTHON
  [ -n "$ORT_PYTHON" ] && runner=$ORT_PYTHON
  echo "$runner $top/scripts/onnx-eval.py $net.onnx --limit $limit --compare-logits $net.logits --json" >>"$log"
  "$runner" "$top/scripts/onnx-eval.py" $net.onnx --limit $limit --compare-logits $net.logits \
    --json >$net.onnx.json 2>$net.onnx.err
  # shellcheck disable=SC2046  # four words
  set -- $("$PYTHON" - $net.onnx.json <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    print("error - - -"); sys.exit()
def top1(name):
    return "%.2f" % (100 * r[name]["top1"]) if r.get(name) else "-"
def diff(name):
    return "%.1e" % r[name]["relative"] if r.get(name) else "-"
print(r["checker"].split()[0].replace("|", "/"), top1("opencv"), top1("onnxruntime"),
      diff("opencv") + "/" + diff("onnxruntime"))
PY
)
  checker=$1 opencv=$2 ort=$3 diff=$4
  [ "$checker" = ok ] || status=1
  within "$opencv" "$popup" 2>/dev/null || status=1
  [ "$ort" = - ] || within "$ort" "$popup" || status=1

  # PyTorch, strict=True, and the CSR file through scipy.
  torch_top1=- torch_diff=-
  if [ -n "$TORCH_PYTHON" ]; then
    echo "$TORCH_PYTHON $top/scripts/pytorch-eval-export.py $net.safetensors --csr $net.csr.safetensors --source $net.mask --bin $bin --limit $limit" >>"$log"
    "$TORCH_PYTHON" "$top/scripts/pytorch-eval-export.py" $net.safetensors --csr $net.csr.safetensors \
      --source $net.mask --bin "$bin" --limit $limit >$net.torch.out 2>&1 || status=1
    torch_top1=$(sed -nE 's/.*PyTorch [^ ]* top-1 ([0-9.]+)%.*/\1/p' $net.torch.out | tail -n 1)
    torch_diff=$(sed -nE 's/.*logits differ by ([-+.e0-9]+) of the largest.*/\1/p' $net.torch.out | tail -n 1)
    [ -n "$torch_top1" ] || torch_top1=failed
    within "$torch_top1" "$popup" 2>/dev/null || status=1
  fi
  images=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["images"])' $net.eval.json)
  rows="$rows| $net | $images | $popup | $opencv | $ort | $checker | $torch_top1 | $diff/$torch_diff | $(size $net.mask) | $(size $net.onnx) | $(size $net.safetensors) | $(size $net.csr.safetensors) |
"
done

echo "| network | test images | popup-eval top-1 % | OpenCV top-1 % | onnxruntime top-1 % | onnx.checker | PyTorch strict=True top-1 % | largest logit difference / largest logit: OpenCV/onnxruntime/PyTorch | mask | .onnx | torch | csr |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s' "$rows"
echo
echo "Commands: $(pwd)/$log"
exit $status
