"""How long a learner needs from the notebook's first cell to training started (steps 1 to 8), with
three typical mistakes: a modelled learner in a real Jupyter kernel.

The learner reads the prose, writes each step's solution (the solution notebook's own), makes the
three MISTAKES below and fixes each after reading what its check says. Every cell runs in a real
kernel with the default settings (the faces of FACEGEN_DATA, or whatever step 1 finds), and its
time is measured; training itself is not run. The human part is a model with the rates below, not a
measurement of people (no class was available):

    .venv/bin/python -m benchmarks.lesson_time                      # this lesson
    .venv/bin/python -m benchmarks.lesson_time --notebook OLD.ipynb  # another version, to compare
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
READ_WPM = 150   # words a minute of prose with formulas and code (plain prose: 200 to 250)
THINK_MIN = 1.5  # minutes per stub to read its hint and plan the code
LINE_MIN = 0.5   # minutes per line of solution code (blank and comment lines not counted)
FIX_MIN = 2.0    # minutes to find and fix a mistake once its check's message is read
# (the step, the right line, the learner's wrong one): the teacher's notes' common mistakes
MISTAKES = [
    ("step 3", "return x * (high - low) + low", "return x * (high - low)"),
    ("step 4", "nn.Linear(conv_dim * 8 * 2 * 2, 1),", "nn.Linear(conv_dim * 8 * 2 * 2, 1), nn.Sigmoid(),"),
    ("step 7", "d_fake = D(fake_images.detach())", "d_fake = D(fake_images)"),
]
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def words(text: str) -> int:
    return len(text.split())


def solution_lines(source: str) -> int:
    return sum(1 for region in SOLUTION.findall(source) for line in region.splitlines()
               if line.strip() and not line.strip().startswith("#"))


def run(client: NotebookClient, cell, index: int) -> tuple[float, str]:
    """Execute a cell as Shift-Enter does; (seconds, the text of its error or '')."""
    cell.outputs = []
    start = time.perf_counter()
    client.execute_cell(cell, index)
    error = next((f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"), "")
    return time.perf_counter() - start, error


def measure(notebook: Path, env: dict | None = None) -> list[dict]:
    """One row per step: minutes reading, writing, fixing, and seconds of the cells running. env: more
    environment for the kernel (FACEGEN_DATA, ...)."""
    nb = nbformat.read(notebook, as_version=4)
    training = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "helpers.train(" in c.source)
    rows, row = [], {"step": "start", "read": 0.0, "write": 0.0, "fix": 0.0, "run": 0.0}
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "FACEGEN_OUT": out, "MPLBACKEND": "agg", "FACEGEN_DEVICE": "cpu", **(env or {})}
        client = NotebookClient(nb, timeout=1200, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(ROOT)}})
        with client.setup_kernel(env=env):
            for i, cell in enumerate(nb.cells[:training]):
                heading = re.match(r"## (Step \d+|Hyperparameters)", cell.source)
                if heading:
                    rows.append(row)
                    row = {"step": heading.group(1), "read": 0.0, "write": 0.0, "fix": 0.0, "run": 0.0}
                if cell.cell_type == "markdown":
                    row["read"] += words(cell.source) / READ_WPM
                    continue
                if SOLUTION.search(cell.source):
                    row["write"] += THINK_MIN + solution_lines(cell.source) * LINE_MIN
                for step, right, wrong in MISTAKES:
                    if right in cell.source:  # the learner's first try: run it and the checks after it
                        source, cell.source = cell.source, cell.source.replace(right, wrong)
                        message = ""
                        for j in range(i, training):
                            if nb.cells[j].cell_type != "code":
                                continue
                            seconds, message = run(client, nb.cells[j], j)
                            row["run"] += seconds
                            if message or (j > i and "tests.check_" in nb.cells[j].source):
                                break
                        assert message, f"the mistake of {step} was not caught: {wrong!r}"
                        row["fix"] += words(message) / READ_WPM + FIX_MIN
                        cell.source = source
                seconds, error = run(client, cell, i)
                assert not error, f"cell {i} failed: {error}"
                row["run"] += seconds
    return rows + [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "face_generation.ipynb")
    notebook = parser.parse_args().notebook
    rows = measure(notebook)
    print(f"{notebook.name}: reading {READ_WPM} words/min; per stub {THINK_MIN} min + {LINE_MIN} min a line; "
          f"per mistake the message + {FIX_MIN} min")
    print(f"{'':16}{'read':>7}{'write':>7}{'fix':>7}{'run':>7}{'minute':>8}")
    total = 0.0
    for r in rows:
        total += r["read"] + r["write"] + r["fix"] + r["run"] / 60
        print(f"{r['step']:16}{r['read']:7.1f}{r['write']:7.1f}{r['fix']:7.1f}{r['run'] / 60:7.1f}{total:8.1f}")
    print(f"Training starts at minute {total:.0f} (reading {sum(r['read'] for r in rows):.0f}, writing "
          f"{sum(r['write'] for r in rows):.0f}, fixing {sum(r['fix'] for r in rows):.0f}, cells running "
          f"{sum(r['run'] for r in rows) / 60:.1f}).")


if __name__ == "__main__":
    main()
