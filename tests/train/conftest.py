"""Fixtures for trainer tests: Gaussian blobs with a known set of flipped labels, built without embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curata.pool import Pool


def blob_pool(n: int, seed: int, flip_rate: float = 0.0, dim: int = 8, gap: float = 6.0, labels=("a", "b")):
    """Two unit-variance blobs ``gap`` apart on the diagonal (Bayes error Φ(-gap/2)); ``flip_rate`` swapped.

    The signal is spread over every feature, as in sentence embeddings, so dropping a few features (the
    feature-space views of the ``ido`` trainer) weakens it without erasing it.

    Returns (pool, true label indices, flipped mask).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centres = np.zeros((2, dim))
    centres[1] = gap / np.sqrt(dim)
    x = centres[y] + rng.standard_normal((n, dim))
    flip = np.zeros(n, dtype=bool)
    flip[rng.choice(n, int(round(flip_rate * n)), replace=False)] = True
    given = np.where(flip, 1 - y, y)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source_file": "blobs.jsonl",
                       "source_line": np.arange(1, n + 1), "text": [f"record {i}" for i in range(n)],
                       "label": [labels[v] for v in given], "raw": ""})
    pool = Pool(df=df, label_names=list(labels), features=x.astype(np.float32),
                embeddings=(x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32))
    return pool, y, flip


@pytest.fixture
def blobs():
    return blob_pool
