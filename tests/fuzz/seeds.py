#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/NAME/. It makes the IDX,
CIFAR, PNG, JSON and recipe-string seeds and copies the v1 fixtures. The other popup-file seeds
were written by the tools, on the IDX seed (corpus/idx/valid cut at POPUPSEP into a folder D):
  popup-init --arch fc:width=0.01 --input 1x2x2 --classes 3 --seed 4 --recipe -o t.recipe
  popup-init ... --init kaiming-uniform -o t.weights (same recipe otherwise)
  popup-train t.recipe --data idx:D --epochs 3 --batch-size 2 --optimizer adam
    --checkpoint adam.ckpt --checkpoint-every 1 -o adam.mask
  popup-train t.weights --data idx:D --epochs 2 --batch-size 2 --method global
    --checkpoint global.ckpt --checkpoint-every 1 -o global.mask --scores-out global.scores
  popup-train t.recipe --data idx:D --epochs 2 --batch-size 2 --method dense -o dense.weights
    --checkpoint dense.ckpt --checkpoint-every 1
  popup-init --arch conv2:width=0.05 --data cifar10 --init signed-constant --scale --k 0.3
    --seed 5 --recipe; popup-init --arch resnet18 --input 3x8x8 --classes 3 --recipe
  popup-train t.recipe --data idx:D --epochs 3 --batch-size 1 --method iterand
    --rerandomize-every 1 --rerandomize-rate 0.5 --checkpoint iterand.ckpt
    --checkpoint-every 1 -o iterand.mask (version 2: redraw counts in the checkpoint, and a
    mask whose record of redrawn kept weights may be empty)
The version 2 mask seed tiny-v2.mask (a redraw record of three kept weights) is made here from
the v1 fixture.
corpus/jpeg/ was written by PIL (Image.save with quality 75-90, subsampling 0 or 2, progressive;
modes RGB, L and CMYK; one file cut to 2/3; one small RGB PNG)."""
import gzip, json, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "v1")
SEP = b"POPUPSEP"


def put(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_seeds():
    valid = [idx_images(3, 2, 2), idx_labels([0, 1, 2]), idx_images(2, 2, 2), idx_labels([1, 0])]
    bad_magic = [b"\x00\x00\x08\x04" + valid[0][4:]] + valid[1:]
    truncated = [valid[0][:-1]] + valid[1:]
    put("idx", "valid", SEP.join(valid))
    put("idx", "bad-magic", SEP.join(bad_magic))
    put("idx", "truncated", SEP.join(truncated))
    put("idx_gz", "valid", b"\x00" + SEP.join(valid))
    put("idx_gz", "raw-gzip", b"\x01" + SEP.join([gzip.compress(valid[0])] + valid[1:]))
    put("idx_gz", "truncated-gzip", b"\x01" + SEP.join([gzip.compress(valid[0])[:-6]] + valid[1:]))


def cifar_seeds():
    record10 = bytes([3]) + bytes((i * 7) % 256 for i in range(3072))
    put("cifar", "cifar10", b"\x00" + SEP.join([record10] * 6))
    record100 = bytes([4, 42]) + bytes((i * 11) % 256 for i in range(3072))
    put("cifar", "cifar100", b"\x01" + SEP.join([record100, record100 + record100]))
    put("cifar", "cifar100-bad-label", b"\x01" + SEP.join([bytes([4, 100]) + record100[2:]] * 2))


def png(width, height, depth, colour, rows, extra=b""):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def png_seeds():
    put("png", "grey8.png", png(3, 2, 8, 0, [b"\x00\x80\xff", b"\x10\x20\x30"]))
    put("png", "rgb8.png", png(2, 2, 8, 2, [bytes(range(6)), bytes(range(6, 12))]))
    put("png", "grey1.png", png(8, 1, 1, 0, [b"\xa5"]))
    put("png", "grey16.png", png(2, 1, 16, 0, [b"\x12\x34\xff\xff"]))
    put("png", "rgba8.png", png(1, 1, 8, 6, [b"\x01\x02\x03\x04"]))
    plte = struct.pack(">I", 6) + b"PLTE" + b"\x00\x00\x00\xff\xff\xff"
    plte += struct.pack(">I", zlib.crc32(b"PLTE\x00\x00\x00\xff\xff\xff"))
    put("png", "palette.png", png(2, 1, 8, 3, [b"\x00\x01"], plte))


def header(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return data[8:8 + n]


def json_seeds():
    for kind in ("recipe", "weights", "scores", "mask"):
        put("json", kind, header(os.path.join(FIXTURES, "tiny." + kind)).rstrip(b" "))
    put("json", "values", b'[null,true,false,-0.5e+3,"\\u00e9\\ud83d\\ude00\\n",{"a":[]}]')


def recipe_seeds():
    for kind in ("recipe", "mask"):
        meta = json.loads(header(os.path.join(FIXTURES, "tiny." + kind)))["__metadata__"]
        put("recipe_strings", kind, "".join(f"{k}={v}\n" for k, v in meta.items()).encode())
    put("recipe_strings", "conv6", b"popup.arch=conv6:width=2\npopup.input=3x32x32\n"
        b"popup.classes=10\npopup.init=kaiming-normal\npopup.scale=1\npopup.seed=0\n"
        b"popup.generation=1\n")
    put("recipe_strings", "resnet", b"popup.arch=resnet18\npopup.input=3x32x32\n")


def popup_seeds():
    for kind in ("recipe", "weights", "scores", "mask"):
        with open(os.path.join(FIXTURES, "tiny." + kind), "rb") as f:
            data = f.read()
        put("popup_" + kind, "tiny." + kind, data)
        put("safetensors", "tiny." + kind, data)


def v2_mask_seeds():
    """tiny.mask made version 2 (formats/mask.md): popup.redraw 1 and, after the masks, the U32
    index and U16 count of fc1.weight's redrawn kept weights 1, 4 and 9 (counts 1, 2, 3)."""
    with open(os.path.join(FIXTURES, "tiny.mask"), "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    head, data = json.loads(blob[8:8 + n]), blob[8 + n:]
    meta = head.pop("__metadata__")
    names = sorted(head, key=lambda k: head[k]["data_offsets"][0])
    tensors = [(k, head[k]["dtype"], head[k]["shape"],
                data[head[k]["data_offsets"][0]:head[k]["data_offsets"][1]]) for k in names]
    record = [("redraw.fc1.weight.index", "U32", [3], struct.pack("<3I", 1, 4, 9)),
              ("redraw.fc1.weight.count", "U16", [3], struct.pack("<3H", 1, 2, 3))]
    tensors = tensors[:3] + record + tensors[3:]
    out, entries = b"", {}
    for name, dtype, shape, raw in tensors:
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(out), len(out) + len(raw)]}
        out += raw
    meta.update({"popup.version": "2", "popup.redraw": "1", "popup.train.method": "iterand",
                 "popup.crc32": "%08x" % zlib.crc32(out)})
    text = json.dumps(dict({"__metadata__": meta}, **entries), separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    seed = struct.pack("<Q", len(text)) + text + out
    put("popup_mask", "tiny-v2.mask", seed)
    put("safetensors", "tiny-v2.mask", seed)


idx_seeds()
cifar_seeds()
png_seeds()
json_seeds()
recipe_seeds()
popup_seeds()
v2_mask_seeds()
