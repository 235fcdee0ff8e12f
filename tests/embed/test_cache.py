"""The content-keyed embedding cache: each distinct text is embedded once per model, across calls, runs and
pool/target; chunks are written as they finish."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from curata.embed.base import Embedder, EmbedStep, normalise
from curata.embed.cache import EmbeddingCache, embed_texts, text_key
from curata.engine.stage import Params
from curata.pool import Pool


class CountingParams(Params):
    dim: int = 8


class CountingEmbedder(Embedder):
    """Vectors derived from the text's hash; remembers every batch it was asked to encode."""

    name = "counting"
    Params = CountingParams

    def __init__(self, **params):
        super().__init__(**params)
        self.batches: list[list[str]] = []

    @property
    def texts_encoded(self) -> list[str]:
        return [t for b in self.batches for t in b]

    def encode(self, texts):
        self.batches.append(list(texts))
        return np.stack([vector(t, self.params.dim) for t in texts])


def vector(text: str, dim: int = 8) -> np.ndarray:
    seed = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
    return normalise(np.random.default_rng(seed).normal(size=(1, dim)))[0]


def chunk_files(cache: EmbeddingCache) -> list:
    return sorted(cache.dir.glob("chunk-*.npz"))


def text_pool(texts, task="text", **cols) -> Pool:
    n = len(next(iter(cols.values()))) if texts is None else len(texts)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source_file": "x", "source_line": range(1, n + 1),
                       "text": texts if texts is not None else [""] * n, "label": None, "raw": "", **cols})
    return Pool(df=df, task=task)


@pytest.fixture
def emb():
    return CountingEmbedder()


@pytest.fixture
def cache(tmp_path, emb):
    return EmbeddingCache(tmp_path / "cache", emb.model_key)


def test_vectors_are_aligned_with_the_texts(emb, cache):
    texts = ["b", "a", "c", "a"]
    vecs, stats = embed_texts(texts, emb, cache, progress=False)
    assert vecs.shape == (4, 8) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, np.stack([vector(t) for t in texts]), rtol=1e-6)
    assert stats["texts"] == 4 and stats["unique"] == 3 and stats["encoded"] == 3


def test_duplicates_within_a_call_are_embedded_once(emb, cache):
    embed_texts(["x", "y", "x", "x", "z", "y"], emb, cache, progress=False)
    assert emb.batches == [["x", "y", "z"]]


def test_duplicates_without_a_cache_are_embedded_once(emb):
    vecs, stats = embed_texts(["x", "y", "x"], emb, None, progress=False)
    assert emb.batches == [["x", "y"]] and stats["encoded"] == 2
    np.testing.assert_array_equal(vecs[0], vecs[2])


def test_cached_texts_are_not_embedded_again(emb, cache):
    embed_texts(["a", "b", "c"], emb, cache, progress=False)
    vecs, stats = embed_texts(["c", "d", "a", "e"], emb, cache, progress=False)
    assert emb.batches == [["a", "b", "c"], ["d", "e"]]
    assert stats == {**stats, "texts": 4, "unique": 4, "encoded": 2}
    np.testing.assert_allclose(vecs, np.stack([vector(t) for t in ["c", "d", "a", "e"]]), rtol=1e-6)
    _, stats = embed_texts(["e", "a"], emb, cache, progress=False)
    assert stats["encoded"] == 0 and len(emb.batches) == 2


def test_a_chunk_is_written_per_call_and_read_back_by_a_new_process(tmp_path, emb, cache):
    embed_texts(["a", "b"], emb, cache, progress=False)
    assert len(chunk_files(cache)) == 1
    embed_texts(["b", "c"], emb, cache, progress=False)
    assert len(chunk_files(cache)) == 2
    embed_texts(["a", "c"], emb, cache, progress=False)  # nothing new: no empty chunk
    assert len(chunk_files(cache)) == 2
    with np.load(chunk_files(cache)[1]) as z:
        assert z["keys"].shape == (1, 20) and bytes(z["keys"][0]) == text_key("c")
        np.testing.assert_allclose(z["vecs"][0], vector("c"), rtol=1e-6)

    fresh_emb = CountingEmbedder()
    fresh = EmbeddingCache(tmp_path / "cache", fresh_emb.model_key)  # a later run, same cache directory
    vecs, stats = embed_texts(["c", "b", "a"], fresh_emb, fresh, progress=False)
    assert fresh_emb.batches == [] and stats["encoded"] == 0
    np.testing.assert_allclose(vecs, np.stack([vector(t) for t in "cba"]), rtol=1e-6)


def test_chunk_size_and_its_environment_hook(emb, cache, monkeypatch):
    embed_texts([f"t{i}" for i in range(10)], emb, cache, progress=False, chunk=4)
    assert [len(b) for b in emb.batches] == [4, 4, 2] and len(chunk_files(cache)) == 3
    monkeypatch.setenv("CURATA_EMBED_CHUNK", "3")
    embed_texts([f"u{i}" for i in range(7)], emb, cache, progress=False)
    assert [len(b) for b in emb.batches[3:]] == [3, 3, 1] and len(chunk_files(cache)) == 6


def test_caches_are_per_model(tmp_path):
    small, large = CountingEmbedder(dim=8), CountingEmbedder(dim=16)
    assert small.model_key != large.model_key
    embed_texts(["a"], small, EmbeddingCache(tmp_path, small.model_key), progress=False)
    vecs, _ = embed_texts(["a"], large, EmbeddingCache(tmp_path, large.model_key), progress=False)
    assert vecs.shape == (1, 16) and large.batches == [["a"]]
    assert len(list((tmp_path / "embeddings").iterdir())) == 2


def test_a_torn_chunk_is_ignored_and_recomputed(emb, cache, tmp_path):
    embed_texts(["a"], emb, cache, progress=False)
    (cache.dir / "chunk-999999-0-0.npz").write_bytes(b"PK\x03\x04 not really a zip")
    again = CountingEmbedder()
    vecs, stats = embed_texts(["a", "b"], again, EmbeddingCache(tmp_path / "cache", again.model_key),
                              progress=False)
    assert again.batches == [["b"]]
    np.testing.assert_allclose(vecs[0], vector("a"), rtol=1e-6)


def test_pool_and_target_share_the_cache(emb, cache):
    step = EmbedStep(emb, cache, progress=False)
    pool = text_pool(["refund please", "parcel late", "app crash", "parcel late"])
    target = text_pool(["app crash", "login fails"])
    step.pool(pool)
    step.pool(target)
    assert emb.texts_encoded == ["refund please", "parcel late", "app crash", "login fails"]
    assert step.stats["texts"] == 6 and step.stats["encoded"] == 4
    np.testing.assert_array_equal(pool.embeddings[2], target.embeddings[0])
    assert pool.features is pool.embeddings
    np.testing.assert_allclose(np.linalg.norm(pool.embeddings, axis=1), 1.0, rtol=1e-6)


def test_pairs_embed_each_side_once(emb, cache):
    left = ["iPhone 12 64GB", "iPhone 12 64GB", "Galaxy S21"]
    right = ["Apple iPhone 12", "Galaxy S21", "Apple iPhone 12"]
    pool = text_pool(None, task="pair", left=left, right=right)
    EmbedStep(emb, cache, progress=False).pool(pool)
    assert sorted(emb.texts_encoded) == sorted({"iPhone 12 64GB", "Galaxy S21", "Apple iPhone 12"}) \
        and len(emb.texts_encoded) == 3
    u, v = vector(left[0]), vector(right[0])
    np.testing.assert_allclose(pool.features[0], np.concatenate([u, v, np.abs(u - v), u * v]), rtol=1e-5)
    np.testing.assert_allclose(pool.embeddings[0], normalise((u + v)[None])[0], rtol=1e-5)
    assert pool.features.shape == (3, 32) and pool.embeddings.shape == (3, 8)
