#!/usr/bin/env python3
"""Checks a popup-export file against the mask it came from, written apart from libpopup
(json + struct + numpy, onnx for the ONNX files), for tests/cli/export.test.

usage: export_check.py FORMAT EXPORT MASK WEIGHTS [--scores FILE] [--supermask mask|expected]
                       [--fold-bn]
FORMAT: onnx, torch or csr. WEIGHTS is `popup-init --from MASK` (the regenerated weights);
MASK may also be a weights file (then the weights are WEIGHTS, all kept). The effective
weights are computed here from the documented rules (formats/mask.md, formats/scores.md):
w * mask bits, or with --supermask expected w * sigmoid(score). Then:
  onnx:  opset 13, IR version 7, input "input" [N, C, H, W], output "logits" [N, classes], only
         the documented operators, every weight initialiser equal to the effective weights (not
         with --fold-bn: then no BatchNormalization is left), the source's popup.* keys and the
         popup.export.* keys in metadata_props;
  torch: the tensor names, shapes and order of the PyTorch module (torchvision's ResNet,
         hidden-networks' FC / ConvN, written down here), the weights equal to the effective
         weights, the BatchNorm state the mask's (gamma 1, beta 0 when not affine);
  csr:   each layer's rows rebuilt into the dense effective weights, columns increasing in a
         row, the kept count the mask's, the BatchNorm state the mask's.
Prints "ok" and exits 0, or prints the first difference and exits 1.
"""
import json
import struct
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from independent_reader import read as popup_read  # noqa: E402  (popup files: CRC checked)
sys.path.insert(0, __file__.rsplit("/", 2)[0])
import reference_generator  # noqa: E402  (formats/generation.md in Python: IteRand's redraws)

DTYPES = {"U8": np.uint8, "I32": np.int32, "I64": np.int64, "F32": np.float32}
# Keys of a popup file that an export does not carry over (it is not a popup file).
NOT_CARRIED = ("popup.kind", "popup.version", "popup.crc32")


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def safetensors(path):
    """(metadata, [(name, dtype, array)] in data order): the safetensors rules, without popup's
    CRC (an export carries none) and with I64."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    if n % 8 or 8 + n > len(blob):
        fail("%s: header length %d" % (path, n))
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    if not all(isinstance(v, str) for v in meta.values()):
        fail("%s: metadata is not string to string" % path)
    data, end, tensors = blob[8 + n:], 0, []
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = t["data_offsets"]
        dtype = np.dtype(DTYPES[t["dtype"]]).newbyteorder("<")
        if begin != end or stop - begin != dtype.itemsize * int(np.prod(t["shape"], dtype=np.int64)):
            fail("%s: tensor %s at [%d, %d), expected to start at %d" % (path, name, begin, stop, end))
        tensors.append((name, t["dtype"], np.frombuffer(data[begin:stop], dtype=dtype).reshape(t["shape"])))
        end = stop
    if end != len(data):
        fail("%s: data section %d bytes, tensors cover %d" % (path, len(data), end))
    return meta, tensors


def effective(mask_path, weights_path, scores_path, supermask):
    """The source's metadata, {weight tensor: effective weights} in network order,
    {tensor: kept count}, and its F32 state tensors (BatchNorm)."""
    meta, tensors = popup_read(mask_path)
    _, weights = popup_read(weights_path)
    w = {name: a for name, _, a in weights}
    scores = {name: a for name, _, a in popup_read(scores_path)[1]} if scores_path else {}
    out, kept, state = {}, {}, {}
    if meta["popup.kind"] == "weights":
        for name, _, a in tensors:
            if name in w and name.endswith(".weight") and a.ndim >= 2:
                out[name], kept[name] = a, a.size
            else:
                state[name] = a
        return meta, out, kept, state
    for name, dtype, a in tensors:
        if name.startswith("redraw."):  # IteRand's record: redrawn_apply below
            continue
        if dtype != "U8":
            state[name] = a
            continue
        bits = np.unpackbits(a, bitorder="little")[:w[name].size].reshape(w[name].shape)
        if supermask == "expected":
            s = scores[name].astype(np.float64)
            out[name] = (w[name] * (1 / (1 + np.exp(-s)))).astype(np.float32)
            kept[name] = w[name].size
        else:
            out[name] = w[name] * bits.astype(np.float32)
            kept[name] = int(bits.sum())
    redrawn_apply(meta, tensors, out)
    return meta, out, kept, state


def redrawn_apply(meta, tensors, out):
    """A version 2 (IteRand) mask: each recorded kept weight takes the value of its g-th redraw,
    computed by the pure-Python reference of formats/generation.md section 10."""
    arrays = {name: a for name, _, a in tensors}
    seed, init = int(meta["popup.seed"]), meta["popup.init"]
    scale_k = float(meta.get("popup.scale", "1"))
    for t, name in enumerate(out):
        index = arrays.get("redraw.%s.index" % name)
        if index is None:
            continue
        shape = out[name].shape
        receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        std = reference_generator.init_std(init, shape[1] * receptive, shape[0] * receptive, scale_k)
        flat = out[name].reshape(-1)
        for i, g in zip(index.tolist(), arrays["redraw.%s.count" % name].tolist()):
            bits = reference_generator.weight_bits(init, std, seed, t, i, g)
            flat[i] = np.array([bits], dtype=np.uint32).view(np.float32)[0]


def same(what, got, want, tolerance=0.0):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        fail("%s: shape %s, expected %s" % (what, list(got.shape), list(want.shape)))
    bad = np.abs(got.astype(np.float64) - want) > tolerance * np.maximum(np.abs(want), 1e-30)
    if tolerance == 0.0:
        bad = got != want
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fail("%s: element %d is %r, expected %r" % (what, i, got.reshape(-1)[i], want.reshape(-1)[i]))


def batchnorm_names(state):
    return sorted({k.rsplit(".", 1)[0] for k in state if k.endswith(".running_mean")})


def check_metadata(meta, source, fmt):
    for key, value in source.items():
        if key not in NOT_CARRIED and meta.get(key) != value:
            fail("metadata %s is %r, the source's %r" % (key, meta.get(key), value))
    for key in NOT_CARRIED:
        if key in meta:
            fail("metadata has %s: an export is not a popup file" % key)
    if meta.get("popup.export.format") != fmt:
        fail("popup.export.format is %r, expected %s" % (meta.get("popup.export.format"), fmt))
    classes = json.loads(meta["popup.export.classes"])
    mean, std = json.loads(meta["popup.export.mean"]), json.loads(meta["popup.export.std"])
    channels = int(source["popup.input"].split("x")[0])
    if len(classes) != int(source["popup.classes"]) or not all(isinstance(c, str) for c in classes):
        fail("popup.export.classes %r" % classes)
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        fail("popup.export.mean %r, std %r" % (mean, std))


# --- the PyTorch modules, written down from their sources ------------------------------------
def resnet_basic_names(source, blocks=(2, 2, 2, 2)):
    """torchvision's resnet18/34 state_dict, popup's CIFAR stem: [(name, shape)] in order."""
    c = int(source["popup.input"].split("x")[0])
    classes = int(source["popup.classes"])
    def bn(p, n):
        return [(p + ".weight", [n]), (p + ".bias", [n]), (p + ".running_mean", [n]),
                (p + ".running_var", [n]), (p + ".num_batches_tracked", [])]
    names = [("conv1.weight", [64, c, 3, 3])] + bn("bn1", 64)
    inplanes = 64
    for layer, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), 1):
        for b in range(count):
            p = "layer%d.%d." % (layer, b)
            names += [(p + "conv1.weight", [planes, inplanes if b == 0 else planes, 3, 3])] + bn(p + "bn1", planes)
            names += [(p + "conv2.weight", [planes, planes, 3, 3])] + bn(p + "bn2", planes)
            if b == 0 and layer > 1:
                names += [(p + "downsample.0.weight", [planes, inplanes, 1, 1])] + bn(p + "downsample.1", planes)
        inplanes = planes
    return names + [("fc.weight", [classes, 512]), ("fc.bias", [classes])]


def frankle_names(arch, popup_names):
    """hidden-networks models/frankle.py: FC's `linear` and ConvN's `convs` (conv, ReLU pairs,
    a max-pool after each pair) and `linear` (1x1 convs and ReLUs): popup name -> torch name."""
    convs = [n for n in popup_names if n.startswith("conv")]
    fcs = [n for n in popup_names if n.startswith("fc")]
    mapping, position = {}, 0
    for i, n in enumerate(convs):
        mapping[n] = "convs.%d" % position
        position += 2 + (1 if i % 2 == 1 else 0)  # conv, ReLU (, MaxPool after each pair)
    for i, n in enumerate(fcs):
        mapping[n] = "linear.%d" % (2 * i)
    return mapping


def check_torch(path, source, eff, state):
    meta, tensors = safetensors(path)
    check_metadata(meta, source, "torch")
    got = {name: a for name, _, a in tensors}
    arch = source["popup.arch"].split(":")[0]
    if arch in ("resnet18", "resnet34"):
        expected = resnet_basic_names(source, (2, 2, 2, 2) if arch == "resnet18" else (3, 4, 6, 3))
        names = [n for n, _ in expected]
        if [n for n, _, _ in tensors] != names:
            missing = sorted(set(names) - set(got))[:3]
            extra = sorted(set(got) - set(names))[:3]
            fail("tensors differ from torchvision's %s: missing %s, extra %s%s" % (
                arch, missing, extra, "" if missing or extra else " (order)"))
        for name, shape in expected:
            if list(got[name].shape) != shape:
                fail("%s: shape %s, torchvision's %s" % (name, list(got[name].shape), shape))
        for name, w in eff.items():
            same(name, got[name], w)
        same("fc.bias", got["fc.bias"], np.zeros(got["fc.bias"].shape, np.float32))
        affine = any(n.endswith(".weight") and n.rsplit(".", 1)[0] in batchnorm_names(state) for n in state)
        for bn in batchnorm_names(got):
            for stat in ("running_mean", "running_var"):
                same(bn + "." + stat, got[bn + "." + stat], state[bn + "." + stat])
            if affine:
                same(bn + ".weight", got[bn + ".weight"], state[bn + ".weight"])
                same(bn + ".bias", got[bn + ".bias"], state[bn + ".bias"])
            else:
                same(bn + ".weight", got[bn + ".weight"], np.ones_like(state[bn + ".running_mean"]))
                same(bn + ".bias", got[bn + ".bias"], np.zeros_like(state[bn + ".running_mean"]))
            if got[bn + ".num_batches_tracked"].dtype != np.int64:
                fail("%s.num_batches_tracked is not I64" % bn)
    elif arch in ("fc", "conv2", "conv4", "conv6", "conv8"):
        mapping = frankle_names(arch, list(eff))
        names = [mapping[n] + ".weight" for n in eff]
        if [n for n, _, _ in tensors] != names:
            fail("tensors %s, hidden-networks' %s has %s" % ([n for n, _, _ in tensors], arch, names))
        for name, w in eff.items():
            t = got[mapping[name] + ".weight"]
            shape = list(w.shape) + ([1, 1] if w.ndim == 2 else [])
            if list(t.shape) != shape:
                fail("%s: shape %s, expected %s" % (mapping[name], list(t.shape), shape))
            same(mapping[name], t.reshape(w.shape), w)
    else:
        fail("no check written for %s" % arch)


def check_csr(path, source, eff, kept, state):
    meta, tensors = safetensors(path)
    check_metadata(meta, source, "csr")
    got = {name: a for name, _, a in tensors}
    for name, w in eff.items():
        rows = w.shape[0]
        cols = w.size // rows
        indptr, indices, values = (got[name + ".indptr"], got[name + ".indices"], got[name + ".values"])
        if indptr.dtype != np.int64 or indices.dtype != np.int32 or values.dtype != np.float32:
            fail("%s: dtypes %s %s %s" % (name, indptr.dtype, indices.dtype, values.dtype))
        if json.loads(meta["popup.csr.%s.shape" % name]) != list(w.shape):
            fail("popup.csr.%s.shape %s, expected %s" % (name, meta["popup.csr.%s.shape" % name], list(w.shape)))
        if len(indptr) != rows + 1 or indptr[0] != 0 or indptr[-1] != len(values) or (np.diff(indptr) < 0).any():
            fail("%s.indptr is not a row pointer over %d rows" % (name, rows))
        if len(values) != kept[name]:
            fail("%s: %d values, the mask keeps %d" % (name, len(values), kept[name]))
        dense = np.zeros((rows, cols), np.float32)
        for r in range(rows):
            c = indices[indptr[r]:indptr[r + 1]]
            if (np.diff(c) <= 0).any() or (len(c) and (c[0] < 0 or c[-1] >= cols)):
                fail("%s: row %d's columns are not increasing within [0, %d)" % (name, r, cols))
            dense[r, c] = values[indptr[r]:indptr[r + 1]]
        same(name + " rebuilt from its rows", dense.reshape(w.shape), w)
    for name, a in state.items():
        same(name, got[name], a)


def check_onnx(path, source, eff, state, fold_bn):
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    if model.ir_version != 7 or [(o.domain, o.version) for o in model.opset_import] != [("", 13)]:
        fail("IR version %d, opsets %s" % (model.ir_version, model.opset_import))
    c, h, w = (int(v) for v in source["popup.input"].split("x"))
    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    graph = model.graph
    if [(i.name, shape(i)) for i in graph.input] != [("input", ["N", c, h, w])]:
        fail("inputs %s" % [(i.name, shape(i)) for i in graph.input])
    if [(o.name, shape(o)) for o in graph.output] != [("logits", ["N", int(source["popup.classes"])])]:
        fail("outputs %s" % [(o.name, shape(o)) for o in graph.output])
    ops = {n.op_type for n in graph.node}
    allowed = {"Sub", "Div", "Conv", "Gemm", "Flatten", "Relu", "MaxPool", "BatchNormalization",
               "Add", "GlobalAveragePool"}
    if ops - allowed:
        fail("operators outside formats/onnx.md's list: %s" % sorted(ops - allowed))
    meta = {p.key: p.value for p in model.metadata_props}
    check_metadata(meta, source, "onnx")
    normalisation = meta.get("popup.export.normalisation")
    if (normalisation == "graph") != ({"Sub", "Div"} <= ops):
        fail("popup.export.normalisation %s, operators %s" % (normalisation, sorted(ops)))
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    if fold_bn:
        if "BatchNormalization" in ops:
            fail("--fold-bn left BatchNormalization nodes")
        return
    if batchnorm_names(state) and "BatchNormalization" not in ops:
        fail("the source has BatchNorm, the graph none")
    for name, weight in eff.items():
        if name not in inits:
            fail("no initialiser %s" % name)
        same(name, inits[name], weight)
    for node in graph.node:
        if node.op_type == "BatchNormalization":
            mean, var = inits[node.input[3]], inits[node.input[4]]
            found = [b for b in batchnorm_names(state)
                     if np.array_equal(state[b + ".running_mean"], mean) and np.array_equal(state[b + ".running_var"], var)]
            eps = [a.f for a in node.attribute if a.name == "epsilon"]
            if not found or abs(eps[0] - 1e-5) > 1e-12:
                fail("BatchNormalization %s: statistics not the source's, or epsilon %s" % (node.name, eps))


def main():
    args = sys.argv[1:]
    fmt, export, mask, weights = args[:4]
    opts = args[4:]
    scores = opts[opts.index("--scores") + 1] if "--scores" in opts else None
    supermask = opts[opts.index("--supermask") + 1] if "--supermask" in opts else "mask"
    source, eff, kept, state = effective(mask, weights, scores, supermask)
    if fmt == "onnx":
        check_onnx(export, source, eff, state, "--fold-bn" in opts)
    elif fmt == "torch":
        check_torch(export, source, eff, state)
    elif fmt == "csr":
        check_csr(export, source, eff, kept, state)
    else:
        fail("unknown format " + fmt)
    print("ok")


if __name__ == "__main__":
    main()
