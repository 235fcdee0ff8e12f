"""kNN label agreement: do a record's nearest neighbours share its label? Low agreement hints at noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.scorers._knn import shared_self_knn


class KnnAgreementParams(Params):
    k: int = Field(10, ge=1)
    exact_max: int = Field(50_000, ge=1)
    nprobe: int = Field(16, ge=1)
    seed: int | None = None  # None: the run's seed (IVF training sample)


class KnnAgreementScorer(Scorer):
    """``knn_agreement_score`` = similarity-weighted share of the k nearest other records with the same label.

    Weights are cosines clipped at 0; when all of a record's neighbours have weight 0 the plain share is
    used. Unlabelled neighbours are ignored; an unlabelled record (or one with no labelled neighbour) gets
    NaN.
    """

    name = "knn_agreement"
    outputs = ('knn_agreement_score',)
    Params = KnnAgreementParams
    requires = ("faiss",)
    needs_embeddings = True
    needs_labels = True

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        n = len(pool)
        seed = ctx.seed if p.seed is None else p.seed
        y = pool.label_indices()
        sims, idx = shared_self_knn(ctx, pool.embeddings, p.k, exact_max=p.exact_max, nprobe=p.nprobe, seed=seed,
                             progress=ctx.progress, desc="knn_agreement")
        out = np.full(n, np.nan, dtype=np.float64)
        if idx.shape[1] == 0:
            return pd.DataFrame({"knn_agreement_score": out})
        valid = (idx >= 0)
        ny = np.where(valid, y[np.where(valid, idx, 0)], -1)
        valid &= ny >= 0
        same = (ny == y[:, None]) & valid
        w = np.where(valid, np.clip(np.nan_to_num(sims, neginf=0.0), 0.0, None), 0.0)
        wsum = w.sum(axis=1)
        weighted = np.divide((w * same).sum(axis=1), wsum, out=np.zeros(n), where=wsum > 0)
        count = valid.sum(axis=1)
        plain = np.divide(same.sum(axis=1), count, out=np.zeros(n), where=count > 0)
        score = np.where(wsum > 0, weighted, plain)
        ok = (y >= 0) & (count > 0)
        out[ok] = score[ok]
        return pd.DataFrame({"knn_agreement_score": out})
