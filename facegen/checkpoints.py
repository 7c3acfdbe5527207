"""Files that a kill cannot break: checkpoints written atomically, loaded safely (no code in a file ever
runs), and the generator's own file (CPU tensors, loadable without a GPU)."""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from facegen import FacegenError, write_atomically


# A checkpoint is a plain dict (helpers.train builds it in plain sight, as nanoGPT does); these two
# functions save and load it.

def save_checkpoint(checkpoint: dict, path: Path) -> None:
    """Save a checkpoint atomically: written to <name>.new.pt and fsynced, then the previous one becomes
    <name>.prev.pt and the new one takes its name, so a kill at any moment leaves a loadable file."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.stem}.new.pt.tmp*"):  # left by a kill mid-write
        stale.unlink(missing_ok=True)
    try:
        write_atomically(path.with_suffix(".new.pt"), lambda f: torch.save(checkpoint, f))
        if path.exists():
            os.replace(path, path.with_suffix(".prev.pt"))
        os.replace(path.with_suffix(".new.pt"), path)
    except OSError as e:
        raise FacegenError(f"Could not save {path} ({e}); the previous checkpoint is unchanged.") from None


def load_checkpoint(path: Path) -> dict | None:
    """Load a checkpoint safely (weights_only=True: no code runs); fall back to the previous one.

    Returns None when there is none. A corrupt file is reported in one line and skipped. The
    returned dict says which file it came from under "loaded_from".
    """
    path = Path(path)
    candidates = [c for c in (path, path.with_suffix(".prev.pt")) if c.exists()]
    for i, candidate in enumerate(candidates):
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"it holds a {type(state).__name__}, not a checkpoint")
            state["loaded_from"] = str(candidate)  # this file or the previous one
            return state
        except Exception as e:  # noqa: BLE001 - truncated, corrupt or not a checkpoint at all
            print(f"Checkpoint {candidate} is unreadable ({e.__class__.__name__}); "
                  f"{'trying the previous one' if i + 1 < len(candidates) else 'starting fresh'}.")
    return None


def load_generator(G: nn.Module, path: Path) -> nn.Module:
    """Load trained weights into G (weights_only=True), whatever G's attribute names, so the pretrained route works.

    The file's tensors are matched to G's by order and shape: a state dict lists the layers in the order
    __init__ assigns them (self.fc before self.deconv1; inside an nn.Sequential, its order), each layer's
    weight, bias, then batch norm's running statistics. So a Generator with other names or nesting loads
    the file if it builds the same layers in the same order. Anything else is refused in one line, G unchanged.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FacegenError(f"{path} does not exist; train first, or get it from the repository's assets/") from None
    except Exception as e:  # noqa: BLE001
        raise FacegenError(f"{path} is not a readable generator state dict ({e.__class__.__name__}).") from None
    if not isinstance(state, dict) or not state or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise FacegenError(f"{path} is not a generator state dict (a training checkpoint?): load a file written by "
                           "torch.save(G.state_dict(), path), such as assets/generator.pt.")
    own = G.state_dict()
    if state.keys() == own.keys():  # the same names: pair them by name, whatever order the file lists them in
        state = {key: state[key] for key in own}
    difference = _state_difference(list(state.items()), list(own.items()))
    if difference:
        raise FacegenError(f"{path.name} does not fit this Generator: {difference}")
    G.load_state_dict(dict(zip(own, state.values())))  # by order: the file's n-th tensor into G's n-th
    return G


def _state_difference(file: list[tuple[str, torch.Tensor]], own: list[tuple[str, torch.Tensor]]) -> str:
    """'' when the two state dicts hold the same tensors in the same order; else what differs, and what to do."""
    layers = {}  # a layer (a module holding tensors) -> its number, from 1, in the file's order
    z_size = next((t.shape[1] for _, t in file if t.dim() == 2), None)  # the first linear layer's input
    conv_dim = next((t.shape[0] for _, t in reversed(file) if t.dim() == 4), None)  # the last layer's input
    for i, ((key, theirs), (name, mine)) in enumerate(zip(file, own)):
        layer = layers.setdefault(key.rpartition(".")[0], len(layers) + 1)
        kind, my_kind = key.rpartition(".")[2], name.rpartition(".")[2]
        if kind == my_kind and theirs.shape == mine.shape:
            continue
        where = (f"layer {layer}: the file has a {kind} of shape {tuple(theirs.shape)}, this Generator ({name}) "
                 f"a {my_kind} of shape {tuple(mine.shape)}")
        if len(file) != len(own):
            return (f"this Generator has {len(own)} tensors, the file {len(file)}: a layer is missing or extra (e.g. "
                    f"a bias=False); the first difference is at {where}.")
        same_rows = theirs.dim() == mine.dim() == 2 and theirs.shape[0] == mine.shape[0]
        hint = (f"is z_size {z_size}?" if i == 0 and same_rows
                else f"is conv_dim {conv_dim}?" if kind == my_kind and theirs.dim() == mine.dim()
                else "are the layers built in the same order (as forward() uses them)?")
        return (f"{where}: {hint} Build Generator(z_size={z_size}, conv_dim={conv_dim}) with the notebook's "
                "architecture to load it.")
    if len(file) != len(own):
        return (f"this Generator has {len(own)} tensors, the file {len(file)}: a layer is missing or extra at the "
                f"end (e.g. a bias=False on the last layer).")
    return ""


def save_generator(G: nn.Module, path: Path) -> Path:
    """Save G's state dict as CPU tensors (atomically), so load_generator works on a machine without a GPU."""
    state = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    write_atomically(Path(path), lambda f: torch.save(state, f))
    return Path(path)
