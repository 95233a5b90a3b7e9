#!/usr/bin/env python3
# Compares two `make bench` results (popup-bench --json files), e.g. before and after a change:
# one row per workload and batch with both builds' figures and their ratio (new / old).
#     scripts/bench-compare.py old.json new.json
"""Side-by-side comparison of two popup-bench JSON files."""

import json
import sys

FIELDS = (("images_per_second", "train img/s"), ("eval_images_per_second", "eval img/s"),
          ("peak_rss_mb", "RSS MB"), ("percent_of_fp32_peak", "% peak"))


def load(path):
    rows, machine = {}, {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if "machine" in row:
                machine = row["machine"]
            else:
                rows[(row["workload"], row["batch"], row.get("device", "cpu"),
                      row.get("precision", "fp32"))] = row
    return rows, machine


def main():
    if len(sys.argv) != 3:
        print("usage: bench-compare.py OLD.json NEW.json", file=sys.stderr)
        return 2
    try:
        (old, old_machine), (new, new_machine) = load(sys.argv[1]), load(sys.argv[2])
    except (OSError, ValueError, KeyError) as e:
        print(f"bench-compare: {e}", file=sys.stderr)
        return 1
    for name, m in (("old", old_machine), ("new", new_machine)):
        if m:
            print(f"# {name}: {m['threads']} threads, FMA peak {m['fp32_fma_peak_gflops']:.0f} "
                  f"GFLOP/s, SGEMM {m['sgemm_gflops']:.0f} GFLOP/s")
    header = f"{'workload':<20} {'batch':>5}"
    for _, label in FIELDS:
        header += f" | {label + ' old':>15} {'new':>10} {'ratio':>6}"
    print(header)
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        line = f"{key[0] + ('' if key[3] == 'fp32' else ' ' + key[3]):<20} {key[1]:>5}"
        for field, _ in FIELDS:
            a = o[field] if o else None
            b = n[field] if n else None
            ratio = f"{b / a:.2f}" if a and b else "-"
            line += f" | {a if a is not None else float('nan'):>15.1f} " \
                    f"{b if b is not None else float('nan'):>10.1f} {ratio:>6}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
