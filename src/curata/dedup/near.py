"""Near-duplicate grouping by embedding cosine — the one semantic dedup (``near_dup``, also named
``semantic_dup``): greedy over nearest neighbours in pool order, or SemDeDup inside k-means clusters.

Record pairs are compared as pairs: two pairs are near-duplicates only when their left records *and* their
right records are (either side order), not when the summed pair vectors are close — in entity matching the
same product recurs in many candidate pairs, and pairs that share one side are not copies of each other.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.scorers._knn import shared_self_knn


class NearDuplicateParams(Params):
    threshold: float = Field(0.95, ge=-1.0, le=1.0)
    #: knn: each record against its k nearest earlier records, greedy in pool order (the kept record is the
    #: first); semdedup: SemDeDup — k-means clusters, every pair inside a cluster, the kept record of a group is
    #: the one farthest from its centroid (the least prototypical), independent of the input order
    method: Literal["knn", "semdedup"] = "knn"
    k: int = Field(20, ge=1)  # knn: candidate neighbours per record
    clusters: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"  # semdedup: k-means k (auto: n/50, ≤ 4096)
    dense_max: int = Field(4000, ge=2)  # semdedup: larger clusters compare record by record (no dense matrix)
    exact_max: int = Field(50_000, ge=1)
    nprobe: int = Field(16, ge=1)
    seed: int | None = None  # None: the run's seed (IVF training sample, k-means)


def pair_similarity(sides: tuple[np.ndarray, np.ndarray], i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Similarity of pairs ``i`` and ``j`` as pairs: the smaller of the two sides' cosines, in the better of
    the two side orders (left–left & right–right, or left–right & right–left)."""
    u, v = sides
    ll = np.einsum("nd,nd->n", u[i], u[j])
    rr = np.einsum("nd,nd->n", v[i], v[j])
    lr = np.einsum("nd,nd->n", u[i], v[j])
    rl = np.einsum("nd,nd->n", v[i], u[j])
    return np.maximum(np.minimum(ll, rr), np.minimum(lr, rl))


class NearDuplicateScorer(Scorer):
    """``near_dup_score`` = cosine to the kept record it duplicates (0.0 if kept); ``near_dup_of`` = that id.

    In pool order, a record whose cosine to an earlier *kept* record is ≥ ``threshold`` joins the most similar
    such record; otherwise it is kept. Candidates are its ``k`` nearest neighbours, so a record with more
    than ``k`` closer neighbours that are later or themselves duplicates can be missed. For pairs the
    candidates come from the pair vectors and the cosine is ``pair_similarity`` (both sides must match).
    """

    name = "near_dup"
    outputs = ('near_dup_score', 'near_dup_of')
    version = "2"  # pairs compared side by side
    Params = NearDuplicateParams
    requires = ("faiss",)
    needs_embeddings = True

    def score(self, pool, ctx) -> pd.DataFrame:
        if self.params.method == "semdedup":
            from curata.dedup.semdedup import semdedup
            rep, score = semdedup(pool, self.params, ctx)
            of = np.full(len(pool), None, dtype=object)
            dup = rep >= 0
            of[dup] = pool.ids.to_numpy(dtype=object)[rep[dup]]
            return pd.DataFrame({"near_dup_score": score, "near_dup_of": pd.Series(of, dtype=object)})
        p = self.params
        n = len(pool)
        seed = ctx.seed if p.seed is None else p.seed
        sims, idx = shared_self_knn(ctx, pool.embeddings, p.k, exact_max=p.exact_max, nprobe=p.nprobe, seed=seed,
                                    progress=ctx.progress, desc="near_dup")
        if pool.task == "pair" and pool.sides is not None and sims.size:
            ok = idx >= 0
            rows = np.repeat(np.arange(n), idx.shape[1])[ok.ravel()]
            sims = np.full(idx.shape, -np.inf, dtype=np.float64)
            sims[ok] = pair_similarity(pool.sides, rows, idx[ok])
            order = np.argsort(-sims, axis=1, kind="stable")  # most similar first, as for single records
            sims, idx = np.take_along_axis(sims, order, 1), np.take_along_axis(idx, order, 1)
        score = np.zeros(n, dtype=np.float64)
        rep = np.full(n, -1, dtype=np.int64)
        cand = (idx >= 0) & (idx < np.arange(n)[:, None]) & (sims >= p.threshold)
        kept = np.ones(n, dtype=bool)
        for i in np.flatnonzero(cand.any(axis=1)):
            js = idx[i, cand[i]]
            ok = kept[js]
            if ok.any():
                best = np.flatnonzero(ok)[0]
                kept[i] = False
                rep[i] = js[best]
                score[i] = float(sims[i, cand[i]][best])
        of = np.full(n, None, dtype=object)
        dup = rep >= 0
        of[dup] = pool.ids.to_numpy(dtype=object)[rep[dup]]
        return pd.DataFrame({"near_dup_score": score, "near_dup_of": pd.Series(of, dtype=object)})
