"""nbgrader's ClearSolutions with a stub that names the step and what to write, for the release.

nbgrader's own stub is one fixed string per language (ClearSolutions.code_stub); this subclass writes,
at each solution region's indentation,

    raise NotImplementedError("not implemented yet: step N, <what> (see the hints above)")

where step N is the last "## Step N" heading above the cell and <what> the function or method being
written ('Discriminator.forward'), else the names the region assigns ('d_optimizer and g_optimizer').
helpers.explain_stubs() shows such an error as one line. Everything else (markdown answers, outputs,
checksums, locking, hidden tests) is nbgrader's. Configured in .ci/nbgrader_config.py.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearSolutions

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("not implemented yet: {step}, {what} (see the hints above)")'


def _what(lines: list[str]) -> str:
    """What the code before a region defines: 'Class.method', 'function', or ''."""
    defs = [m for line in lines if (m := re.match(r"(\s*)(?:def|class) (\w+)", line))]
    if not defs:
        return ""
    last = defs[-1]
    if last.group(1):  # a method: name its class too
        owner = next((m.group(2) for m in reversed(defs) if not m.group(1)), "")
        return f"{owner}.{last.group(2)}" if owner else last.group(2)
    return last.group(2)


def _assigned(region: list[str]) -> str:
    """The names a module-level region assigns, e.g. 'd_optimizer and g_optimizer'."""
    names = []
    for line in region:
        if line.strip() == END:
            break
        if m := re.match(r"(\w+)\s*=", line):
            names.append(m.group(1))
    return " and ".join(names) or "this cell"


def stub_source(source: str, step: str) -> str:
    """The source with every solution region replaced by a NotImplementedError that names the step."""
    out, lines, inside = [], source.split("\n"), False
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError(f"{BEGIN} inside another solution region in:\n{source}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            what = _what(lines[:i] if indent else []) or _assigned(lines[i + 1:])
            out.append(indent + STUB.format(step=step, what=what))
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END} in:\n{source}")
    return "\n".join(out)


class StepStubs(ClearSolutions):
    """ClearSolutions, with the stub of each code region naming its step and what to write there."""

    def preprocess(self, nb, resources):
        self._step = "the setup"
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown" and (m := re.match(r"## (Step \d+)", cell.source)):
            self._step = m.group(1).lower()
        return super().preprocess_cell(cell, resources, cell_index)

    def _replace_solution_region(self, cell, language):
        if cell.cell_type != "code":  # markdown: nbgrader's text stub, "YOUR ANSWER HERE"
            return super()._replace_solution_region(cell, language)
        source = stub_source(cell.source, self._step)
        replaced = source != cell.source
        cell.source = source
        return replaced
