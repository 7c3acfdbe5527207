"""FID's cost on this machine: seconds per image through the Inception network, against its ceiling.

    python -m benchmarks.fid_speed [--images 200] [--repeats 3]

The Inception network costs 5.7 GFLOP per 299x299 image, so this machine's fp32 matmul peak (measured
here on 2048x2048 matrices) divided by 5.7 GFLOP is the most images per second FID could do.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from facegen import fid

INCEPTION_GFLOP = 5.7  # per image at 299x299


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """The median fp32 GFLOP/s of an n x n matrix product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = fid.load_inception(torch.device("cpu"))
    faces = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8)
    fid.inception_features(faces[:10], model)  # warm-up
    per_image = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fid.inception_features(faces, model)
        per_image.append((time.perf_counter() - start) / args.images)
    peak = matmul_gflops()
    ms = 1000 * statistics.median(per_image)
    ceiling = 1000 * INCEPTION_GFLOP / peak
    print(f"{ms:.0f} ms per image (median of {args.repeats} x {args.images}: "
          f"{', '.join(f'{1000 * t:.0f}' for t in per_image)}); {torch.get_num_threads()} threads; "
          f"matmul peak {peak:.0f} GFLOP/s, so at best {ceiling:.0f} ms per image ({ceiling / ms:.0%} of it reached)")


if __name__ == "__main__":
    main()
