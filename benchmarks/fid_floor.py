"""FID's floor at each sample count: real training faces against the held-out faces, as step 10 prints it.

    python -m benchmarks.fid_floor [--data ZIP] [--samples 300 2000 5000] [--cache DIR] [--json FILE]

A generator that drew the training faces themselves would score this; FID of few samples reads high even
then, so a score means something only beside the floor at the same count (helpers.fid_floor).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import helpers
from benchmarks import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--samples", type=int, nargs="+", default=[300, 2000, 5000])
    parser.add_argument("--cache", type=Path, default=Path("outputs/cache"), help="the FID statistics' cache")
    parser.add_argument("--json", type=Path, help="also write the floors to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fid_floor-"))
    images, held_out = helpers.hold_out(helpers.load_images(helpers.find_dataset(args.data, out_dir=work,
                                                                                   download=False), verbose=False))
    rows = []
    for n in args.samples:
        start = time.perf_counter()
        floor = helpers.fid_floor(images, held_out, n, cache_dir=args.cache)
        rows.append([f"{n:,}", f"{floor:.1f}", f"{time.perf_counter() - start:.0f}"])
        print(json.dumps({"samples": n, "floor": round(floor, 2)}), flush=True)
    if args.json:
        helpers.write_json(args.json, {"date": time.strftime("%Y-%m-%d"), "machine": machine(),
                                       "command": "python -m benchmarks.fid_floor --samples "
                                                  + " ".join(map(str, args.samples)) + f" --json {args.json}",
                                       "columns": ["samples (each side)", "FID's floor", "seconds (cached: less)"],
                                       "rows": rows})


if __name__ == "__main__":
    main()
