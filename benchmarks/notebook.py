"""The notebook's own definitions (Discriminator, Generator, losses, train_step), for tests and benchmarks."""
from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "face_generation.ipynb"


def load_notebook_code(path: Path = NOTEBOOK, tag: str = "definitions") -> dict:
    """Run the notebook's code cells tagged `tag` and return the names they define.

    The tests and the benchmark use the notebook's own Discriminator, Generator, losses and
    train_step this way, so no definition is written twice.
    """
    notebook = json.loads(Path(path).read_text())
    namespace: dict = {"__name__": "face_generation"}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", []):
            code = "".join(line for line in cell["source"] if not line.startswith("%"))  # IPython magics
            exec(compile(code, f"{path}:{tag}", "exec"), namespace)  # noqa: S102
    return namespace
