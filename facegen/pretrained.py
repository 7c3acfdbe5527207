"""The shipped generator: its weights (assets/generator.pt, a state dict) and its layers, as data
(assets/generator_layers.json: torch.nn layer names with their arguments, what print(G) shows).

load_pretrained builds an nn.Sequential of exactly those layers and loads the weights into it, by order and
shape. So the package holds no Python class of the lesson's Generator (writing it is step 4), and the route
never loads the weights into the learner's own Generator (which may keep biases the file lacks, order its
layers otherwise, or be built with the GPU recipe's conv_dim 64). export_generator writes both files from
any generator whose layers run one after the other (benchmarks/export_generator.py, for a new asset).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

from facegen import FacegenError
from facegen.checkpoints import load_generator, save_generator

PACKAGE = Path(__file__).resolve().parent
# assets/ beside the notebook in a clone; facegen/assets/ where the project is installed as a package.
ASSETS = next((p for p in (PACKAGE.parent / "assets", PACKAGE / "assets") if (p / "generator.pt").exists()),
              PACKAGE.parent / "assets")
PRETRAINED = ASSETS / "generator.pt"
ABOUT = "the CPU recipe, 30 minutes on 2 CPU cores, on the real faces; docs/results.md"

# The layers a file may name, and the arguments that rebuild each (from the layer itself).
LAYERS = {
    "Linear": lambda m: ([m.in_features, m.out_features], {"bias": m.bias is not None}),
    "BatchNorm2d": lambda m: ([m.num_features], {"eps": m.eps, "momentum": m.momentum}),
    "ConvTranspose2d": lambda m: ([m.in_channels, m.out_channels, list(m.kernel_size), list(m.stride),
                                   list(m.padding)], {"output_padding": list(m.output_padding),
                                                      "bias": m.bias is not None}),
    "ReLU": lambda m: ([], {}), "Tanh": lambda m: ([], {}), "Unflatten": lambda m: ([m.dim, list(m.unflattened_size)], {}),
}


def layers_path(weights: Path) -> Path:
    """generator.pt -> generator_layers.json, beside it."""
    return weights.with_name(f"{weights.stem}_layers.json")


def export_generator(G: nn.Module, z_size: int, path: Path) -> Path:
    """Write G's weights to `path` and its layers to layers_path(path): the leaf layers in the order they run on z
    (a reshape between two becomes an nn.Unflatten). The rebuilt generator must draw G's images, or nothing is kept."""
    order = []
    hooks = [m.register_forward_hook(lambda m, args, out: order.append((m, args[0].shape, out.shape)))
             for m in G.modules() if not any(True for _ in m.children())]
    z = torch.randn(2, z_size, generator=torch.Generator().manual_seed(0))
    was = G.training
    try:
        G.eval()
        with torch.no_grad():
            expected = G(z)
    finally:
        G.train(was)
        for hook in hooks:
            hook.remove()
    layers, previous = [], None
    for module, before, after in order:
        if previous is not None and len(previous) == 2 and len(before) == 4:
            layers.append(["Unflatten", [1, list(before[1:])], {}])
        name = type(module).__name__
        if name not in LAYERS:
            raise FacegenError(f"export_generator takes {', '.join(LAYERS)} layers, run one after the other; G runs a "
                               f"{name}")
        layers.append([name, *LAYERS[name](module)])
        previous = after
    conv_dim = getattr(G, "conv_dim", None)
    path = Path(path)
    save_generator(G, path)
    rows = ",\n".join(f"  {json.dumps(layer)}" for layer in layers)  # one layer a line, as print(G) shows them
    layers_path(path).write_text(f'{{"z_size": {z_size}, "conv_dim": {json.dumps(conv_dim)}, "layers": [\n{rows}\n]}}\n')
    rebuilt = load_pretrained("cpu", path)
    with torch.no_grad():
        drawn = rebuilt(z)
        if drawn.shape != expected.shape or not torch.allclose(drawn, expected, atol=1e-6):
            path.unlink()
            layers_path(path).unlink()
            raise FacegenError("export_generator: G does more than run its layers one after the other (an "
                               "activation in forward?); the layers alone do not draw its images")
    return path


def load_pretrained(device: torch.device | str = "cpu", path: Path = PRETRAINED) -> nn.Sequential:
    """The generator in `path` (assets/generator.pt) with the layers of layers_path(path), on device, in eval mode:
    an nn.Sequential with .z_size and .conv_dim (conv_dim 32 and z_size 100 for the shipped one)."""
    path = Path(path)
    try:
        spec = json.loads(layers_path(path).read_text())
        G = nn.Sequential(*(_layer(*layer) for layer in spec["layers"]))
        G.z_size, G.conv_dim = int(spec["z_size"]), spec["conv_dim"]
    except FileNotFoundError as e:
        raise FacegenError(f"{e.filename} does not exist: it ships with the project (assets/), beside "
                           "generator.pt; get the project again, or train (pretrained = False in the settings "
                           "cell).") from None
    except (ValueError, KeyError, TypeError) as e:
        raise FacegenError(f"{layers_path(path)} is not a generator's layers written by this project "
                           f"({e.__class__.__name__}: {str(e)[:120]}).") from None
    load_generator(G, path)
    return G.to(device).eval()


def _layer(name: str, args: list, kwargs: dict) -> nn.Module:
    if name not in LAYERS:
        raise ValueError(f"a layer {name!r}, not one of {', '.join(LAYERS)}")
    if name == "Unflatten":
        return nn.Unflatten(args[0], tuple(args[1]))
    return getattr(nn, name)(*[tuple(a) if isinstance(a, list) else a for a in args],
                             **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
