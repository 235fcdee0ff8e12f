"""A 2-D map of the pool for the report: PCA of the embeddings (deterministic, a second or two at 100k)."""

from __future__ import annotations

import numpy as np


def pca_2d(x: np.ndarray, max_fit: int = 20_000, seed: int = 0) -> np.ndarray:
    """Project onto the top two principal axes, fitted on a seeded sample of at most ``max_fit`` rows."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 3:
        return np.zeros((len(x), 2), np.float32)
    fit = x if len(x) <= max_fit else x[np.random.default_rng(seed).choice(len(x), max_fit, replace=False)]
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    axes = vt[:2].T
    # fix the sign so the map does not flip between runs
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), [0, 1]] < 0, -1, 1)
    return ((x - mean) @ axes).astype(np.float32)
