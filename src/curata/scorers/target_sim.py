"""Target similarity: how close each record is to the target set that stands for the downstream task."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from curata.embed.base import normalise
from curata.engine.stage import Params, Scorer
from curata.scorers._knn import search


class TargetSimilarityParams(Params):
    k: int = Field(5, ge=1)  # clipped to the target size


class TargetSimilarityScorer(Scorer):
    """``target_sim_score`` = mean of the record's top-k cosine similarities to the target examples.

    A mean over several neighbours rewards records close to the target's bulk rather than to one outlier.
    """

    name = "target_sim"
    outputs = ('target_sim_score',)
    Params = TargetSimilarityParams
    requires = ("faiss",)
    needs_embeddings = True
    needs_target = True

    def score(self, pool, ctx) -> pd.DataFrame:
        import faiss

        target = ctx.target.embeddings
        if target is None:
            raise ValueError("target_sim needs the target set embedded like the pool")
        t = normalise(target)
        x = normalise(pool.embeddings)
        k = min(self.params.k, len(t))
        if k == 0 or len(x) == 0:
            return pd.DataFrame({"target_sim_score": np.zeros(len(x), dtype=np.float64)})
        index = faiss.IndexFlatIP(t.shape[1])
        index.add(t)
        sims, _ = search(index, x, k, progress=ctx.progress, desc="target_sim")
        sims = np.clip(sims.astype(np.float64), -1.0, 1.0)
        return pd.DataFrame({"target_sim_score": sims.mean(axis=1)})
