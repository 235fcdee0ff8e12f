"""Facility location: pick records that best represent the whole pool, F(S) = Σ_i max_{j∈S} sim(i, j)."""

from __future__ import annotations

import heapq
from typing import Literal

import numpy as np
from pydantic import Field

from curata.engine.stage import Params, Selector, SelectorResult
from curata.selectors.kcenter import require_embeddings


class FacilityLocationParams(Params):
    similarity: Literal["clipped", "shifted"] = "shifted"  # max(cos, 0) or (1 + cos) / 2
    dense_max: int = Field(5000, ge=1)  # above this many candidates: a sparse kNN graph
    k: int = Field(50, ge=1)  # neighbours per record in the sparse graph


def to_similarity(cos: np.ndarray, kind: str, inplace: bool = False) -> np.ndarray:
    """Cosine → facility-location similarity: ``max(cos, 0)`` or ``(1 + cos)/2``."""
    out = cos if inplace else cos.copy()
    if kind == "clipped":
        np.maximum(out, 0.0, out=out)
    else:
        out += 1.0
        out *= 0.5
    return out


class FacilityLocationSelector(Selector):
    """Lazy greedy (Minoux) on the monotone submodular facility-location function over the candidates.

    Every record is "served" by its most similar chosen record; each step adds the record that raises
    total service most, which gives a (1 − 1/e) guarantee and a subset that mirrors the pool's density.
    Up to ``dense_max`` candidates the similarity is dense; above, a faiss kNN graph (k per record)
    keeps memory O(n·k) and treats non-neighbours as similarity 0.
    """

    name = "facility_location"
    Params = FacilityLocationParams
    requires = ("faiss",)
    needs_embeddings = True

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        p = self.params
        rows = np.asarray(candidates, dtype=np.int64)
        emb = np.ascontiguousarray(require_embeddings(pool, self.name)[rows], dtype=np.float32)
        n, k = len(rows), min(int(n_target), len(rows))
        dense = n <= p.dense_max
        n_nbr = min(p.k, n - 1)
        if dense:
            sim = to_similarity(emb @ emb.T, p.similarity, inplace=True)
            np.fill_diagonal(sim, 1.0)
            graph = DenseCover(sim)
        else:
            graph = SparseCover(*knn_graph(emb, n_nbr, p.similarity, ctx.progress), n)
        picked, gains = lazy_greedy(graph, k, ctx.progress)
        order = rows[picked]
        total = len(rows)
        reasons = {int(r): f"facility-location gain {g:.3g} at step {s + 1} (of {total} candidates)"
                   for s, (r, g) in enumerate(zip(order, gains))}
        ids = pool.df["id"].to_numpy()
        chosen = np.zeros(n, dtype=bool)
        chosen[picked] = True
        skipped = {}
        for i in np.flatnonzero(~chosen).tolist():
            if graph.cover_by[i] >= 0:
                skipped[int(rows[i])] = (f"represented by chosen record {ids[rows[graph.cover_by[i]]]} "
                                         f"(similarity {graph.cover[i]:.2f})")
            else:
                skipped[int(rows[i])] = "no chosen record among its nearest neighbours"
        graph_text = "dense similarity" if dense else f"{n_nbr}-NN graph"
        describe = f"facility location, lazy greedy ({p.similarity} cosine, {graph_text})"
        summary = {"similarity": p.similarity, "graph": graph_text, "picks": int(k),
                   "objective": round(float(graph.cover.sum()), 4),
                   "objective_max": float(n), "mean_cover": round(float(graph.cover.mean()), 4) if n else 0.0,
                   "evaluations": int(graph.evaluations)}
        return SelectorResult(order=order, describe=describe, reasons=reasons, skipped_reasons=skipped,
                              summary=summary)


class DenseCover:
    """Coverage state over a dense symmetric similarity matrix (row j = how well j serves each record)."""

    def __init__(self, sim: np.ndarray):
        self.sim = sim
        n = len(sim)
        self.cover = np.zeros(n, dtype=np.float32)
        self.cover_by = np.full(n, -1, dtype=np.int64)
        self.evaluations = 0

    def initial_gains(self) -> np.ndarray:
        return self.sim.sum(axis=0, dtype=np.float64)

    def gain(self, j: int) -> float:
        self.evaluations += 1
        return float(np.maximum(self.sim[j] - self.cover, 0.0).sum(dtype=np.float64))

    def add(self, j: int) -> None:
        col = self.sim[j]
        better = col > self.cover
        self.cover[better] = col[better]
        self.cover_by[better] = j


class SparseCover:
    """Coverage state over a kNN graph stored by column: who each record j would serve, and how well."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, val: np.ndarray, n: int):
        by_dst = np.argsort(dst, kind="stable")
        self.rows, self.vals = src[by_dst], val[by_dst]
        self.indptr = np.r_[0, np.cumsum(np.bincount(dst, minlength=n))]
        self.cover = np.zeros(n, dtype=np.float32)
        self.cover_by = np.full(n, -1, dtype=np.int64)
        self.n, self.evaluations = n, 0

    def initial_gains(self) -> np.ndarray:
        dst = np.repeat(np.arange(self.n), np.diff(self.indptr))
        return np.bincount(dst, weights=self.vals.astype(np.float64), minlength=self.n)

    def _col(self, j: int):
        a, b = self.indptr[j], self.indptr[j + 1]
        return self.rows[a:b], self.vals[a:b]

    def gain(self, j: int) -> float:
        self.evaluations += 1
        r, v = self._col(j)
        return float(np.maximum(v - self.cover[r], 0.0).sum(dtype=np.float64))

    def add(self, j: int) -> None:
        r, v = self._col(j)
        better = v > self.cover[r]
        self.cover[r[better]] = v[better]
        self.cover_by[r[better]] = j


def knn_graph(emb: np.ndarray, k: int, kind: str, progress: bool = False) -> tuple[np.ndarray, ...]:
    """Edges (i, j, sim) from each record i to its k nearest neighbours j (exact inner product), plus i→i."""
    import faiss
    from tqdm.auto import tqdm

    n, d = emb.shape
    index = faiss.IndexFlatIP(d)
    index.add(emb)
    nbr = np.empty((n, k + 1), dtype=np.int64)
    cos = np.empty((n, k + 1), dtype=np.float32)
    step = 4096
    for a in tqdm(range(0, n, step), desc="kNN graph", disable=not progress, unit="block"):
        cos[a:a + step], nbr[a:a + step] = index.search(emb[a:a + step], k + 1)
    src = np.repeat(np.arange(n), k + 1)
    dst, val = nbr.ravel(), to_similarity(cos.ravel(), kind).astype(np.float32)
    keep = (dst >= 0) & (dst != src)
    src, dst, val = src[keep], dst[keep], val[keep]
    per_row = np.bincount(src, minlength=n)
    over = per_row > k  # the record was not among its own neighbours (duplicates): drop the farthest
    if over.any():
        pos = np.arange(len(src)) - np.repeat(np.r_[0, np.cumsum(per_row)[:-1]], per_row)
        keep = pos < k
        src, dst, val = src[keep], dst[keep], val[keep]
    diag = np.arange(n)
    return np.r_[src, diag], np.r_[dst, diag], np.r_[val, np.ones(n, dtype=np.float32)]


def lazy_greedy(graph, k: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Minoux's lazy greedy: stale gains are upper bounds (submodularity), so only the top is re-evaluated.

    Ties go to the lowest position, exactly as a naive greedy with ``argmax`` would choose.
    """
    from tqdm.auto import tqdm

    heap = [(-g, j) for j, g in enumerate(graph.initial_gains().tolist())]
    heapq.heapify(heap)
    picked, gains = [], []
    bar = tqdm(total=k, desc="facility location", disable=not progress or k < 2000, unit="pick")
    while len(picked) < k and heap:
        _, j = heapq.heappop(heap)
        g = graph.gain(j)
        if not heap or (-g, j) <= heap[0]:
            graph.add(j)
            picked.append(j)
            gains.append(g)
            bar.update(1)
        else:
            heapq.heappush(heap, (-g, j))
    bar.close()
    return np.asarray(picked, dtype=np.int64), np.asarray(gains)
