"""A mutation run: small bugs put into the code one at a time, and whether the development tier's tests catch
each one. A mutant that no test catches (a survivor) is a bug the tests would let through, or a change that
does not change behaviour; each survivor is fixed by a test or explained (docs/testing.md).

    .venv/bin/python -m benchmarks.mutants                       # 5 mutants in each of 12 modules, seed 0
    .venv/bin/python -m benchmarks.mutants --per-module 4 --seed 1 --json benchmarks/results/mutants.json
    .venv/bin/python -m benchmarks.mutants --modules helpers.py facegen/runs.py     # only these modules

Mutants are drawn at random (the seed) from every site in the modules below where one of these applies:
a comparison flipped (< to <=, == to !=, ...), + to -, * to /, and to or, a number n to n + 1, True to False,
`not x` to x, or a call statement removed. Each runs the tests that guard its module, development tier
only (`-m "not slow"`), stopping at the first failure. The source file is restored after every mutant,
also when the run is interrupted.
"""
from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import cpu_name

ROOT = Path(__file__).resolve().parent.parent
# module -> the test files that guard it
GUARDS = {
    "helpers.py": ["tests/test_helpers.py", "tests/test_runs.py", "tests/test_pretrained.py"],
    "facegen/runs.py": ["tests/test_runs.py", "tests/test_checkpoints.py", "tests/test_progress.py"],
    "facegen/checkpoints.py": ["tests/test_checkpoints.py", "tests/test_runs.py"],
    "facegen/progress.py": ["tests/test_progress.py", "tests/test_runs.py"],
    "facegen/dataset.py": ["tests/test_dataset.py"],
    "facegen/settings.py": ["tests/test_settings.py"],
    "facegen/fast_step.py": ["tests/test_fast_step.py"],
    "facegen/checks/networks.py": ["tests/test_problem_unittests.py", "tests/test_learners.py"],
    "facegen/checks/training_step.py": ["tests/test_problem_unittests.py", "tests/test_learners.py"],
    "facegen/checks/step_verdicts.py": ["tests/test_problem_unittests.py", "tests/test_learners.py"],
    "problem_unittests.py": ["tests/test_problem_unittests.py", "tests/test_learners.py"],
    ".ci/make_student.py": ["tests/test_student_notebook.py"],
}
# the development tier's way (.ci/dev.sh), one process: stop at the first failure
PYTEST = ["-x", "-q", "-m", "not slow", "-p", "no:nbval", "-p", "no:cacheprovider", "-o", "addopts="]
FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
        ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}


def sites(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(node index in ast.walk order, what changes, line) for every place a mutant applies."""
    found = []
    for i, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and type(node.ops[0]) in FLIP:
            found.append((i, f"{type(node.ops[0]).__name__} -> {FLIP[type(node.ops[0])].__name__}", line))
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP:
            found.append((i, f"{type(node.op).__name__} -> {BINOP[type(node.op)].__name__}", line))
        elif isinstance(node, ast.BoolOp):
            found.append((i, "and <-> or", line))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
            found.append((i, f"{node.value!r} -> {node.value + 1!r}", line))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            found.append((i, f"{node.value} -> {not node.value}", line))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.append((i, "not x -> x", line))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            found.append((i, "call removed", line))
    # docstrings and the module's constants at top level are not behaviour worth a mutant
    return [s for s in found if s[2] > 0]


def mutate(source: str, index: int) -> str:
    """source with the mutant at node `index` (ast.walk order) applied, unparsed."""
    tree = ast.parse(source)
    for i, node in enumerate(ast.walk(tree)):
        if i != index:
            continue
        if isinstance(node, ast.Compare):
            node.ops[0] = FLIP[type(node.ops[0])]()
        elif isinstance(node, ast.BinOp):
            node.op = BINOP[type(node.op)]()
        elif isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, ast.Constant):
            node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
        elif isinstance(node, ast.UnaryOp):  # not x -> +bool(x): the truth of x, not its negation
            node.op, node.operand = ast.UAdd(), ast.Call(ast.Name("bool", ast.Load()), [node.operand], [])
        elif isinstance(node, ast.Expr):
            node.value = ast.Constant(None)
        return ast.unparse(tree)
    raise IndexError(index)


def run_one(module: str, index: int, what: str, line: int, timeout: int) -> dict:
    path = ROOT / module
    original = path.read_text()
    try:
        path.write_text(mutate(original, index))
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", *PYTEST,
                                   *GUARDS[module]], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            caught = done.returncode != 0
            by = next((x.split(" - ")[0].removeprefix("FAILED ") for x in done.stdout.splitlines()
                       if x.startswith(("FAILED", "ERROR"))), None)
        except subprocess.TimeoutExpired:
            caught, by = True, "timed out"
        return {"module": module, "line": line, "mutant": what, "caught": caught, "by": by,
                "seconds": round(time.perf_counter() - start, 1)}
    finally:
        path.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-module", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=300, help="seconds a mutant's tests may take")
    parser.add_argument("--modules", nargs="+", choices=list(GUARDS), default=list(GUARDS), help="only these")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = []
    for module in args.modules:
        baseline = subprocess.run([sys.executable, "-m", "pytest", *PYTEST,
                                   *GUARDS[module]], cwd=ROOT, capture_output=True, text=True)
        if baseline.returncode:  # a failing guard would "catch" every mutant
            sys.exit(f"the tests guarding {module} fail without a mutant:\n{baseline.stdout[-2000:]}")
        found = sites(ast.parse((ROOT / module).read_text()))
        for index, what, line in rng.sample(found, min(args.per_module, len(found))):
            result = run_one(module, index, what, line, args.timeout)
            results.append(result)
            print(f"{'caught  ' if result['caught'] else 'SURVIVED'} {module}:{line} {what} "
                  f"({result['seconds']} s{', by ' + result['by'] if result['by'] else ''})", flush=True)
    survivors = [r for r in results if not r["caught"]]
    print(f"{len(results)} mutants, {len(results) - len(survivors)} caught, {len(survivors)} survived")
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "seed": args.seed,
                                         "machine": f"{os.cpu_count()} cores of {cpu_name()}, torch {importlib.metadata.version('torch')}",
                                         "command": "python -m benchmarks.mutants " + " ".join(sys.argv[1:]),
                                         "mutants": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
