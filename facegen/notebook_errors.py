"""How the notebook shows the two errors a learner meets on purpose, each in one line instead of a
traceback through the code that called it (helpers.explain_stubs registers brief() with IPython):

- NotImplementedError("not implemented yet: step N, name"), a stub of the exercise not written yet:
  one line on stderr naming the step;
- CheckFailed, a check of problem_unittests.py that found a mistake: one line, `check_name: verdict`,
  as the cell's error output, so the cell still fails for nbclient, nbval and nbgrader alike (the
  execute reply is an error and an iopub error message goes out, with a one-line traceback).

Any other exception, a library's NotImplementedError included, keeps IPython's usual traceback.
"""
from __future__ import annotations

import sys

from facegen.checking import CheckFailed

HANDLED = (NotImplementedError, CheckFailed)
STUB = "not implemented yet: "


def brief(shell, etype, evalue, tb, tb_offset=None) -> None:
    """IPython's custom exception handler (shell.set_custom_exc(HANDLED, brief))."""
    if issubclass(etype, CheckFailed):
        shell._showtraceback(etype, evalue, [f"{evalue.check}: {evalue}" if evalue.check else str(evalue)])
    elif str(evalue).startswith(STUB):
        print(f"Not implemented yet: {str(evalue).removeprefix(STUB)}. Write that step, run its cell, then run this "
              "one again.", file=sys.stderr)
    else:
        shell._showtraceback(etype, evalue, shell.InteractiveTB.structured_traceback(etype, evalue, tb, tb_offset))
