#!/usr/bin/env python3
"""Writes damaged copies of a safetensors file for the command-line tests.

usage: corrupt.py IN OUT OPERATION [ARGS]
  truncate N           drop the last N bytes
  flip-data I          invert data byte I (data section offset)
  trailing             append 8 bytes after the last tensor
  set-meta KEY VALUE   change (or add) one metadata value
  del-meta KEY         remove one metadata key
  raw-header TEXT      replace the JSON header with TEXT (padded to a multiple of 8)
  header-length N      write N as the header length, keep the rest
  gap                  move every tensor after the first 4 bytes later (4 unused bytes)
  overlap              make the second tensor start 4 bytes early (and the file 4 bytes short)
  dtype TENSOR DTYPE   relabel a tensor's dtype
"""
import json
import struct
import sys


def split(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tensors_in_order(header):
    names = [k for k in header if k != "__metadata__"]
    return sorted(names, key=lambda k: header[k]["data_offsets"][0])


def main():
    src, dst, op, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    blob = open(src, "rb").read()
    header, data = split(blob)
    if op == "truncate":
        out = blob[:-int(args[0])]
    elif op == "flip-data":
        i = int(args[0])
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        out = join(header, data)
    elif op == "trailing":
        out = blob + b"\0" * 8
    elif op == "set-meta":
        header["__metadata__"][args[0]] = args[1]
        out = join(header, data)
    elif op == "del-meta":
        del header["__metadata__"][args[0]]
        out = join(header, data)
    elif op == "raw-header":
        text = args[0].encode()
        text += b" " * (-len(text) % 8)
        out = struct.pack("<Q", len(text)) + text + data
    elif op == "header-length":
        out = struct.pack("<Q", int(args[0])) + blob[8:]
    elif op == "gap":
        first, *rest = tensors_in_order(header)
        cut = header[first]["data_offsets"][1]
        for name in rest:
            header[name]["data_offsets"] = [o + 4 for o in header[name]["data_offsets"]]
        out = join(header, data[:cut] + b"\0" * 4 + data[cut:])
    elif op == "overlap":
        second = tensors_in_order(header)[1]
        header[second]["data_offsets"] = [o - 4 for o in header[second]["data_offsets"]]
        out = join(header, data[:-4])
    elif op == "dtype":
        header[args[0]]["dtype"] = args[1]
        out = join(header, data)
    else:
        sys.exit("corrupt.py: unknown operation " + op)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
