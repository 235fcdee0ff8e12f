"""Fixtures for clustering tests: synthetic pools built directly (no embedder) and a quiet run context."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.pool import Pool, natural_sorted


def build_pool(texts=None, embeddings=None, labels=None, task="text", features=None, **columns) -> Pool:
    n = len(texts) if texts is not None else len(embeddings)
    texts = list(texts) if texts is not None else [f"record {i}" for i in range(n)]
    df = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "source_file": ["synthetic.jsonl"] * n,
        "source_line": np.arange(1, n + 1),
        "text": texts,
        "label": list(labels) if labels is not None else [None] * n,
        "raw": [""] * n,
        **columns,
    })
    emb = None
    if embeddings is not None:
        emb = np.asarray(embeddings, dtype=np.float32)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    names = natural_sorted([v for v in labels if v is not None]) if labels is not None else None
    return Pool(df=df, task=task, label_names=names, embeddings=emb,
                features=emb if features is None else np.asarray(features, dtype=np.float32))


@pytest.fixture
def make_pool():
    return build_pool


@pytest.fixture
def ctx():
    return RunContext(seed=0, progress=False)
