"""Shared k-nearest-neighbour search over a pool's own embeddings (cosine, self excluded by position)."""

from __future__ import annotations

import numpy as np
from curata.console import tqdm

from curata.embed.base import normalise

CHUNK = 4096


def build_index(x: np.ndarray, exact_max: int = 50_000, nprobe: int = 16, seed: int = 0):
    """Exact ``IndexFlatIP`` up to ``exact_max`` vectors; above, ``IndexIVFFlat`` trained on a seeded sample.

    ``nlist`` ≈ 4·sqrt(n); training uses at most 64·nlist vectors (at least 10,000), drawn with ``seed``.
    """
    import faiss

    n, d = x.shape
    if n <= exact_max:
        index = faiss.IndexFlatIP(d)
        index.add(x)
        return index
    nlist = max(1, int(round(4 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.cp.min_points_per_centroid = 1
    n_train = min(n, max(64 * nlist, 10_000))
    sample = np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))
    index.train(np.ascontiguousarray(x[sample]))
    index.add(x)
    index.nprobe = int(nprobe)
    return index


def search(index, queries: np.ndarray, k: int, progress: bool = False,
           desc: str = "knn") -> tuple[np.ndarray, np.ndarray]:
    """(similarities, positions), each ``len(queries) × k``, searched in chunks with a progress bar."""
    n = len(queries)
    sims = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    starts = range(0, n, CHUNK)
    for s in tqdm(starts, desc=desc, unit=" chunk", disable=not progress or n <= CHUNK, leave=False):
        d, i = index.search(np.ascontiguousarray(queries[s:s + CHUNK]), k)
        sims[s:s + CHUNK], idx[s:s + CHUNK] = d, i
    return sims, idx


def self_knn(embeddings: np.ndarray, k: int, exact_max: int = 50_000, nprobe: int = 16, seed: int = 0,
             progress: bool = False, desc: str = "knn") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest *other* records of every record: (cosine n×k, positions n×k), best first.

    ``k`` is clipped to ``n − 1``. Self is removed by position, so an exact duplicate keeps its twin at
    similarity 1.0. Missing neighbours (possible with IVF) have position −1 and similarity −inf.
    """
    x = normalise(embeddings)
    n = len(x)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    index = build_index(x, exact_max=exact_max, nprobe=nprobe, seed=seed)
    sims, idx = search(index, x, k + 1, progress=progress, desc=desc)
    is_self = idx == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    keep = ~is_self
    sims = sims[keep].reshape(n, k)
    idx = idx[keep].reshape(n, k)
    missing = idx < 0
    sims[missing] = -np.inf
    np.clip(sims, -1.0, 1.0, out=sims, where=~missing)
    return sims, idx


def shared_self_knn(ctx, embeddings: np.ndarray, k: int, exact_max: int = 50_000, nprobe: int = 16,
                    seed: int = 0, progress: bool = False, desc: str = "knn") -> tuple[np.ndarray, np.ndarray]:
    """``self_knn`` computed once per run and shared: nn_sim, near_dup and knn_agreement all need the same
    neighbours, so the first caller searches ``max(k, 32)`` and later callers slice the answer."""
    store = ctx.artifacts.setdefault("_self_knn", {}) if ctx is not None else {}
    key = (id(embeddings), embeddings.shape, exact_max, nprobe, seed)
    hit = store.get(key)
    if hit is None or hit[0].shape[1] < min(k, len(embeddings) - 1):
        hit = self_knn(embeddings, max(k, 32), exact_max=exact_max, nprobe=nprobe, seed=seed, progress=progress,
                       desc=desc)
        store[key] = hit
    kk = min(k, hit[0].shape[1])
    return hit[0][:, :kk], hit[1][:, :kk]
