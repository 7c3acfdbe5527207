"""benchmarks/: the speed benchmark runs both loops and reports their ratio, and safe_extract (which
extracts a zip for the classic ImageFolder loop it compares against) refuses zip-slip entries."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import extract
from facegen import synthetic
from helpers import FacegenError
from tests.builders import ROOT, files_under, image_bytes, one_line, slip_names, slip_zip, write_zip


# --- The speed benchmark ------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_benchmark_runs_both_loops_and_reports_their_ratio(tmp_path):
    data = synthetic.write_synthetic_zip(tmp_path / "faces.zip", n_images=300, seed=5)
    out = tmp_path / "speed.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.train_speed", "--data", str(data), "--seconds", "1",
                          "--device", "cpu", "--precision", "bf16", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["device"] == "cpu" and results["precision"] == "bf16"
    assert results["data"]["images"] == 300
    assert results["reference_images_per_second"] > 0 and results["notebook_images_per_second"] > 0
    assert results["ratio"] == round(results["notebook_images_per_second"] / results["reference_images_per_second"], 2)
    assert f"Ratio: {results['ratio']:.2f}x" in run.stdout


# --- safe_extract: zip-slip ------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["dotdot", "deep-dotdot", "absolute", "dotdot-into-sibling"])
def test_safe_extract_refuses_zip_slip(tmp_path, which):
    evil = slip_names(tmp_path)[which]
    z = slip_zip(tmp_path, evil)
    target = tmp_path / "box" / "target"
    (tmp_path / "box" / "sibling").mkdir()
    before = files_under(tmp_path, exclude=target)
    with pytest.raises(FacegenError) as e:
        extract.safe_extract(z, target)
    one_line(e, z.name, evil, "unsafe")
    assert files_under(tmp_path, exclude=target) == before, "something was written outside the target"
    assert not Path(tmp_path / "abs-evil.jpg").exists() and not (tmp_path / "evil.jpg").exists()


def test_safe_extract_of_a_good_zip(tmp_path):
    z = write_zip(tmp_path / "ok.zip", {"faces/": b"", "faces/a/000001.jpg": image_bytes(),
                                       "faces/a/../b.jpg": image_bytes(),
                                       "__MACOSX/faces/._b.jpg": b"\0\5\26\7", "faces/.DS_Store": b"\0"})
    written = extract.safe_extract(z, tmp_path / "t")
    assert sorted(p.relative_to((tmp_path / "t").resolve()).as_posix() for p in written) == \
        ["faces/a/000001.jpg", "faces/b.jpg"]
