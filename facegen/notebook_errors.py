"""How the notebook shows the two errors a learner meets on purpose, each in one line instead of a
traceback through the code that called it (helpers.explain_stubs registers brief() with IPython):

- NotImplementedError("not implemented yet: step N, name"), a stub of the exercise not written yet:
  one line on stderr naming the step;
- CheckFailed, a check of problem_unittests.py that found a mistake: one line, `check_name: verdict`,
  as the cell's error output, so the cell still fails for nbclient, nbval and nbgrader alike (the
  execute reply is an error and an iopub error message goes out, with a one-line traceback);
- NameError for a name that a step of the lesson defines, read at the top level of a cell (running
  ahead of a step not written or not run yet): one line naming that step (STEP_OF). Inside a
  function (the learner's own, with a typo, say) it keeps its traceback.

Any other exception, a library's NotImplementedError included, keeps IPython's usual traceback. Each
is kept where %tb and %debug look for the last error (sys.last_*), as IPython does for its own.
"""
from __future__ import annotations

import sys

from facegen.checks.common import CheckFailed

HANDLED = (NotImplementedError, CheckFailed, NameError)
STUB = "not implemented yet: "
STEP_OF = {  # the names the notebook's steps define, and the step that defines each
    "images": "step 1", "source": "step 1", "scale": "step 3", "train_loader": "step 3",
    "Discriminator": "step 4", "Generator": "step 4", "D": "step 4", "G": "step 4",
    "weights_init_normal": "step 5", "real_loss": "step 6", "fake_loss": "step 6",
    "d_optimizer": "step 7", "g_optimizer": "step 7", "train_step": "step 7",
    "update_average": "step 8", "result": "step 8", "generator": "step 8", "final_samples": "step 9",
    "G_trained": "the first cell of Going further", "z": "the first cell of Going further",
}


def _at_top_level(tb) -> bool:
    """Whether the exception was raised by a cell's own top-level code, not inside a function it called."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "<module>"


def brief(shell, etype, evalue, tb, tb_offset=None) -> None:
    """IPython's custom exception handler (shell.set_custom_exc(HANDLED, brief))."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, evalue, tb  # for %tb and %debug, as IPython's own
    if sys.version_info >= (3, 12):
        sys.last_exc = evalue
    if issubclass(etype, CheckFailed):
        shell._showtraceback(etype, evalue, [f"{evalue.check}: {evalue}" if evalue.check else str(evalue)])
    elif issubclass(etype, NameError) and getattr(evalue, "name", None) in STEP_OF and _at_top_level(tb):
        source = STEP_OF[evalue.name]
        fix = "Write that step (or run its cells)" if source.startswith("step") else "Run it"
        shell._showtraceback(etype, evalue, [f"NameError: {evalue.name} is not defined yet: it comes from {source}. "
                                             f"{fix}, then run this one again."])
    elif str(evalue).startswith(STUB):
        print(f"Not implemented yet: {str(evalue).removeprefix(STUB)}. Write that step, run its cell, then run this "
              "one again.", file=sys.stderr)
    else:
        shell._showtraceback(etype, evalue, shell.InteractiveTB.structured_traceback(etype, evalue, tb, tb_offset))
