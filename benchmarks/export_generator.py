"""Write a trained generator as the pretrained route loads it: its weights and its layers as data.

    .venv/bin/python -m benchmarks.export_generator outputs/runs/NAME/generator.pt assets/generator.pt

SOURCE is a run's generator.pt (the weight average's state dict, as helpers.train writes it); it is loaded
into the notebook's own Generator (its z_size and conv_dim read from the file), then written by
facegen.pretrained.export_generator: DEST and DEST's _layers.json beside it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.notebook import load_notebook_code
from facegen.pretrained import export_generator, layers_path
from facegen.checkpoints import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    state = torch.load(args.source, map_location="cpu", weights_only=True)
    rows, z_size = state["fc.weight"].shape
    G = load_generator(load_notebook_code()["Generator"](z_size=z_size, conv_dim=rows // (8 * 2 * 2)), args.source)
    export_generator(G, z_size, args.dest)
    print(f"Wrote {args.dest} and {layers_path(args.dest)}")


if __name__ == "__main__":
    main()
