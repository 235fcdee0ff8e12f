"""Nearest-neighbour similarity: how close each record is to its closest other record in the pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.scorers._knn import shared_self_knn


class NearestNeighbourParams(Params):
    k: int = Field(6, ge=1)  # knn_dist_score is the distance to the k-th neighbour (InstructMining's KNN-6)
    exact_max: int = Field(50_000, ge=1)
    nprobe: int = Field(16, ge=1)
    seed: int | None = None  # None: the run's seed (IVF training sample)


class NearestNeighbourScorer(Scorer):
    """``nn_sim_score`` = max cosine to another record (``nn_id``); ``knn_dist_score`` = 1 − cos to the k-th.

    High ``nn_sim_score`` marks redundant records; ``knn_dist_score`` is InstructMining's KNN-i isolation
    indicator. With fewer than ``k`` other records the farthest one available is used; a lone record gets
    similarity 0, distance 1 and no ``nn_id``.
    """

    name = "nn_sim"
    outputs = ('nn_sim_score', 'nn_id', 'knn_dist_score')
    Params = NearestNeighbourParams
    requires = ("faiss",)
    needs_embeddings = True

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        n = len(pool)
        seed = ctx.seed if p.seed is None else p.seed
        sims, idx = shared_self_knn(ctx, pool.embeddings, p.k, exact_max=p.exact_max, nprobe=p.nprobe, seed=seed,
                             progress=ctx.progress, desc="nn_sim")
        nn_sim = np.zeros(n, dtype=np.float64)
        kth_sim = np.zeros(n, dtype=np.float64)
        nn_id = np.full(n, None, dtype=object)
        if idx.shape[1]:
            found = idx >= 0
            has = found[:, 0]
            nn_sim[has] = sims[has, 0]
            ids = pool.ids.to_numpy(dtype=object)
            nn_id[has] = ids[idx[has, 0]]
            last = np.where(found.any(axis=1), found.sum(axis=1) - 1, 0)
            kth = sims[np.arange(n), last]
            kth_sim = np.where(np.isfinite(kth), kth, 0.0).astype(np.float64)
        return pd.DataFrame({"nn_sim_score": nn_sim, "nn_id": pd.Series(nn_id, dtype=object),
                             "knn_dist_score": 1.0 - kth_sim})
