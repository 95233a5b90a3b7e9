#!/usr/bin/env python3
"""Collects the runs of an experiment (plan.tsv in OUT_DIR) into results.tsv and a Markdown
table, results.md, and prints the table. Called by scripts/experiment.sh, which passes its
settings in the environment: FIGURE, OUT_DIR, DENSE_ON, EPOCHS, LIMIT_TRAIN, LIMIT_TEST, SEEDS,
THREADS and STATS (the popup-stats to run)."""
import json, math, os, subprocess, sys
env = os.environ
figure, out = env["FIGURE"], env["OUT_DIR"]

def fail(path, problem):
    sys.stderr.write(f"experiment: error: {path}: {problem}\n")
    sys.exit(1)

def run_result(name):
    log, ev, done = (os.path.join(out, name + ext) for ext in (".jsonl", ".eval.json", ".done"))
    try:
        epochs = [json.loads(l) for l in open(log) if l.strip()]
        report = json.load(open(ev))
        top1 = report["top1"]
        text = open(done).read()
        seconds = int(text.split("\nseconds ")[1].split()[0])
        copied = "\ncopied from " in text
    except (OSError, ValueError, KeyError, IndexError) as e:
        fail(os.path.join(out, name), f"incomplete run ({e})")
    if not epochs:
        fail(log, "no epochs logged")
    last = epochs[-1]
    test_acc = last["test_acc"]
    return {"kept": kept_fraction(os.path.join(out, name + ".mask")),
            "train_acc": last["train_acc"], "test_acc": test_acc, "eval_acc": top1,
            "seconds": seconds, "copied": copied}

def kept_fraction(mask):
    """The fraction of all masked weights the mask keeps: popup-stats --json's total. For
    edge-popup it is k up to rounding per layer; for the supermask, the density learned."""
    try:
        got = subprocess.run([env["STATS"], "--json", mask], capture_output=True, text=True,
                             check=True)
        return round(json.loads(got.stdout)["files"][0]["total"]["kept_fraction"], 6)
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError, IndexError) as e:
        fail(mask, f"popup-stats --json: {e}")

lines = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "plan.tsv"))]
header, plan = lines[0], [dict(zip(lines[0], l)) for l in lines[1:]]
cols = header + ["kept", "epochs", "limit_train", "limit_test", "train_acc", "test_acc",
                 "eval_acc", "seconds"]
rows = []
for p in plan:
    r = dict(p, epochs=env["EPOCHS"], limit_train=env["LIMIT_TRAIN"],
             limit_test=env["LIMIT_TEST"], **run_result(p["run"]))
    rows.append(r)
with open(os.path.join(out, "results.tsv.tmp"), "w") as f:
    f.write("\t".join(cols) + "\n")
    for r in rows:
        f.write("\t".join(str(r[c]) for c in cols) + "\n")
os.replace(os.path.join(out, "results.tsv.tmp"), os.path.join(out, "results.tsv"))

dense = {}
if env["DENSE_ON"] == "1":
    for arch in dict.fromkeys(r["arch"] for r in rows):
        accs = [json.load(open(os.path.join(out, f"dense-{arch}-s{s}.eval.json")))["top1"]
                for s in env["SEEDS"].split()]
        dense[arch] = sum(accs) / len(accs)
    with open(os.path.join(out, "dense.tsv"), "w") as f:
        f.write("arch\ttest_acc\n" + "".join(f"{a}\t{v}\n" for a, v in dense.items()))

def pct(v):
    return f"{100 * v:.2f}"

def cell(rs):
    accs = [r["test_acc"] for r in rs]
    if not accs:
        return ""
    m = sum(accs) / len(accs)
    return pct(m) if len(accs) == 1 else f"{pct(m)} ({pct(min(accs))}-{pct(max(accs))})"

def table(rows, xcol, xname, scol):
    xs = sorted(dict.fromkeys(r[xcol] for r in rows), key=float)
    series = list(dict.fromkeys(r[scol] for r in rows))
    md = ["| " + xname + " | " + " | ".join(series) + " |",
          "|---|" + "---|" * len(series)]
    for x in xs:
        md.append(f"| {x} | " + " | ".join(cell([r for r in rows if r[xcol] == x and r[scol] == s])
                                            for s in series) + " |")
    return md

def mean(vs):
    return sum(vs) / len(vs)

def kept_pct(v):
    v *= 100
    return f"{v:.1f}" if v >= 1 else f"{v:.2g}"

def supermask_table(rows):
    """One row per score-init: per architecture the fraction kept at the end and the test
    accuracy (means over seeds)."""
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    md = ["| score-init C (starting density) | " +
          " | ".join(f"{a} kept (%) | {a} test acc" for a in archs) + " |",
          "|---|" + "---|---|" * len(archs)]
    for c in sorted(dict.fromkeys(r["score_init"] for r in rows), key=float):
        start = 1 / (1 + math.exp(-float(c)))
        cells = []
        for a in archs:
            rs = [r for r in rows if r["arch"] == a and r["score_init"] == c]
            cells += [kept_pct(mean([r['kept'] for r in rs])), cell(rs)]
        md.append(f"| {c} ({100 * start:.1f}%) | " + " | ".join(cells) + " |")
    return md

popup = [r for r in rows if r["method"] == "edge-popup"]
sm = [r for r in rows if r["method"] == "supermask"]
titles = {"figure3": "test accuracy against k (% of weights kept), signed-constant weights",
          "figure4": "test accuracy against width, k = 0.5, signed-constant weights",
          "figure6": "edge-popup against the supermask of Zhou et al., signed-constant weights",
          "figure7": "test accuracy against k per weight distribution"}
lt = env["LIMIT_TRAIN"] if env["LIMIT_TRAIN"] != "0" else "60000 (all)"
lte = env["LIMIT_TEST"] if env["LIMIT_TEST"] != "0" else "10000 (all)"
md = [f"# {figure} on {env.get('DATA_LABEL', 'Fashion-MNIST')}: {titles[figure]}", "",
      f"edge-popup, {env['EPOCHS']} epochs on the first {lt} training images, test accuracy "
      f"(%) after the last epoch on the first {lte} test images; SGD lr 0.1 cosine, momentum "
      f"0.9, weight decay 1e-4, batch 128; seeds {', '.join(env['SEEDS'].split())} "
      "(weights and training); mean over seeds, (min-max) with several."
      + (" Supermask (popup-train --method supermask): the same weights, images and epochs; "
         "SGD lr 200 cosine, momentum 0.9, no weight decay; its mask keeps the weights with "
         "logit > 0, so the fraction kept is the density it learned." if sm else ""), ""]
if figure == "figure3":
    md += table(popup, "k", "k", "arch")
    if dense:
        md += ["", "Dense baseline (learned weights): " +
               ", ".join(f"{a} {pct(v)}" for a, v in dense.items())]
    if sm:
        md += ["", "Supermask (Zhou et al., score-init 0): " + ", ".join(
            f"{a} {cell(rs)} at {kept_pct(mean([r['kept'] for r in rs]))}% kept"
            for a in dict.fromkeys(r["arch"] for r in sm)
            for rs in [[r for r in sm if r["arch"] == a]])]
elif figure == "figure6":
    md += ["## edge-popup: test accuracy (%) against k", ""] + table(popup, "k", "k", "arch")
    md += ["", "## supermask (Zhou et al.): fraction kept at the end and test accuracy (%)", ""]
    md += supermask_table(sm)
    if dense:
        md += ["", "Dense baseline (learned weights): " +
               ", ".join(f"{a} {pct(v)}" for a, v in dense.items())]
    md += [""]
    for a in dict.fromkeys(r["arch"] for r in rows):
        def best(rs, key):
            xs = dict.fromkeys(r[key] for r in rs)
            return max(((x, mean([r["test_acc"] for r in rs if r[key] == x])) for x in xs),
                       key=lambda t: t[1])
        pk, pa = best([r for r in popup if r["arch"] == a], "k")
        sc, sa = best([r for r in sm if r["arch"] == a], "score_init")
        skept = mean([r["kept"] for r in sm if r["arch"] == a and r["score_init"] == sc])
        md.append(f"- {a}: best edge-popup {pct(pa)} (k {pk}), best supermask {pct(sa)} "
                  f"(score-init {sc}, {kept_pct(skept)}% kept): edge-popup "
                  + (f"ahead by {100 * (pa - sa):.2f} points" if pa >= sa else
                     f"behind by {100 * (sa - pa):.2f} points"))
elif figure == "figure4":
    md += table(rows, "width", "width", "arch")
else:
    for arch in dict.fromkeys(r["arch"] for r in rows):
        md += ["", f"## {arch}", ""] + table([r for r in rows if r["arch"] == arch], "k", "k",
                                             "distribution")
bad = [r["run"] for r in rows if abs(float(r["eval_acc"]) - float(r["test_acc"])) > 1e-6]
total = sum(r["seconds"] for r in rows if not r["copied"])
copied = sum(r["copied"] for r in rows)
md += ["", f"{len(rows)} runs" + (f" ({copied} the same as another figure's, copied)" if copied
                                  else "") + f", {total // 60} min {total % 60} s of run time "
           "(NAME.done). popup-eval of each mask "
           + ("reproduces the last epoch's test accuracy." if not bad else
              "DIFFERS from the last epoch's test accuracy for: " + ", ".join(bad)), ""]
with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(md))
print("\n".join(md[4:]))
