"""Near-duplicate grouping by embedding cosine: greedy in pool order, each group keeps its first record."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.scorers._knn import shared_self_knn


class NearDuplicateParams(Params):
    threshold: float = Field(0.95, ge=-1.0, le=1.0)
    k: int = Field(20, ge=1)  # candidate neighbours per record
    exact_max: int = Field(50_000, ge=1)
    nprobe: int = Field(16, ge=1)
    seed: int | None = None  # None: the run's seed (IVF training sample)


class NearDuplicateScorer(Scorer):
    """``near_dup_score`` = cosine to the kept record it duplicates (0.0 if kept); ``near_dup_of`` = that id.

    In pool order, a record whose cosine to an earlier *kept* record is ≥ ``threshold`` joins the most similar
    such record; otherwise it is kept. Candidates are its ``k`` nearest neighbours, so a record with more
    than ``k`` closer neighbours that are later or themselves duplicates can be missed.
    """

    name = "near_dup"
    Params = NearDuplicateParams
    requires = ("faiss",)
    needs_embeddings = True

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        n = len(pool)
        seed = ctx.seed if p.seed is None else p.seed
        sims, idx = shared_self_knn(ctx, pool.embeddings, p.k, exact_max=p.exact_max, nprobe=p.nprobe, seed=seed,
                             progress=ctx.progress, desc="near_dup")
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
