#!/usr/bin/env python3
# Independent reference for formats/generation.md (generation v1, redraw v1): Philox4x32-10,
# popup's log / cos, the weight distributions and IteRand's redraws in pure Python (standard
# library only). Python floats are IEEE doubles and never fuse, so its values must equal
# libpopup's bit for bit.
"""Print the first weights of reference recipes as float32 bit patterns (hex, one a line).

Without options: every standard case, each after a line "# <init> seed=... tensor=...
fan_in=... fan_out=... scale_k=... start=..." (and " redraw=G" for the values after the
G-th redraw, formats/generation.md section 10). With --init (and the other options): that
one case, values only; --redraw G gives the values after the G-th redraw instead of the
generated ones. With --pick E: the IteRand pick numbers random_uniform53 of event E under
the training seed --seed, as 64-bit double patterns (event E redraws a dropped weight when
its number is below the rate). With --doubles: the double results of popup_log,
popup_cos_2pi and the normals of seed 0, tensor 0, as "<function> <argument> <64-bit
pattern>" lines. The Philox known-answer vectors are checked first (exit 1 if wrong).
"""

import argparse
import math
import struct
import sys

MASK32 = 0xFFFFFFFF
STREAM_WEIGHTS = 0
STREAM_REDRAW = 5       # IteRand: a weight's value after its g-th redraw (recipe seed)
STREAM_REDRAW_PICK = 6  # IteRand: which dropped weights event e redraws (training seed)
NUMBER_MAX = (1 << 24) - 1

# ---- Philox4x32-10 (Random123) --------------------------------------------------------------

def philox4x32_10(counter, key):
    x0, x1, x2, x3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * x0
        p1 = 0xCD9E8D57 * x2
        x0, x1, x2, x3 = ((p1 >> 32) ^ x1 ^ k0, p1 & MASK32,
                          (p0 >> 32) ^ x3 ^ k1, p0 & MASK32)
        k0 = (k0 + 0x9E3779B9) & MASK32
        k1 = (k1 + 0xBB67AE85) & MASK32
    return [x0, x1, x2, x3]


KAT = [  # Random123 kat_vectors, "philox4x32 10": counter, key, expected
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([MASK32] * 4, [MASK32] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


def philox_element(seed, stream, tensor, index):
    return philox4x32_10([index & MASK32, index >> 32, tensor, stream],
                         [seed & MASK32, seed >> 32])


def philox_numbered(seed, stream, number, tensor, index):
    """A numbered stream: the counter's last word is stream | number << 8 (number 1..2^24-1)."""
    if not 1 <= number <= NUMBER_MAX:
        raise ValueError("stream number %d is not in 1..%d" % (number, NUMBER_MAX))
    return philox4x32_10([index & MASK32, index >> 32, tensor, stream | (number << 8)],
                         [seed & MASK32, seed >> 32])

# ---- deterministic log and cos (+ - * / sqrt only) ---------------------------------------

def double_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits_double(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


LOG_C = [2.0 / (2 * k + 1) for k in range(1, 11)]          # c1 .. c10
LN2_HI = float.fromhex("0x1.62e42feep-1")
LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
COS_C = [(-1.0) ** k / math.factorial(2 * k) for k in range(1, 10)]      # c1 .. c9
SIN_C = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(1, 10)]  # c1 .. c9
TWO_PI = float.fromhex("0x1.921fb54442d18p+2")
ROUND_SHIFT = float.fromhex("0x1.8p52")


def horner(coefficients, z):
    """c1 + z*(c2 + z*(... + z*cn)), innermost first."""
    p = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        p = c + z * p
    return p


def popup_log(x):
    bits = double_bits(x)
    e = (bits >> 52) - 1023
    mantissa = bits & ((1 << 52) - 1)
    if mantissa >= 0x6A09E667F3BCD:  # m >= sqrt(2): use m / 2
        m = bits_double((1022 << 52) | mantissa)
        e += 1
    else:
        m = bits_double((1023 << 52) | mantissa)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = z * horner(LOG_C, z)
    hfsq = 0.5 * f * f
    dk = float(e)
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)


def popup_cos_2pi(t):
    qd = (4.0 * t + ROUND_SHIFT) - ROUND_SHIFT  # nearest integer to 4t, ties to even
    q = int(qd) % 4
    r = t - 0.25 * qd
    x = r * TWO_PI
    z = x * x
    cos_x = 1.0 + z * horner(COS_C, z)
    sin_x = x + (x * z) * horner(SIN_C, z)
    return [cos_x, -sin_x, -cos_x, sin_x][q]

# ---- distributions ------------------------------------------------------------------------

def block_ab(block):
    x0, x1, x2, x3 = block
    return ((x1 << 32) | x0) >> 11, ((x3 << 32) | x2) >> 11


def normal(block):
    a, b = block_ab(block)
    u1 = float(a + 1) * 2.0 ** -53
    u2 = float(b) * 2.0 ** -53
    return math.sqrt(-2.0 * popup_log(u1)) * popup_cos_2pi(u2)


def init_std(init, fan_in, fan_out, scale_k):
    if init in ("kaiming-normal", "signed-constant", "unsigned-constant"):
        return math.sqrt(2.0 / (float(fan_in) * scale_k))
    if init == "kaiming-uniform":
        return math.sqrt(6.0 / (float(fan_in) * scale_k))
    if init == "xavier-normal":
        return math.sqrt(2.0 / ((float(fan_in) + float(fan_out)) * scale_k))
    raise ValueError("unknown distribution '%s'" % init)


def float32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def uniform53(block):
    a, _ = block_ab(block)
    return float(a) * 2.0 ** -53


def block_weight_bits(init, std, block):
    """The value `init` gives an element whose block is `block` (section 7), as float32 bits."""
    if init == "unsigned-constant":
        return float32_bits(std)
    if init in ("kaiming-normal", "xavier-normal"):
        return float32_bits(std * normal(block))
    if init == "signed-constant":
        return float32_bits(-std if block[0] >> 31 else std)
    return float32_bits(std * (2.0 * uniform53(block) - 1.0))  # kaiming-uniform


def weight_bits(init, std, seed, tensor, index, redraw=0):
    """Element `index` as generated (redraw 0) or after its redraw-th redraw (section 10)."""
    if redraw == 0:
        block = philox_element(seed, STREAM_WEIGHTS, tensor, index)
    else:
        block = philox_numbered(seed, STREAM_REDRAW, redraw, tensor, index)
    return block_weight_bits(init, std, block)


def pick_number(train_seed, event, tensor, index):
    """IteRand: event `event` redraws this element, if the mask drops it, when this is < rate."""
    return uniform53(philox_numbered(train_seed, STREAM_REDRAW_PICK, event, tensor, index))


# (init, seed, tensor index, fan_in, fan_out, scale_k, first element index)
CASES = [
    ("kaiming-normal", 0, 0, 27, 576, 1.0, 0),
    ("kaiming-normal", 0x0123456789ABCDEF, 7, 1152, 1152, 0.5, 0),
    ("kaiming-normal", 2020, 3, 4608, 4608, 1.0, 0xFFFFFFE0),  # crosses index 2^32
    ("signed-constant", 42, 1, 784, 300, 1.0, 0),
    ("kaiming-uniform", 42, 2, 300, 100, 0.3, 0),
    ("xavier-normal", 7, 3, 100, 10, 1.0, 0),
    ("unsigned-constant", 1, 0, 9, 9, 0.5, 0),
]

# Redraw v1 (IteRand): (init, seed, tensor index, fan_in, fan_out, scale_k, first element
# index, redraw count g). The first four are the worked example of formats/generation.md.
REDRAW_CASES = [
    ("kaiming-normal", 0, 0, 27, 576, 1.0, 0, 1),
    ("kaiming-normal", 0, 0, 27, 576, 1.0, 0, 2),
    ("signed-constant", 0, 0, 27, 576, 1.0, 0, 1),
    ("signed-constant", 0, 0, 27, 576, 1.0, 0, 2),
    ("kaiming-uniform", 42, 2, 300, 100, 0.3, 0, 65535),
    ("xavier-normal", 7, 3, 100, 10, 1.0, 0xFFFFFFE0, 3),  # crosses index 2^32
    ("unsigned-constant", 1, 0, 9, 9, 0.5, 0, 1),
]

# Pick numbers: (training seed, tensor index, first element index, event e).
PICK_CASES = [
    (0, 0, 0, 1),
    (7, 2, 0, 65535),
]


# Arguments of the double-precision golden values: edges, the sqrt(2) boundary of the log
# reduction, the quadrant boundaries of the cos reduction, ordinary points, and last, one
# point each where the last series term (log c10, cos C9, sin S9) changes the result, so
# that an implementation which drops it fails.
LOG_POINTS = ["0x1p-53", "0x1.8p-40", "0x1.999999999999ap-4", "0x1.5555555555555p-2",
              "0x1.6a09e667f3bccp-1", "0x1.6a09e667f3bcdp-1", "0x1.8p-1",
              "0x1.fffffffffffffp-1", "0x1.6ab8b86670153p-3"]
COS_POINTS = ["0x1p-53", "0x1.999999999999ap-4", "0x1p-3", "0x1.3333333333333p-2",
              "0x1.5555555555555p-2", "0x1.3333333333333p-1", "0x1.ccccccccccccdp-1",
              "0x1.fffffffffffffp-1", "0x1.8300934eb5c90p-2", "0x1.06661b68dde3cp-3"]


def print_doubles():
    for x in LOG_POINTS:
        print("popup_log %s %016x" % (x, double_bits(popup_log(float.fromhex(x)))))
    for t in COS_POINTS:
        print("popup_cos_2pi %s %016x" % (t, double_bits(popup_cos_2pi(float.fromhex(t)))))
    for index in range(16):
        block = philox_element(0, STREAM_WEIGHTS, 0, index)
        print("random_normal %d %016x" % (index, double_bits(normal(block))))


def print_case(init, seed, tensor, fan_in, fan_out, scale_k, start, count, redraw=0):
    std = init_std(init, fan_in, fan_out, scale_k)
    for index in range(start, start + count):
        print("%08x" % weight_bits(init, std, seed, tensor, index, redraw))


def print_picks(train_seed, tensor, start, count, event):
    for index in range(start, start + count):
        print("%016x" % double_bits(pick_number(train_seed, event, tensor, index)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", help="distribution, e.g. kaiming-normal")
    parser.add_argument("--seed", type=lambda s: int(s, 0), default=0)
    parser.add_argument("--tensor", type=int, default=0, help="tensor index (network order)")
    parser.add_argument("--fan-in", type=int, default=1)
    parser.add_argument("--fan-out", type=int, default=1)
    parser.add_argument("--scale-k", type=float, default=1.0)
    parser.add_argument("--start", type=lambda s: int(s, 0), default=0,
                        help="first element index")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--redraw", type=int, default=0, metavar="G",
                        help="the values after the G-th redraw (1..2^24-1; 0: as generated)")
    parser.add_argument("--pick", type=int, default=0, metavar="E",
                        help="the pick numbers of redraw event E under training seed --seed")
    parser.add_argument("--doubles", action="store_true",
                        help="print the double-precision golden values instead")
    args = parser.parse_args()

    for counter, key, expected in KAT:
        got = philox4x32_10(counter, key)
        if got != expected:
            sys.exit("reference_generator.py: Philox known-answer test failed: %s"
                     % " ".join("%08x" % w for w in got))

    if not 0 <= args.redraw <= NUMBER_MAX or not 0 <= args.pick <= NUMBER_MAX:
        parser.error("--redraw and --pick take 1..%d" % NUMBER_MAX)
    if args.doubles:
        print_doubles()
        return
    if args.pick:
        print_picks(args.seed, args.tensor, args.start, args.count, args.pick)
        return
    if args.init:
        print_case(args.init, args.seed, args.tensor, args.fan_in, args.fan_out,
                   args.scale_k, args.start, args.count, args.redraw)
        return
    for init, seed, tensor, fan_in, fan_out, scale_k, start in CASES:
        print("# %s seed=%#x tensor=%d fan_in=%d fan_out=%d scale_k=%r start=%#x"
              % (init, seed, tensor, fan_in, fan_out, scale_k, start))
        print_case(init, seed, tensor, fan_in, fan_out, scale_k, start, args.count)
    for init, seed, tensor, fan_in, fan_out, scale_k, start, redraw in REDRAW_CASES:
        print("# %s seed=%#x tensor=%d fan_in=%d fan_out=%d scale_k=%r start=%#x redraw=%d"
              % (init, seed, tensor, fan_in, fan_out, scale_k, start, redraw))
        print_case(init, seed, tensor, fan_in, fan_out, scale_k, start, args.count, redraw)
    for train_seed, tensor, start, event in PICK_CASES:
        print("# pick train_seed=%#x tensor=%d start=%#x event=%d"
              % (train_seed, tensor, start, event))
        print_picks(train_seed, tensor, start, args.count, event)


if __name__ == "__main__":
    main()
