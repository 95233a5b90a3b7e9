#!/usr/bin/env python3
"""An independent safetensors reader, written apart from libpopup (json + struct + zlib, and
numpy for the tensors), used by the tests to check that every file popup writes follows the
safetensors rules and popup's own keys.

usage: independent_reader.py FILE [--dump TENSOR]
Exits 0 and prints one line per tensor when the file is valid, 1 with the reason otherwise.
--dump TENSOR prints that tensor's values as hex float32 bit patterns, one per line.
"""
import json
import struct
import sys
import zlib

import numpy as np

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
         "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
NUMPY = {"U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "I32": np.int32,
         "F32": np.float32}


def fail(why):
    print("invalid: " + why)
    sys.exit(1)


def read(path):
    blob = open(path, "rb").read()
    if len(blob) < 8:
        fail("shorter than 8 bytes")
    n = struct.unpack("<Q", blob[:8])[0]
    if n % 8 != 0:
        fail("header length %d is not a multiple of 8" % n)
    raw = blob[8:8 + n]
    if len(raw) != n or not raw.startswith(b"{"):
        fail("header missing or not an object")
    if raw.rstrip(b" ") != raw.rstrip():
        fail("header padded with something other than spaces")
    header = json.loads(raw.decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("metadata is not string to string")
    end = 0
    tensors = []
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        if set(t) != {"dtype", "shape", "data_offsets"}:
            fail("tensor %s has fields %s" % (name, sorted(t)))
        begin, stop = t["data_offsets"]
        if begin != end:
            fail("tensor %s starts at %d, expected %d" % (name, begin, end))
        size = SIZES[t["dtype"]] * int(np.prod(t["shape"], dtype=np.int64))
        if stop - begin != size:
            fail("tensor %s spans %d bytes, needs %d" % (name, stop - begin, size))
        end = stop
        array = np.frombuffer(data[begin:stop], dtype=NUMPY[t["dtype"]]).reshape(t["shape"])
        tensors.append((name, t["dtype"], array))
    if end != len(data):
        fail("data section is %d bytes, tensors cover %d" % (len(data), end))
    crc = "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)
    if meta.get("popup.crc32") != crc:
        fail("popup.crc32 %s, data CRC-32 %s" % (meta.get("popup.crc32"), crc))
    return meta, tensors


def check_mask(meta, tensors):
    masks = {}
    for name, dtype, array in tensors:
        if dtype != "U8":
            continue
        bits = np.unpackbits(array, bitorder="little")
        masks[name] = bits
        kept = int(bits.sum())
        if str(kept) != meta.get("popup.mask.%s.kept" % name):
            fail("mask %s keeps %d, metadata says %s" % (name, kept, meta.get("popup.mask.%s.kept" % name)))
    # version 2 (IteRand): popup.redraw, and per layer the positions of kept weights that were
    # redrawn (increasing) with their counts (at least 1)
    if (meta["popup.version"] == "2") != (meta.get("popup.redraw") == "1"):
        fail("popup.version %s with popup.redraw %s" % (meta["popup.version"], meta.get("popup.redraw")))
    arrays = {name: array for name, _, array in tensors}
    for name, dtype, array in tensors:
        if not (name.startswith("redraw.") and name.endswith(".index")):
            continue
        layer = name[len("redraw."):-len(".index")]
        count = arrays.get("redraw.%s.count" % layer)
        if dtype != "U32" or layer not in masks or count is None or count.shape != array.shape:
            fail("redraw record %s without its layer or its U16 count" % name)
        index = array.astype(np.int64)
        if np.any(np.diff(index) <= 0) or (index.size and index[-1] >= masks[layer].size):
            fail("redraw positions of %s not increasing within the layer" % layer)
        if not np.all(masks[layer][index] == 1) or np.any(count == 0):
            fail("redraw record of %s names a dropped weight or a count 0" % layer)


def main():
    meta, tensors = read(sys.argv[1])
    for key in ("popup.kind", "popup.version", "popup.arch", "popup.seed", "popup.crc32"):
        if key not in meta:
            fail("missing " + key)
    if meta["popup.kind"] == "mask":
        check_mask(meta, tensors)
    if len(sys.argv) == 4 and sys.argv[2] == "--dump":
        for name, _, array in tensors:
            if name == sys.argv[3]:
                for bits in array.reshape(-1).view(np.uint32):
                    print("%08x" % bits)
        return
    print("%s v%s, %d tensors" % (meta["popup.kind"], meta["popup.version"], len(tensors)))
    for name, dtype, array in tensors:
        print("%s %s %s" % (name, dtype, "x".join(map(str, array.shape))))


if __name__ == "__main__":
    main()
