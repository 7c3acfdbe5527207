"""Extracting a dataset zip for the classic ImageFolder pipeline that the speed benchmark compares against."""
from __future__ import annotations

from pathlib import Path

from facegen import FacegenError
from facegen.dataset import is_image_name, open_zip


def safe_extract(zip_path: Path, target: Path) -> list[Path]:
    """Extract a zip's images into target. Every entry is checked first: one with an absolute path
    or '..' (zip-slip) refuses the whole zip, so nothing is written at all."""
    target = Path(target).resolve()
    with open_zip(Path(zip_path)) as zf:
        plan = [(name, (target / name).resolve()) for name in zf.namelist() if is_image_name(name)]
        for name, dest in plan:
            if Path(name).is_absolute() or name.startswith(("/", "\\")) or not dest.is_relative_to(target):
                raise FacegenError(f"{zip_path} holds an unsafe entry {name!r} (it would land outside "
                                   f"{target}); refusing to extract it.")
        for name, dest in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(name))
    return [dest for _, dest in plan]

