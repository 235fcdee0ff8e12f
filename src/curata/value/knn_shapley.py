"""Exact KNN-Shapley (Jia et al., VLDB 2019): the Shapley value of each record to a K-NN classifier.

Utility of a training subset S for one validation point (x, y) (unweighted K-NN classifier):

    U(S) = (1/K) · Σ_{k=1}^{min(K, |S|)} 1[y_{α_k(S)} = y]

where α_k(S) is the k-th nearest record of S to x (cosine distance on L2-normalised embeddings; ties are
broken by training position, first position nearest), and U(∅) = 0. The utility of a validation *set* is the
mean over its points, and so are the values.

Sort all N training records by distance to x: α_1 nearest, …, α_N farthest, and write m_i = 1[y_{α_i} = y].
Theorem 1 of Jia et al. gives the Shapley values in closed form, from the farthest record inwards:

    s_{α_N} = m_N · min(K, N) / (K · N)
    s_{α_i} = s_{α_{i+1}} + (m_i − m_{i+1}) / K · min(K, i) / i          for i = N−1, …, 1

(The paper writes s_{α_N} = m_N / N, which assumes N ≥ K; the min(K, N)/K factor makes it exact for any N:
the farthest record only counts when fewer than K others are present.) One sort, O(N log N), per validation
point; the recursion is a reversed cumulative sum, done here for a chunk of validation points at once.

The values satisfy efficiency: Σ_i s_i = U(all) − U(∅). A positive value means the record's label agrees with
the validation points it is close to; a negative value means it pushes a wrong label into their
neighbourhoods.
"""

from __future__ import annotations

import numpy as np
from curata.console import tqdm

#: validation × training cells handled per chunk (a few float64/int64 arrays of this size live at once)
CHUNK_CELLS = 1 << 22


def _check(train_emb, train_y, val_emb, val_y, k: int) -> tuple[np.ndarray, ...]:
    xt = np.asarray(train_emb, dtype=np.float32)
    xv = np.asarray(val_emb, dtype=np.float32)
    yt = np.asarray(train_y)
    yv = np.asarray(val_y)
    if xt.ndim != 2 or xv.ndim != 2 or xt.shape[1] != xv.shape[1]:
        raise ValueError(f"embeddings must be 2-D with the same width, got {xt.shape} and {xv.shape}")
    if len(yt) != len(xt) or len(yv) != len(xv):
        raise ValueError("one label per embedding row is needed")
    if k < 1:
        raise ValueError(f"K must be at least 1, got {k}")
    return xt, yt, xv, yv


def sorted_order(train_emb: np.ndarray, val_emb: np.ndarray) -> np.ndarray:
    """Training positions sorted by cosine distance to each validation point (rows), ties by position."""
    return order_by_similarity(val_emb.astype(np.float32) @ train_emb.astype(np.float32).T)


def order_by_similarity(sims: np.ndarray) -> np.ndarray:
    """Column positions by decreasing ``sims`` per row, ties by position (``sims`` is overwritten).

    Same order as a stable argsort of −sims, but 3–5× faster: each value becomes an order-preserving unsigned
    32-bit key, shifted left and joined with the position, so all keys are distinct and the vectorised
    (unstable) integer sort gives the stable order.
    """
    sims = np.asarray(sims, dtype=np.float32)
    n = sims.shape[1]
    shift = np.uint64(max(1, (n - 1).bit_length()))
    np.negative(sims, out=sims)
    sims += np.float32(0.0)  # turns −0.0 into +0.0
    bits = sims.view(np.int32)
    flip = (bits >> 31).view(np.uint32) | np.uint32(0x80000000)  # negatives: all bits; others: the sign bit
    key = (bits.view(np.uint32) ^ flip).astype(np.uint64)
    key <<= shift
    key |= np.arange(n, dtype=np.uint64)
    key.sort(axis=1)
    return (key & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.int64)


def shapley_from_sorted(match: np.ndarray, k: int) -> np.ndarray:
    """The recursion on ``match`` (validation × N, 0/1 in nearest-first order): values in the same order."""
    m = np.asarray(match, dtype=np.float64)
    n = m.shape[1]
    if n == 0:
        return m.copy()
    i = np.arange(1, n, dtype=np.float64)
    steps = (m[:, :-1] - m[:, 1:]) * (np.minimum(k, i) / (k * i))
    s = np.empty_like(m)
    s[:, -1] = m[:, -1] * min(k, n) / (k * n)
    if n > 1:
        s[:, :-1] = s[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
    return s


def knn_shapley(train_emb, train_y, val_emb, val_y, k: int = 10, progress: bool = False,
                chunk_cells: int = CHUNK_CELLS, desc: str = "knn_shapley") -> np.ndarray:
    """Exact KNN-Shapley value of each training record, averaged over the validation points.

    ``*_emb`` are L2-normalised rows (cosine = dot product); labels may be any comparable values. Validation
    points are processed in chunks of about ``chunk_cells / N`` so memory stays bounded for any pool size.
    """
    xt, yt, xv, yv = _check(train_emb, train_y, val_emb, val_y, k)
    n, nv = len(xt), len(xv)
    total = np.zeros(n, dtype=np.float64)
    if n == 0 or nv == 0:
        return total
    step = max(1, chunk_cells // n)
    quiet = not progress or nv <= step
    for s in tqdm(range(0, nv, step), desc=desc, unit=" chunk", disable=quiet, leave=False):
        order = sorted_order(xt, xv[s:s + step])
        match = yt[order] == yv[s:s + step, None]
        total += np.bincount(order.ravel(), weights=shapley_from_sorted(match, k).ravel(), minlength=n)
    return total / nv


def knn_utility(train_emb, train_y, val_emb, val_y, k: int = 10, subset=None) -> float:
    """U(subset) as defined above (mean over validation points); ``subset`` = training positions, None =
    all."""
    xt, yt, xv, yv = _check(train_emb, train_y, val_emb, val_y, k)
    if subset is not None:
        idx = np.sort(np.asarray(subset, dtype=np.int64))
        xt, yt = xt[idx], yt[idx]
    if len(xt) == 0 or len(xv) == 0:
        return 0.0
    order = sorted_order(xt, xv)[:, :k]
    return float((yt[order] == yv[:, None]).sum(axis=1).mean() / k)
