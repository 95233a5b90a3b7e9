#!/usr/bin/python3
# Runs a popup-export ONNX model in clients written apart from popup, on an IDX data set
# (Fashion-MNIST by default) or popup's png:DIR class folders, and reports their top-1: ONNX's own checker
# (onnx.checker.check_model, full_check: shape inference included), OpenCV's DNN module
# (cv2.dnn.readNetFromONNX) and, when it can be imported, onnxruntime. With --compare-logits
# it also compares each client's logits with popup-eval --logits's. Used by tests/cli/export.test
# and scripts/export-check.sh; needs Debian's python3-numpy, python3-onnx and python3-opencv
# (onnxruntime is on PyPI only: a venv made with --system-site-packages sees all four):
#     /usr/bin/python3 scripts/onnx-eval.py MODEL.onnx [--data DIR] [--limit N]
#         [--compare-logits LOGITS.safetensors] [--logits-out FILE.npy] [--json]
# The images are fed as the model's metadata says (formats/onnx.md): pixel / 255 as float32
# NCHW, normalised here with popup.export.mean and popup.export.std when
# popup.export.normalisation is "metadata" (the graph then has no Sub and Div nodes).
# Exit status: 0; 1 when the checker refuses the model, a client cannot run it, or a logit
# differs from the reference by more than --tolerance; 2 for a usage error.
"""Check and run a popup-export ONNX model with onnx, OpenCV and onnxruntime."""

import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
IDX_TYPES = {0x08: np.uint8}


def fail(why):
    print("onnx-eval.py: error: " + why, file=sys.stderr)
    sys.exit(1)


def idx_open(folder, stem):
    """The IDX file folder/stem, plain or gzipped (as popup's idx: reader accepts)."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path, (gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb"))
    fail("%s: no %s or %s.gz" % (folder, stem, stem))


def idx_read(folder, stem):
    path, f = idx_open(folder, stem)
    with f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        fail("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">%dI" % raw[3], raw[4:4 + 4 * raw[3]])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * raw[3])
    if data.size != int(np.prod(dims)):
        fail("%s: %d bytes of data, the header says %s" % (path, data.size, "x".join(map(str, dims))))
    return data.reshape(dims)


def png_dataset(folder, split, limit):
    """popup's png: data (DESIGN.md §6): FOLDER/train or FOLDER/test (else val)/<class>/*.png,
    classes and files in sorted order of their names; RGB as R, G, B."""
    import cv2
    sub = os.path.join(folder, split)
    if split == "test" and not os.path.isdir(sub):
        sub = os.path.join(folder, "val")
    if not os.path.isdir(sub):
        fail("%s: no %s folder" % (folder, split))
    classes = sorted(c for c in os.listdir(sub) if os.path.isdir(os.path.join(sub, c)))
    images, labels = [], []
    for label, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(sub, name))):
            if not f.lower().endswith(".png") or f.startswith("."):
                continue
            path = os.path.join(sub, name, f)
            img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if img is None or img.dtype != np.uint8:
                fail("%s: not an 8-bit PNG OpenCV reads" % path)
            if img.ndim == 2:
                img = img[:, :, None]
            else:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
            images.append(img.transpose(2, 0, 1))
            labels.append(label)
    if not images or len({i.shape for i in images}) != 1:
        fail("%s: no PNG images, or images of several sizes" % sub)
    images, labels = np.stack(images), np.array(labels, dtype=np.int64)
    return (images[:limit], labels[:limit]) if limit > 0 else (images, labels)


def dataset(data, split, limit):
    """[n, C, H, W] uint8 images and their labels, in popup's order."""
    if data.startswith("png:"):
        return png_dataset(data[4:], split, limit)
    folder = data.split(":", 1)[1] if data.startswith(("idx:", "mnist:")) else data
    prefix = "t10k" if split == "test" else "train"
    images = idx_read(folder, prefix + "-images-idx3-ubyte")
    labels = idx_read(folder, prefix + "-labels-idx1-ubyte")
    if len(images) != len(labels):
        fail("%s: %d images and %d labels" % (folder, len(images), len(labels)))
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    return images[:, None, :, :], labels.astype(np.int64)


def metadata_floats(meta, key):
    """popup.export.mean / std: a JSON array or numbers separated by commas or spaces."""
    text = meta.get(key)
    if text is None:
        fail("the model's metadata has no %s" % key)
    try:
        value = json.loads(text)
        values = value if isinstance(value, list) else [value]
    except ValueError:
        values = text.replace(",", " ").split()
    return np.array([float(v) for v in values], dtype=np.float32)


def model_inputs(model, images):
    """The batch tensor the model wants: [n, C, H, W] float32, pixel / 255, normalised here
    when the model's metadata says the graph does not."""
    meta = {p.key: p.value for p in model.metadata_props}
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    if len(shape) != 4 or list(shape[1:]) != list(images.shape[1:]):
        fail("the model's input is %s; the data set's images are %s" %
             (shape, "x".join(map(str, images.shape[1:]))))
    x = images.astype(np.float32) / np.float32(255)
    how = meta.get("popup.export.normalisation", "graph")
    if how == "metadata":
        mean = metadata_floats(meta, "popup.export.mean")
        std = metadata_floats(meta, "popup.export.std")
        x = (x - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
    elif how != "graph":
        fail("popup.export.normalisation is %r, neither graph nor metadata" % how)
    return np.ascontiguousarray(x, dtype=np.float32), meta


def run_opencv(path, x, batch):
    import cv2
    net = cv2.dnn.readNetFromONNX(path)
    out = []
    for begin in range(0, len(x), batch):
        net.setInput(x[begin:begin + batch])
        out.append(np.array(net.forward(), dtype=np.float32).reshape(len(x[begin:begin + batch]), -1))
    return np.concatenate(out)


def run_onnxruntime(path, x, batch):
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = []
    for begin in range(0, len(x), batch):
        out.append(session.run(["logits"], {"input": x[begin:begin + batch]})[0])
    return np.concatenate(out).astype(np.float32)


RUNTIMES = {"opencv": ("cv2", run_opencv), "onnxruntime": ("onnxruntime", run_onnxruntime)}


def importable(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def safetensors_read(path):
    """{name: array} of a safetensors file, checking that the tensors tile the data section.
    (popup-eval --logits files carry no popup.crc32, so tests/cli/independent_reader.py, which
    requires one, does not read them.)"""
    dtypes = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8}
    try:
        blob = open(path, "rb").read()
    except OSError as e:
        fail("%s: %s" % (path, e.strerror))
    n = struct.unpack("<Q", blob[:8])[0] if len(blob) >= 8 else -1
    if n < 0 or 8 + n > len(blob):
        fail("%s: not a safetensors file (truncated header)" % path)
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data, end, out = blob[8 + n:], 0, {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = t["data_offsets"]
        dtype = np.dtype(dtypes[t["dtype"]]).newbyteorder("<")
        if begin != end or stop - begin != dtype.itemsize * int(np.prod(t["shape"], dtype=np.int64)):
            fail("%s: tensor %s does not follow the safetensors rules" % (path, name))
        out[name] = np.frombuffer(data[begin:stop], dtype=dtype).reshape(t["shape"])
        end = stop
    if end != len(data):
        fail("%s: %d bytes of data, the tensors cover %d" % (path, len(data), end))
    return out


def reference_logits(path, labels):
    t = safetensors_read(path)
    if "logits" not in t or "labels" not in t:
        fail("%s: not a popup-eval --logits file (no logits or labels tensor)" % path)
    if len(t["labels"]) != len(labels) or not np.array_equal(t["labels"], labels):
        fail("%s: its %d labels are not those of the %d images evaluated here (same --limit?)"
             % (path, len(t["labels"]), len(labels)))
    return t["logits"].astype(np.float32)


def compare(logits, reference, tolerance):
    """Largest |difference|, beside the largest |logit| of the reference (the scale of float32
    rounding); and the examples whose top class differs, unless the reference's top two are
    within the tolerance of each other there (a tie either way)."""
    diff = np.abs(logits.astype(np.float64) - reference)
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    worst = np.unravel_index(int(diff.argmax()), diff.shape) if diff.size else (0, 0)
    ours, theirs = logits.argmax(1), reference.argmax(1)
    differ = np.nonzero(ours != theirs)[0]
    near = tolerance * max(scale, np.finfo(np.float32).tiny)
    real = [int(i) for i in differ if reference[i, theirs[i]] - reference[i, ours[i]] > near]
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0, "max_abs_logit": scale,
            "relative": float(diff.max()) / scale if scale > 0 else 0.0,
            "worst": [int(worst[0]), int(worst[1])],
            "argmax_differ": int(len(differ)), "argmax_differ_beyond_ties": len(real),
            "first_differ": real[0] if real else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a popup-export --format onnx file")
    parser.add_argument("--data", default=DATA,
                        help="a folder of IDX files (gzipped or not; idx:DIR and mnist:DIR too) or "
                             "png:DIR, popup's class folders (default %(default)s)")
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--limit", type=int, default=0, help="first N images (0: all)")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--runtime", choices=("all", "opencv", "onnxruntime"), default="all",
                        help="all: OpenCV, and onnxruntime when it can be imported")
    parser.add_argument("--logits-out", metavar="FILE", help="the first client's logits as .npy")
    parser.add_argument("--compare-logits", metavar="FILE",
                        help="popup-eval --logits output for the same images")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest |logit difference| accepted, relative to the largest "
                             "|logit| of --compare-logits (default %(default)s)")
    parser.add_argument("--no-check", action="store_true", help="skip onnx.checker")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if args.limit < 0 or args.batch_size < 1:
        parser.error("--limit must be >= 0 and --batch-size >= 1")

    import onnx
    try:
        model = onnx.load(args.model)
    except Exception as e:  # onnx raises DecodeError, OSError, ...
        fail("%s: cannot load: %s" % (args.model, str(e).splitlines()[0] if str(e) else type(e).__name__))
    report = {"model": args.model, "checker": "skipped"}
    if not args.no_check:
        try:
            onnx.checker.check_model(model, full_check=True)
            report["checker"] = "ok"
        except Exception as e:
            report["checker"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

    images, labels = dataset(args.data, args.split, args.limit)
    x, meta = model_inputs(model, images)
    report.update(images=len(labels), normalisation=meta.get("popup.export.normalisation", "graph"))
    reference = reference_logits(args.compare_logits, labels) if args.compare_logits else None

    names = list(RUNTIMES) if args.runtime == "all" else [args.runtime]
    status = 0 if report["checker"] in ("ok", "skipped") else 1
    first = None
    for name in names:
        module, runner = RUNTIMES[name]
        if not importable(module):
            if args.runtime != "all" or name == "opencv":
                fail("%s: cannot import %s" % (name, module))
            report[name] = None
            continue
        try:
            logits = runner(args.model, x, args.batch_size)
        except Exception as e:
            fail("%s: %s cannot run it: %s" % (args.model, name, str(e).strip().splitlines()[-1]))
        if logits.shape[0] != len(labels):
            fail("%s: %s gave %d rows of logits for %d images" % (args.model, name, logits.shape[0], len(labels)))
        result = {"top1": float((logits.argmax(1) == labels).mean()) if len(labels) else 0.0}
        if reference is not None:
            if reference.shape != logits.shape:
                fail("%s: %s logits are %s, the reference's %s" % (args.model, name, logits.shape, reference.shape))
            result.update(compare(logits, reference, args.tolerance))
            result["popup_top1"] = float((reference.argmax(1) == labels).mean())
            if result["relative"] > args.tolerance or result["argmax_differ_beyond_ties"]:
                status = 1
        report[name] = result
        if first is None:
            first = logits

    if args.logits_out:
        np.save(args.logits_out, first)
    if args.json:
        print(json.dumps(report))
    else:
        line = "%s: %d %s images: checker %s" % (args.model, len(labels), args.split, report["checker"])
        for name in names:
            r = report.get(name)
            if r is None:
                line += ", %s not installed" % name
                continue
            line += ", %s top-1 %.2f%%" % (name, 100 * r["top1"])
            if "max_abs_diff" in r:
                line += " (max |diff| %.3g = %.3g of the largest logit, %d argmax differ, %d beyond ties)" % (
                    r["max_abs_diff"], r["relative"], r["argmax_differ"], r["argmax_differ_beyond_ties"])
        if reference is not None:
            line += ", popup-eval top-1 %.2f%%" % (100 * float((reference.argmax(1) == labels).mean()))
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
