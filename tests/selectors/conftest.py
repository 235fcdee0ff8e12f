"""A synthetic pool for selector tests: labels, clusters, score columns and clustered unit embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.pool import Pool

#: cluster sizes (one small cluster so water-filling has something to do)
CLUSTER_SIZES = (150, 120, 100, 90, 80, 12)
LABEL_NAMES = ["neg", "neu", "pos"]


def make_pool(seed: int = 0, dim: int = 16) -> Pool:
    rng = np.random.default_rng(seed)
    cluster = np.concatenate([np.full(s, c) for c, s in enumerate(CLUSTER_SIZES)])
    n = len(cluster)
    centres = rng.standard_normal((len(CLUSTER_SIZES), dim))
    emb = centres[cluster] + 0.3 * rng.standard_normal((n, dim))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    label = rng.choice(LABEL_NAMES, size=n, p=[0.6, 0.3, 0.1])
    df = pd.DataFrame({
        "id": [f"r{i:04d}" for i in range(n)],
        "source_file": "pool.jsonl",
        "source_line": np.arange(1, n + 1),
        "text": [f"record {i}" for i in range(n)],
        "label": label,
        "raw": "{}",
    })
    df["proxy_prob_score"] = rng.random(n)
    df["target_sim_score"] = rng.standard_normal(n)
    df["length_score"] = rng.integers(5, 200, size=n)
    mtld = rng.random(n) * 100
    mtld[::7] = np.nan
    df["mtld_score"] = mtld
    df["cluster"] = cluster
    df["cluster_dist"] = rng.random(n)
    return Pool(df=df, task="text", label_names=LABEL_NAMES, embeddings=emb)


@pytest.fixture
def pool() -> Pool:
    return make_pool()


@pytest.fixture
def ctx() -> RunContext:
    return RunContext(seed=0, progress=False)


def _check_order(order: np.ndarray, candidates: np.ndarray, n_target: int) -> None:
    order = np.asarray(order)
    assert order.dtype.kind == "i"
    assert len(np.unique(order)) == len(order)
    assert np.isin(order, candidates).all()
    assert len(order) >= min(n_target, len(candidates))


@pytest.fixture
def check_order():
    """The selector contract: unique, within candidates, at least ``n_target`` long when possible."""
    return _check_order


@pytest.fixture(name="make_pool")
def make_pool_fixture():
    return make_pool
