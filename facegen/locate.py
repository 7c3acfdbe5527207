"""Where the faces come from: FACEGEN_DATA, beside the notebook, a download, or the synthetic stand-in
(FACEGEN_DATA=synthetic: the stand-in at once, without searching or downloading)."""
from __future__ import annotations

import time
from pathlib import Path

from facegen import FacegenError
from facegen.synthetic import SYNTHETIC_IMAGES, write_synthetic_zip
from facegen.zipdata import DATASET_FOLDER, DATASET_ZIP, DataSource, download_dataset, list_image_names

SYNTHETIC = "synthetic"  # FACEGEN_DATA=synthetic: the stand-in, without searching or downloading


def find_dataset(data: str = "", search_dir: Path | None = None, out_dir: Path = Path("outputs"),
                 seed: int = 0, download: bool = True, max_images: int | None = None) -> DataSource:
    """FACEGEN_DATA -> a zip or folder beside the notebook (search_dir: the working folder, which Jupyter
    makes the notebook's) -> a download -> a synthetic stand-in (10,000 cartoon faces, or max_images
    when fewer will be used). data="synthetic" goes straight to the stand-in."""
    search_dir = Path.cwd() if search_dir is None else Path(search_dir)
    if data == SYNTHETIC:
        return synthetic_dataset(out_dir, seed, max_images, "FACEGEN_DATA=synthetic: using SYNTHETIC cartoon faces.")
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise FacegenError(f"FACEGEN_DATA={data} does not exist. Point it at {DATASET_ZIP} or a folder "
                               "of images, or unset it to use the data beside the notebook.")
        source = DataSource("folder" if path.is_dir() else "zip", path.resolve())
        list_image_names(source)  # a bad zip or an empty folder fails here, clearly
        return source
    for candidate, kind in ((search_dir / DATASET_ZIP, "zip"), (search_dir / DATASET_FOLDER, "folder")):
        if candidate.exists():
            return DataSource(kind, candidate.resolve())
    if download and (path := download_dataset(search_dir / DATASET_ZIP)) is not None:
        return DataSource("zip", path.resolve())
    return synthetic_dataset(out_dir, seed, max_images, "NO REAL FACES FOUND: using SYNTHETIC cartoon faces instead.")


def synthetic_dataset(out_dir: Path, seed: int, max_images: int | None, headline: str) -> DataSource:
    """The synthetic stand-in (drawn once into out_dir/data), announced so nobody mistakes it for faces."""
    n_images = min(max_images or SYNTHETIC_IMAGES, SYNTHETIC_IMAGES)
    path = Path(out_dir) / "data" / f"synthetic-faces-seed{seed}-{n_images}.zip"
    print("=" * 78)
    print(headline)
    print(f"For real faces, put {DATASET_ZIP} beside the notebook or set FACEGEN_DATA (see README).")
    print("=" * 78)
    if not path.exists():
        start = time.perf_counter()
        write_synthetic_zip(path, n_images, seed=seed)
        print(f"Drew {n_images:,} synthetic faces into {path} in {time.perf_counter() - start:.1f} s.")
    return DataSource("synthetic", path.resolve())
