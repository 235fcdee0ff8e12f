"""SemDeDup (Abbas et al. 2023) for ``near_dup(method="semdedup")``: duplicates are looked for inside k-means
clusters of the embeddings, every pair of a cluster compared (large clusters by kNN), and of each group of
near-copies the record farthest from the cluster centroid is kept — the least prototypical one, as SemDeDup
keeps, and a choice that does not depend on the order of the input (clustering and ties follow the record ids). Pairs are compared as pairs (both sides).
"""

from __future__ import annotations

import numpy as np

from curata.console import tqdm
from curata.embed.base import normalise


def _clusters(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(assignment, cosine of each record to its centroid) from faiss k-means on unit vectors."""
    import faiss

    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=int(seed), nredo=1, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, assign = km.index.search(x, 1)
    assign = assign[:, 0].astype(np.int64)
    cent = normalise(np.asarray(km.centroids, dtype=np.float32))
    return assign, np.einsum("ij,ij->i", x, cent[assign])


def _similarity(rows: np.ndarray, x: np.ndarray, sides) -> np.ndarray:
    """Dense similarity among ``rows``: cosine, or for pairs the pair similarity (both sides, either order)."""
    if sides is None:
        v = x[rows]
        return v @ v.T
    u, w = sides[0][rows], sides[1][rows]
    return np.maximum(np.minimum(u @ u.T, w @ w.T), np.minimum(u @ w.T, w @ u.T))


def _greedy(order: np.ndarray, sim_to, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``order`` (local positions); a record joins its most similar *kept* predecessor when that similarity
    reaches ``threshold``, else it is kept. ``sim_to(i, kept)`` → similarities of local ``i`` to local ``kept``.
    Returns (local position of the kept record joined, −1 if kept; similarity)."""
    m = len(order)
    rep = np.full(m, -1, dtype=np.int64)
    score = np.zeros(m, dtype=np.float64)
    kept = np.empty(m, dtype=np.int64)
    n_kept = 0
    for i in order:
        if n_kept:
            sims = sim_to(i, kept[:n_kept])
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                rep[i], score[i] = kept[j], float(sims[j])
                continue
        kept[n_kept] = i
        n_kept += 1
    return rep, score


def semdedup(pool, params, ctx) -> tuple[np.ndarray, np.ndarray]:
    """(position of the kept record each duplicate joins, −1 for kept records; similarity to it)."""
    from curata.dedup.near import pair_similarity

    n = len(pool)
    rep = np.full(n, -1, dtype=np.int64)
    score = np.zeros(n, dtype=np.float64)
    if n < 2:
        return rep, score
    # everything below runs in the order of the record ids, so the input order changes nothing
    canon = np.argsort(pool.ids.astype(str).to_numpy(), kind="stable")
    x = normalise(pool.embeddings)[canon]
    sides = pool.sides if pool.task == "pair" and pool.sides is not None else None
    sides = None if sides is None else (sides[0][canon], sides[1][canon])
    k = max(1, min(n, int(np.clip(round(n / 50), 1, 4096)) if params.clusters == "auto" else int(params.clusters)))
    seed = ctx.seed if params.seed is None else params.seed
    assign, to_centroid = _clusters(x, k, seed)
    groups = np.argsort(assign, kind="stable")
    bounds = np.flatnonzero(np.diff(assign[groups])) + 1
    for members in tqdm(np.split(groups, bounds), desc="semdedup", unit=" cluster",
                        disable=not ctx.progress or k < 50, leave=False):
        if len(members) < 2:
            continue
        # farthest from the centroid first (ties by position): that record is the one its group keeps
        order = np.lexsort((members, to_centroid[members]))
        if len(members) <= params.dense_max:
            sim = _similarity(members, x, sides)

            def sim_to(i, kept, sim=sim):
                return sim[i, kept]
        else:  # a big cluster: no dense matrix, the similarity to the kept records one record at a time
            def sim_to(i, kept, members=members):
                a, b = members[np.full(len(kept), i)], members[kept]
                return x[b] @ x[a[0]] if sides is None else pair_similarity(sides, a, b)
        local_rep, local_score = _greedy(order, sim_to, params.threshold)
        dup = local_rep >= 0
        rep[canon[members[dup]]] = canon[members[local_rep[dup]]]
        score[canon[members[dup]]] = local_score[dup]
    return rep, score
