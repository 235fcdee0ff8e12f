"""Embedder base class and the step that turns a pool into geometry vectors and classifier features."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from curata.embed.cache import EmbeddingCache, embed_texts
from curata.engine.stage import Stage


class Embedder(Stage):
    """Turns texts into L2-normalised vectors. ``model_key`` names the model for the content-keyed cache."""

    role = "embedder"
    dim: ClassVar[int | None] = None

    @property
    def model_key(self) -> str:
        return f"{self.name}-{self.fingerprint()}"

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def batch_size(self) -> int:
        return getattr(self.params, "batch_size", 64)


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SBERT-style pair features for classifiers: ``[u, v, |u-v|, u*v]``."""
    return np.hstack([u, v, np.abs(u - v), u * v]).astype(np.float32)


class EmbedStep:
    """Embeds a pool (or a target/test set) with one embedder and one cache.

    text/instruction: vector of ``text``. pair: left and right are embedded on their own (an entity
    that recurs across pairs is embedded once); geometry = normalise(u + v), features = pair features.
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCache | None = None, progress: bool = True):
        self.embedder, self.cache, self.progress = embedder, cache, progress
        self.stats: dict[str, float] = {}

    def texts(self, texts: list[str], desc: str = "embed") -> np.ndarray:
        vecs, stats = embed_texts(texts, self.embedder, self.cache, progress=self.progress, desc=desc)
        for k, v in stats.items():
            self.stats[k] = self.stats.get(k, 0) + v
        return vecs

    def pool(self, pool, desc: str = "embed") -> None:
        if pool.task == "pair":
            u = self.texts(pool.df["left"].tolist(), desc=f"{desc} (left)")
            v = self.texts(pool.df["right"].tolist(), desc=f"{desc} (right)")
            pool.embeddings = normalise(u + v)
            pool.features = pair_features(u, v)
            pool.sides = (normalise(u), normalise(v))
        else:
            pool.embeddings = self.texts(pool.df["text"].tolist(), desc=desc)
            pool.features = pool.embeddings
