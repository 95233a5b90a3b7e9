#!/usr/bin/env python3
"""Writes small popup files whose headers claim far more than they hold, for
tests/cli/hostile_files.test (each must be refused with one line and little memory).

usage: hostile-files.py OUT KIND [ARGS]
  mask INPUT [BYTES]      a mask of fc on INPUT (CxHxW): a header that follows the recipe
                          exactly, then only BYTES bytes of data (default 0)
  weights INPUT [BYTES]   the same for a weights file (F32 tensors)
  sparse-weights INPUT    a weights file of fc on INPUT holding all its data, as a sparse file
                          of zeros (its CRC is wrong: for readers that fail before the end)
  long-array BYTES        a weights file of fc on 1x28x28 whose header is about BYTES long,
                          one tensor's shape being a single long array of 1s
  deep BYTES              a header of about BYTES bytes: {"a": then '[' to the end
  wide-object BYTES       a weights file of fc on 1x28x28 whose header is about BYTES long,
                          one tensor's entry holding that many distinct numeric fields
  many-keys BYTES         a weights file of fc on 1x28x28 whose header is about BYTES long,
                          its metadata holding distinct keys, the last one twice
"""
import json
import struct
import sys


def recipe(input_shape):
    return {
        "popup.arch": "fc", "popup.input": input_shape, "popup.classes": "10",
        "popup.init": "signed-constant", "popup.scale": "1", "popup.seed": "0",
        "popup.generation": "1", "popup.version": "1", "popup.crc32": "00000000",
    }


def fc_shapes(input_shape):
    c, h, w = (int(d) for d in input_shape.split("x"))
    return [("fc1.weight", [300, c * h * w]), ("fc2.weight", [100, 300]), ("fc3.weight", [10, 100])]


def container(metadata, tensors, data):
    """tensors: (name, dtype, shape, nbytes) in order, offsets consecutive."""
    header, offset = {"__metadata__": metadata}, 0
    for name, dtype, shape, nbytes in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def mask(input_shape, nbytes=0):
    m = recipe(input_shape)
    m.update({"popup.kind": "mask", "popup.k": "0.5"})
    tensors = []
    for name, shape in fc_shapes(input_shape):
        m["popup.mask." + name + ".k"] = "0.5"
        m["popup.mask." + name + ".kept"] = "0"
        bits = (numel(shape) + 7) // 8
        tensors.append((name, "U8", [bits], bits))
    return container(m, tensors, bytes(nbytes))


def weights(input_shape, nbytes=0):
    m = recipe(input_shape)
    m["popup.kind"] = "weights"
    tensors = [(name, "F32", shape, 4 * numel(shape)) for name, shape in fc_shapes(input_shape)]
    return container(m, tensors, bytes(nbytes))


def long_array(size):
    m = recipe("1x28x28")
    m["popup.kind"] = "weights"
    ones = max(1, (size - 600) // 2)
    tensors = [("fc1.weight", "F32", [1] * ones, 4)]
    return container(m, tensors, bytes(4))


def deep(size):
    text = b'{"a":' + b"[" * (size - 5)
    return struct.pack("<Q", len(text)) + text


def wide_object(size):
    m = recipe("1x28x28")
    m["popup.kind"] = "weights"
    entry = {"f%08d" % i: 0 for i in range(size // 14)}
    text = json.dumps({"__metadata__": m, "fc1.weight": entry}, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def many_keys(size):
    m = recipe("1x28x28")
    m["popup.kind"] = "weights"
    count = size // 16
    for i in range(count):
        m["k%09d" % i] = ""
    text = json.dumps({"__metadata__": m}, separators=(",", ":"))
    text = text[:-2] + ',"k%09d":""}}' % (count - 1)  # json.dumps cannot write a key twice
    text = text.encode() + b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def main():
    out, kind, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if kind == "mask":
        blob = mask(args[0], int(args[1]) if len(args) > 1 else 0)
    elif kind == "weights":
        blob = weights(args[0], int(args[1]) if len(args) > 1 else 0)
    elif kind == "long-array":
        blob = long_array(int(args[0]))
    elif kind == "wide-object":
        blob = wide_object(int(args[0]))
    elif kind == "many-keys":
        blob = many_keys(int(args[0]))
    elif kind == "deep":
        blob = deep(int(args[0]))
    elif kind == "sparse-weights":
        blob = weights(args[0])
        size = len(blob) + sum(4 * numel(shape) for _, shape in fc_shapes(args[0]))
        with open(out, "wb") as f:
            f.write(blob)
            f.truncate(size)
        return
    else:
        sys.exit("unknown kind " + kind)
    with open(out, "wb") as f:
        f.write(blob)


main()
