#!/usr/bin/env python3
"""PNG plots of popup results, drawn by gnuplot (Debian package gnuplot-nox).

  plot.py epochs LOG... -o OUT.png      accuracy against epoch, one line per popup-train --log
  plot.py table TABLE.tsv -o OUT.png    a column against another, one line per series (results
                                        tables of scripts/experiment.sh), reference lines
  plot.py classes EVAL.json... -o OUT.png   per-class accuracy of popup-eval --json reports

Python's standard library only. The PNG is written to a temporary file beside OUT and renamed
into place when gnuplot has finished. Exit status: 0 success, 1 bad input or gnuplot failure
(one line: plot: error: <file>: <problem>), 2 usage error.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

PROG = "plot"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]
# gnuplot's default colours (podo), so a reference line can share its series' colour.
COLOURS = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#0072b2", "#e51e10", "#8b4513",
           "#000000"]
# table --style: the n-th value of the style column gets the n-th point type and dash type
# (filled circle solid, filled square dash-dot, filled diamond dotted, filled triangle
# dash-dot-dot; plain dashes are the --hline reference lines)
STYLES = [(7, 1.0, 1), (5, 1.3, 4), (13, 1.5, 3), (9, 1.5, 5)]


class InputError(Exception):
    """Bad input: reported as `plot: error: <file>: <problem>`, exit status 1."""

    def __init__(self, file, problem):
        super().__init__(f"{file}: {problem}")


def colour(i):
    return COLOURS[i % len(COLOURS)]


def gp_string(text):
    """A gnuplot single-quoted string (no escapes inside; a quote is doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def number(value, file, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(file, f"{where}: not a number: {json.dumps(value)}")
    if not math.isfinite(value):
        raise InputError(file, f"{where}: not a finite number")
    return float(value)


def stem(path):
    base = os.path.basename(path)
    for ext in (".jsonl", ".json", ".log", ".tsv"):
        if base.endswith(ext) and len(base) > len(ext):
            return base[: -len(ext)]
    return base


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise InputError(path, e.strerror or str(e)) from None
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None


# ---- readers ------------------------------------------------------------------------------
def read_log(path, keys):
    """popup-train --log: one JSON object per line; returns [(epoch, {key: value})]."""
    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"line {n}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(path, f"line {n}: not a JSON object")
        values = {}
        for key in ("epoch",) + tuple(keys):
            if key not in obj:
                raise InputError(path, f"line {n}: no '{key}' (not a popup-train --log file?)")
            values[key] = number(obj[key], path, f"line {n}: '{key}'")
        rows.append(values)
    if not rows:
        raise InputError(path, "no epochs (empty log)")
    return rows


def read_table(path):
    """A TSV table with a header line; returns (columns, [dict])."""
    lines = [l for l in read_text(path).splitlines() if l.strip() and not l.startswith("#")]
    if not lines:
        raise InputError(path, "empty table (expected a header line of column names)")
    columns = lines[0].split("\t")
    if len(set(columns)) != len(columns):
        raise InputError(path, "header: a column name appears twice")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise InputError(path, f"row {n}: {len(fields)} fields, the header has {len(columns)}")
        rows.append(dict(zip(columns, fields)))
    return columns, rows


def read_eval(path):
    """popup-eval --json: one object with top1 and per_class_accuracy."""
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise InputError(path, f"not JSON ({e.msg})") from None
    if not isinstance(obj, dict) or "per_class_accuracy" not in obj or "top1" not in obj:
        raise InputError(path, "no 'per_class_accuracy' (not a popup-eval --json report?)")
    per_class = obj["per_class_accuracy"]
    if not isinstance(per_class, list) or not per_class:
        raise InputError(path, "'per_class_accuracy': not a non-empty array")
    values = [number(v, path, f"per_class_accuracy[{i}]") for i, v in enumerate(per_class)]
    return obj, values


# ---- gnuplot ------------------------------------------------------------------------------
def gnuplot_terminal(gnuplot):
    """pngcairo when this gnuplot has it (gnuplot-nox does), else libgd's png."""
    try:
        out = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True,
                             timeout=30)
    except OSError as e:
        raise InputError(gnuplot, f"cannot run gnuplot: {e.strerror}") from None
    listing = out.stdout + out.stderr
    if "pngcairo" in listing:
        return "pngcairo enhanced font 'sans,11' size {w},{h}"
    if " png " in listing:
        return "png font 'sans' 11 size {w},{h}"
    raise InputError(gnuplot, "this gnuplot has neither the pngcairo nor the png terminal")


def render(script, output, width, height):
    """Runs gnuplot over `script` writing a temporary PNG beside output, then renames it."""
    gnuplot = shutil.which(os.environ.get("GNUPLOT", "gnuplot"))
    if gnuplot is None:
        raise InputError("gnuplot", "not found (Debian: apt-get install gnuplot-nox, "
                                    "or scripts/install-deps.sh)")
    terminal = gnuplot_terminal(gnuplot).format(w=width, h=height)
    directory = os.path.dirname(output) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(output) + ".tmp",
                                   dir=directory)
    except OSError as e:
        raise InputError(output, e.strerror or str(e)) from None
    os.close(fd)
    try:
        full = f"set terminal {terminal}\nset output {gp_string(tmp)}\n{script}\nunset output\n"
        out = subprocess.run([gnuplot], input=full, capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            msg = [l.strip() for l in out.stderr.splitlines() if l.strip()]
            raise InputError(output, "gnuplot failed: " + (msg[-1] if msg else
                                                         f"exit status {out.returncode}"))
        with open(tmp, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                raise InputError(output, "gnuplot wrote no PNG")
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def common_setup(title, xlabel, ylabel, key):
    lines = ["set termoption noenhanced", "set grid", f"set key {key} box opaque",
             "set border lw 1.2"]
    if title:
        lines.append(f"set title {gp_string(title)}")
    lines.append(f"set xlabel {gp_string(xlabel)}")
    lines.append(f"set ylabel {gp_string(ylabel)}")
    return lines


def datablock(name, rows):
    return [f"${name} << EOD"] + [" ".join(repr(float(v)) for v in row) for row in rows] + ["EOD"]


def yrange_line(values, lo, hi, percent):
    """A y range from the data with some margin, clipped to [0, 100]% for accuracies."""
    if lo is not None or hi is not None:
        return f"set yrange [{'' if lo is None else lo}:{'' if hi is None else hi}]"
    if not values:
        return "set yrange [*:*]"
    vmin, vmax = min(values), max(values)
    span = max(vmax - vmin, 2.0 if percent else 0.02)
    lo, hi = vmin - 0.12 * span, vmax + 0.12 * span
    if percent:
        lo, hi = max(lo, 0.0), min(hi, 100.0)
    return f"set yrange [{lo:.6g}:{hi:.6g}]"


# ---- the three kinds of plot --------------------------------------------------------------
def plot_epochs(args):
    metrics = {"test": ["test_acc"], "train": ["train_acc"], "both": ["test_acc", "train_acc"],
               "loss": ["test_loss", "train_loss"]}[args.metric]
    labels = list(args.label or [])
    if len(labels) > len(args.logs):
        usage_error(f"--label given {len(labels)} times for {len(args.logs)} logs")
    labels += [stem(p) for p in args.logs[len(labels):]]
    script = common_setup(args.title or "popup-train: accuracy per epoch", "epoch",
                          "loss" if args.metric == "loss" else "accuracy (%)", args.key)
    plots, values, max_epoch = [], [], 1
    percent = args.metric != "loss"
    for i, (path, label) in enumerate(zip(args.logs, labels)):
        rows = read_log(path, metrics)
        max_epoch = max(max_epoch, max(r["epoch"] for r in rows))
        for j, key in enumerate(metrics):
            scale = 100.0 if percent else 1.0
            data = [(r["epoch"], r[key] * scale) for r in rows]
            values += [v for _, v in data]
            name = f"d{i}_{j}"
            script += datablock(name, data)
            what = key.split("_")[0]
            title = label if len(metrics) == 1 else f"{label} ({what})"
            dash = 1 if j == 0 else 2
            plots.append(f"${name} using 1:2 with linespoints lw 2 pt 7 ps 0.7 dt {dash} "
                         f"lc rgb '{colour(i)}' title {gp_string(title)}")
    script.append(yrange_line(values, args.ymin, args.ymax, percent))
    script.append(f"set xrange [{0.5 if max_epoch <= 20 else 0}:{max_epoch + 0.5}]")
    if max_epoch <= 20:
        script.append("set xtics 1")
    script.append("plot " + ", \\\n     ".join(plots))
    render("\n".join(script), args.output, args.width, args.height)


def parse_filter(text):
    if "=" not in text:
        usage_error(f"--where: expected COLUMN=VALUE, got '{text}'")
    return tuple(text.split("=", 1))


def parse_hline(text):
    label, sep, value = text.rpartition("=")
    try:
        v = float(value)
    except ValueError:
        v = None
    if not sep or not label or v is None or not math.isfinite(v):
        usage_error(f"--hline: expected LABEL=NUMBER, got '{text}'")
    return label, v


def parse_xtics(text):
    """--xtics: data, auto, or a comma-separated list of numbers."""
    if text in ("data", "auto"):
        return text
    try:
        ticks = [float(t) for t in text.split(",")]
    except ValueError:
        ticks = []
    if not ticks or not all(math.isfinite(t) for t in ticks):
        usage_error(f"--xtics: expected data, auto or numbers separated by commas, got '{text}'")
    return sorted(set(ticks))


def plot_table(args):
    columns, rows = read_table(args.table)
    filters = [parse_filter(w) for w in args.where or []]
    hlines = [parse_hline(h) for h in args.hline or []]
    xtics = parse_xtics(args.xtics)
    needed = [args.x, args.y] + ([args.series] if args.series else []) + \
        ([args.style] if args.style else []) + [c for c, _ in filters]
    for c in needed:
        if c not in columns:
            raise InputError(args.table, f"no column '{c}' (columns: {', '.join(columns)})")
    rows = [r for r in rows if all(r[c] == v for c, v in filters)]
    if not rows:
        raise InputError(args.table, "no rows" + (" match --where" if filters else ""))
    percent = args.percent if args.percent is not None else args.y.endswith("acc")
    scale = 100.0 if percent else 1.0
    # series in order of first appearance; the mean over rows of equal (series, x), min-max bars
    groups = {}
    for n, r in enumerate(rows):
        try:
            x, y = float(r[args.x]), float(r[args.y])
        except ValueError:
            raise InputError(args.table, f"a row with {args.x}={r[args.x]!r} {args.y}={r[args.y]!r}: "
                                         "not numbers") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputError(args.table, f"a row with {args.x}={r[args.x]} {args.y}={r[args.y]}: "
                                         "not finite")
        s = r[args.series] if args.series else args.y
        st = r[args.style] if args.style else ""
        groups.setdefault((s, st), {}).setdefault(x, []).append(y * scale)
    ylabel = args.ylabel or (args.y.replace("_", " ") + (" (%)" if percent else ""))
    script = common_setup(args.title, args.xlabel or args.x, ylabel, args.key)
    xs = sorted({x for g in groups.values() for x in g})
    span = sorted(set(xs) | (set(xtics) if isinstance(xtics, list) else set()))
    if args.logx:
        if span[0] <= 0:
            raise InputError(args.table, f"--logx: column '{args.x}' has values <= 0")
        script.append("set logscale x 2")
        lo, hi = span[0] / 1.25, span[-1] * 1.25
    else:
        pad = 0.06 * (span[-1] - span[0]) if span[-1] > span[0] else 0.5
        lo, hi = span[0] - pad, span[-1] + pad
    script.append(f"set xrange [{lo:.6g}:{hi:.6g}]")
    if isinstance(xtics, list):
        script.append("set xtics (" + ", ".join(f"'{x:g}' {x!r}" for x in xtics) + ")")
    elif xtics == "data" and len(xs) <= 12:
        script.append("set xtics (" + ", ".join(f"'{x:g}' {x!r}" for x in xs) + ")")
    plots, values = [], []
    # colour per series value, point and dash type per style value, both in order of appearance
    names = list(dict.fromkeys(s for s, _ in groups))
    styles = list(dict.fromkeys(st for _, st in groups))
    for i, (s, st) in enumerate(groups):
        c = colour(names.index(s))
        pt, ps, dt = STYLES[styles.index(st) % len(STYLES)]
        title = f"{s} {st}" if st else s
        data = []
        for x in sorted(groups[s, st]):
            ys = groups[s, st][x]
            data.append((x, sum(ys) / len(ys), min(ys), max(ys)))
            values += ys
        script += datablock(f"s{i}", data)
        plots.append(f"$s{i} using 1:2 with linespoints lw 2 pt {pt} ps {ps} dt {dt} "
                     f"lc rgb '{c}' title {gp_string(title)}")
        if any(len(ys) > 1 for ys in groups[s, st].values()):
            plots.append(f"$s{i} using 1:2:3:4 with yerrorbars pt {pt} ps {ps} lw 1.5 "
                         f"lc rgb '{c}' notitle")
    for j, (label, value) in enumerate(hlines):
        v = value * scale if percent and value <= 1.0 else value
        values.append(v)
        # a line whose label starts with a series name takes that series' colour
        match = [i for i, s in enumerate(names) if label == s or label.startswith(s + " ")]
        c = colour(match[0]) if match else colour(len(names) + j)
        plots.append(f"{v!r} with lines dt 2 lw 2 lc rgb '{c}' title {gp_string(label)}")
    script.append(yrange_line(values, args.ymin, args.ymax, percent))
    script.append("plot " + ", \\\n     ".join(plots))
    render("\n".join(script), args.output, args.width, args.height)


def plot_classes(args):
    labels = list(args.label or [])
    if len(labels) > len(args.reports):
        usage_error(f"--label given {len(labels)} times for {len(args.reports)} reports")
    labels += [stem(p) for p in args.reports[len(labels):]]
    reports = [read_eval(p) for p in args.reports]
    n = len(reports[0][1])
    for p, (_, v) in zip(args.reports, reports):
        if len(v) != n:
            raise InputError(p, f"{len(v)} classes, {args.reports[0]} has {n}")
    names = [str(i) for i in range(n)]
    if n == 10 and reports[0][0].get("data", "").startswith("fashion-mnist"):
        names = FASHION_MNIST_CLASSES
    script = common_setup(args.title or "popup-eval: accuracy per class", "class",
                          "accuracy (%)", args.key)
    script += ["set style data histograms", "set style histogram clustered gap 1",
               "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set xtics rotate by -30",
               "set yrange [0:119.99]", "set ytics 0,20,100"]
    rows = [[i] + [v[i] * 100.0 for _, v in reports] for i in range(n)]
    script += ["$d << EOD"] + ['"' + names[r[0]].replace('"', "'") + '" ' + " ".join(repr(x) for x in r[1:])
                               for r in rows] + ["EOD"]
    plots = []
    for i, (label, (obj, _)) in enumerate(zip(labels, reports)):
        title = f"{label} (top-1 {number(obj['top1'], args.reports[i], 'top1') * 100:.2f}%)"
        col = f"{i + 2}:xtic(1)" if i == 0 else f"{i + 2}"
        plots.append(f"$d using {col} lc rgb '{colour(i)}' title {gp_string(title)}")
    script.append("plot " + ", ".join(plots))
    render("\n".join(script), args.output, args.width, args.height)


# ---- command line -------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    def error(self, message):
        usage_error(message, self)


def usage_error(message, parser=None):
    sys.stderr.write(f"{PROG}: error: {message} (see {PROG} --help)\n")
    sys.exit(2)


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="Examples:\n"
                      "  plot.py epochs a.jsonl b.jsonl --label 'k 0.5' --label 'k 0.3' -o acc.png\n"
                      "  plot.py table results.tsv --x k --y test_acc --series arch \\\n"
                      "      --hline 'conv4 dense=0.91' -o figure3.png\n"
                      "  plot.py table results.tsv --x kept --y test_acc --series arch \\\n"
                      "      --style method --xtics 0.1,0.3,0.5,0.7,0.9 -o figure6.png\n"
                      "  plot.py classes run.eval.json -o classes.png\n\n"
                      "Exit status: 0 success, 1 bad input or gnuplot failure, 2 usage error.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def output_options(q):
        q.add_argument("-o", "--output", required=True, metavar="PNG", help="the PNG to write")
        q.add_argument("--title", help="plot title")
        q.add_argument("--key", default="bottom right",
                       help="legend position, gnuplot's words (default: bottom right)")
        q.add_argument("--ymin", type=float, help="lower end of the y axis")
        q.add_argument("--ymax", type=float, help="upper end of the y axis")
        q.add_argument("--width", type=int, default=900, help="pixels (default 900)")
        q.add_argument("--height", type=int, default=600, help="pixels (default 600)")

    e = sub.add_parser("epochs", help="accuracy (or loss) against epoch, one line per log",
                       description="Accuracy against epoch from popup-train --log files (JSON "
                                   "Lines, one object per epoch), one colour per log.")
    e.add_argument("logs", nargs="+", metavar="LOG")
    e.add_argument("-l", "--label", action="append",
                   help="legend text of the n-th LOG (repeat; default: the file name)")
    e.add_argument("--metric", choices=["test", "train", "both", "loss"], default="both",
                   help="test_acc, train_acc, both (train dashed; the default), or the losses")
    output_options(e)

    t = sub.add_parser("table", help="column Y against column X of a TSV table, per series",
                       description="Column Y against column X of a tab-separated table with a "
                                   "header line, one line per value of --series; the mean of "
                                   "rows with equal series and X, with min-max bars when there "
                                   "are several (seeds).")
    t.add_argument("table", metavar="TABLE.tsv")
    t.add_argument("--x", required=True, help="column of the x axis")
    t.add_argument("--y", required=True, help="column of the y axis")
    t.add_argument("--series", help="column naming the lines (default: one line)")
    t.add_argument("--style", metavar="COLUMN",
                   help="a second column splitting each series: its values get their own point "
                        "and dash type, the series keeps its colour (legend: SERIES STYLE)")
    t.add_argument("--where", action="append", metavar="COL=VALUE",
                   help="keep only rows with this value (repeat)")
    t.add_argument("--hline", action="append", metavar="LABEL=VALUE",
                   help="horizontal reference line (repeat); a LABEL starting with a series "
                        "name takes its colour; accuracies may be fractions")
    t.add_argument("--logx", action="store_true", help="logarithmic x axis (base 2)")
    t.add_argument("--xtics", default="data", metavar="data|auto|X,X,...",
                   help="x axis tics: at the data's x values when there are at most 12 (data, "
                        "the default), gnuplot's (auto), or at the numbers given")
    t.add_argument("--xlabel", help="x axis label (default: the column name)")
    t.add_argument("--ylabel", help="y axis label (default: the column name)")
    pct = t.add_mutually_exclusive_group()
    pct.add_argument("--percent", dest="percent", action="store_true", default=None,
                     help="Y holds fractions, show percent (default when Y ends in 'acc')")
    pct.add_argument("--no-percent", dest="percent", action="store_false")
    output_options(t)

    c = sub.add_parser("classes", help="per-class accuracy of popup-eval --json reports",
                       description="Per-class accuracy bars of popup-eval --json reports, one "
                                   "colour per report.")
    c.add_argument("reports", nargs="+", metavar="EVAL.json")
    c.add_argument("-l", "--label", action="append", help="legend text of the n-th report")
    output_options(c)
    c.set_defaults(key="top center horizontal")

    args = p.parse_args(argv)
    if args.command is None:
        usage_error("a command is needed: epochs, table or classes")
    if not (16 <= args.width <= 10000 and 16 <= args.height <= 10000):
        usage_error("--width and --height: 16 to 10000 pixels")
    if not args.output.endswith(".png"):
        usage_error(f"-o: the output must be a .png file, got '{args.output}'")
    try:
        {"epochs": plot_epochs, "table": plot_table, "classes": plot_classes}[args.command](args)
    except InputError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"{PROG}: error: {args.output}: gnuplot took too long\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
