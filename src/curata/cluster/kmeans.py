"""k-means over the pool's embeddings (faiss): cluster ids for balanced, bandit and diversity selection."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curata.embed.base import normalise
from curata.engine.stage import Params, Scorer


def auto_k(n: int) -> int:
    """clip(round(sqrt(n / 2)), 2, 256), never more than n."""
    return int(min(n, np.clip(round(np.sqrt(n / 2)), 2, 256)))


class KMeansParams(Params):
    k: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    niter: int = Field(25, ge=1)
    seed: int | None = None  # None: the run's seed


class KMeansClusterer(Scorer):
    """``cluster`` (int64) by faiss k-means on normalised vectors; ``cluster_dist`` = 1 − cos to the centroid.

    Same seed, same assignment. ``k="auto"`` uses clip(round(sqrt(n/2)), 2, 256); centroids are saved as the
    ``cluster_centroids`` artifact.
    """

    name = "kmeans"
    outputs = ('cluster', 'cluster_dist')
    Params = KMeansParams
    requires = ("faiss",)
    needs_embeddings = True

    def score(self, pool, ctx) -> pd.DataFrame:
        import faiss

        p = self.params
        x = normalise(pool.embeddings)
        n, d = x.shape
        if n == 0:
            return pd.DataFrame({"cluster": np.zeros(0, np.int64), "cluster_dist": np.zeros(0, np.float64)})
        k = auto_k(n) if p.k == "auto" else max(1, min(int(p.k), n))
        seed = ctx.seed if p.seed is None else p.seed
        km = faiss.Kmeans(d, k, niter=p.niter, seed=int(seed), nredo=1, spherical=False, verbose=False,
                          min_points_per_centroid=1)
        km.train(x)
        _, assign = km.index.search(x, 1)
        cluster = assign[:, 0].astype(np.int64)
        centroids = np.asarray(km.centroids, dtype=np.float32)
        unit = normalise(centroids)
        cos = np.einsum("ij,ij->i", x, unit[cluster]).astype(np.float64)
        ctx.save_artifact("cluster_centroids", centroids)
        return pd.DataFrame({"cluster": cluster, "cluster_dist": 1.0 - np.clip(cos, -1.0, 1.0)})
