"""Write the measured tables of docs/*.md from benchmarks/results/*.json: one command after a benchmark.

    .venv/bin/python -m benchmarks.docs            # rewrite every table between its markers, draw the figures
    .venv/bin/python -m benchmarks.docs --check    # exit 1 if a doc does not hold what its JSON says

A doc asks for a table with `<!-- table: NAME -->` and `<!-- /table -->` on lines of their own; what lies
between is replaced by the table from benchmarks/results/NAME.json and a line saying when and where it
was measured and the command that measures it again. A JSON file holds `date`, `machine` and `command`,
and either `columns` and `rows` (a table as measured) or the runs a benchmark wrote (RENDER knows those).
The docs' figures are drawn from the same files (FIGURES: the picture, the module whose plot() draws it,
the JSON). --check uses the standard library only.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS, DOCS = ROOT / "benchmarks" / "results", ROOT / "docs"
MARKED = re.compile(r"(<!-- table: (\w+) -->\n).*?(<!-- /table -->)", re.S)


def table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def recipe_sweep_faces(d: dict) -> tuple[list, list]:
    """FID and minutes against faces seen, per recipe, seeds side by side."""
    runs, epochs = d["runs"], d["epochs"]
    faces = {e: next(r["faces"] for r in runs if r["epochs"] == e) for e in epochs}
    rows = []
    for recipe in dict.fromkeys(r["recipe"] for r in runs):
        cell = {(r["epochs"], r["seed"]): r for r in runs if r["recipe"] == recipe}
        seeds = sorted({s for _, s in cell})
        for what, key, fmt in (("FID", "fid", "{:.1f}"), ("minutes here", "minutes", "{:.2f}")):
            label = f"{recipe}: {what}, seeds {' / '.join(map(str, seeds))}" if what == "FID" else what
            rows.append([label] + [" / ".join(fmt.format(cell[e, s][key]) for s in seeds) for e in epochs])
    return ["faces seen (about)"] + [f"{faces[e]:,}" for e in epochs], rows


def cpu_threads(d: dict) -> tuple[list, list]:
    """images/s before (the default threads, fp32) and after (the tuning), per condition of the cores."""
    rows = []
    for condition in dict.fromkeys(r["condition"] for r in d["runs"]):
        before = [r for r in d["runs"] if r["condition"] == condition and not r["tuned"]]
        after = [r for r in d["runs"] if r["condition"] == condition and r["tuned"]]
        kept = {f"{r['threads']} thread{'s' * (r['threads'] > 1)}, {r['precision']}" for r in after}
        rows.append([condition, " / ".join(f"{r['images_per_second']:,.0f}" for r in before),
                     " / ".join(f"{r['images_per_second']:,.0f}" for r in after) + f" ({', '.join(sorted(kept))})",
                     " / ".join(f"{a['images_per_second'] / b['images_per_second']:.2f}" for a, b in zip(after, before))])
    return ["the cores", "before", "after (what it kept)", "after / before"], rows


def autograde(d: dict) -> tuple[list, list]:
    return (["route", "submissions", f"with {d['images_per_folder']} images beside the notebook", "all", "a submission",
             "trained"],
            [[d.get("route", "nbgrader autograde"), d["students"], d["with_an_image_folder"],
              f"{d['seconds']:.0f} s ({d['seconds'] / 60:.1f} minutes)", f"{d['seconds_per_submission']} s",
              ", ".join(d["trained"]) or "none"]])


def mutants(d: dict) -> tuple[list, list]:
    """Per module: mutants, caught, and the survivors (line: mutant)."""
    rows = []
    for module in dict.fromkeys(m["module"] for m in d["mutants"]):
        mine = [m for m in d["mutants"] if m["module"] == module]
        survived = [f"{m['line']}: {m['mutant']}" for m in mine if not m["caught"]]
        rows.append([f"`{module}`", len(mine), len(mine) - len(survived), "; ".join(survived) or "none"])
    total = d["mutants"]
    rows.append(["all", len(total), sum(m["caught"] for m in total), sum(not m["caught"] for m in total)])
    return ["module", "mutants", "caught", "survived (line: mutant)"], rows


def tune_study(d: dict) -> tuple[list, list]:
    """Every trial of the recipe search: its knobs, FID after each epoch, and how it ended; the best in bold."""
    rows, best = [], d["best"][:1]
    for t in d["trials"]:
        p, fid = t["params"], t["fid_by_epoch"]
        if not p:
            continue
        cells = [t["number"], p["batch_size"], f"{p['d_lr']:.1e}", f"{p['g_lr']:.1e}", f"{p['beta1']:.2f}", p["ema"],
                 p["warmup"], "yes" if p["smooth"] else "no", " / ".join(fid.get(e, "") and f"{fid[e]:.1f}"
                                                                       for e in ("1", "2")),
                 f"{t['fid']:.1f}" if t["fid"] is not None else t["ended"]]
        rows.append([f"**{c}**" for c in cells] if t["number"] in best else cells)
    return ["trial", "batch", "D's lr", "G's lr", "beta1", "average", "warm-up", "smoothing",
            f"FID after epochs 1 / 2 ({d['stage_samples'][0]:,} samples)",
            f"FID after 82,800 faces ({d['stage_samples'][-1]:,} samples)"], rows


def tune_confirm(d: dict) -> tuple[list, list]:
    """A recipe's FID from each seed after the same faces, and their mean."""
    runs = d["runs"]
    mean = sum(r["fid"] for r in runs) / len(runs)
    return (["seed", "faces seen", f"FID ({runs[0]['fid_samples']:,} samples)"],
            [[r["seed"], f"{r['faces']:,}", f"{r['fid']:.1f}"] for r in runs] + [["**mean**", "", f"**{mean:.1f}**"]])


def recipe_speed(d: dict) -> tuple[list, list]:
    """Images per second of each recipe, runs side by side, and its ratio to the lesson's."""
    names = list(dict.fromkeys(r["recipe"] for r in d["runs"]))
    speed = {n: [r["images_per_second"] for r in d["runs"] if r["recipe"] == n] for n in names}
    lesson = sum(speed[names[0]]) / len(speed[names[0]])
    return (["recipe", "images/s, each run", f"against the {names[0].split(' (')[0]}"],
            [[n, " / ".join(f"{v:,.0f}" for v in speed[n]), f"{sum(speed[n]) / len(speed[n]) / lesson:.2f}"]
             for n in names])


RENDER = {"tune_study": tune_study, "tune_confirm": tune_confirm, "recipe_sweep_faces": recipe_sweep_faces,
          "recipe_speed_avx2": recipe_speed, "recipe_speed_avx512": recipe_speed,
          "recipe_speed_avx512_as_avx2": recipe_speed, "cpu_threads": cpu_threads, "autograde_40": autograde,
          "autograde_40_button": autograde, "mutants": mutants, "mutants_run_state": mutants}


FIGURES = {"assets/fid_vs_faces.png": ("recipe_sweep", "recipe_sweep_faces"),
           "assets/fid_vs_minutes.png": ("cpu_recipe", "cpu_minutes_laptop"),
           "docs/fid_vs_minutes_avx512.png": ("cpu_recipe", "cpu_minutes_avx512"),
           "docs/tune_study.png": ("tune", "tune_study")}


def draw_figures() -> None:
    """Each of FIGURES, drawn from its JSON by its benchmark's plot()."""
    import importlib

    for png, (module, name) in FIGURES.items():
        (ROOT / png).parent.mkdir(parents=True, exist_ok=True)
        importlib.import_module(f"benchmarks.{module}").plot(json.loads((RESULTS / f"{name}.json").read_text()), ROOT / png)
        print(f"Drew {png} from benchmarks/results/{name}.json")


def rendered(name: str) -> str:
    d = json.loads((RESULTS / f"{name}.json").read_text())
    columns, rows = (d["columns"], d["rows"]) if "rows" in d else RENDER[name](d)
    return (f"{table(columns, rows)}\n\n*Measured {d['date']} on {d['machine']}. Rerun: `{d['command']}` "
            f"(`benchmarks/results/{name}.json`).*\n")


def written() -> dict[Path, str]:
    """Each doc with a table marker, as its JSON files say it should read."""
    return {path: MARKED.sub(lambda m: m[1] + rendered(m[2]) + m[3], path.read_text())
            for path in sorted(DOCS.glob("*.md")) if MARKED.search(path.read_text())}


def main(argv: list[str] | None = None) -> int:
    stale = [path for path, text in written().items() if path.read_text() != text]
    if "--check" in (sys.argv[1:] if argv is None else argv):
        for path in stale:
            print(f"{path.relative_to(ROOT)} does not hold what benchmarks/results says: run python -m benchmarks.docs")
        return 1 if stale else 0
    for path in stale:
        path.write_text(written()[path])
        print(f"Wrote {path.relative_to(ROOT)}")
    draw_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
