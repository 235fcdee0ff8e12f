"""k-center greedy (Sener & Savarese 2018 core-set): each pick is the record farthest from those chosen."""

from __future__ import annotations

from typing import Literal

import numpy as np

from curata.engine.stage import Params, Selector, SelectorResult
from curata.errors import ConfigError


class KCenterParams(Params):
    start: Literal["random", "medoid"] = "random"
    seed: int | None = None  # None: the run's seed


def require_embeddings(pool, name: str) -> np.ndarray:
    if pool.embeddings is None:
        raise ConfigError("select.selector", f"the {name} selector needs embeddings, and the pool has none",
                          "add an embedder (e.g. `embed: {model: static}`) before selection")
    return pool.embeddings


class KCenterSelector(Selector):
    """Farthest-point traversal in cosine distance over the candidates' embeddings.

    The chosen set covers the pool with the smallest radius a greedy 2-approximation can give, so the
    subset spans every region instead of piling up where the pool is dense. O(n·k) float32 work.
    """

    name = "kcenter"
    Params = KCenterParams
    needs_embeddings = True

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        from curata.console import tqdm

        seed = ctx.seed if self.params.seed is None else self.params.seed
        rows = np.asarray(candidates, dtype=np.int64)
        emb = np.ascontiguousarray(require_embeddings(pool, self.name)[rows], dtype=np.float32)
        n, k = len(rows), min(int(n_target), len(rows))
        if k == 0:
            return SelectorResult(order=rows[:0], describe=self._describe(seed))
        if self.params.start == "medoid":
            first = int(np.argmax(emb @ emb.mean(axis=0)))
        else:
            first = int(np.random.default_rng(seed).integers(n))
        picked = np.empty(k, dtype=np.int64)
        dist_at_pick = np.zeros(k, dtype=np.float32)
        best = np.full(n, -np.inf, dtype=np.float32)  # cosine similarity to the nearest chosen record
        nearest = np.zeros(n, dtype=np.int32)
        sim = np.empty(n, dtype=np.float32)
        closer = np.empty(n, dtype=bool)
        j = first
        for step in tqdm(range(k), desc="k-center", disable=not ctx.progress or k < 2000, unit="pick"):
            if step:
                j = int(np.argmin(best))
                dist_at_pick[step] = 1.0 - best[j]
            picked[step] = j
            np.dot(emb, emb[j], out=sim)
            np.greater(sim, best, out=closer)
            np.copyto(best, sim, where=closer)
            np.copyto(nearest, step, where=closer)
            best[j] = np.inf
        min_dist = 1.0 - best
        order = rows[picked]
        ids = pool.df["id"].to_numpy()
        start_text = "medoid start (highest mean cosine similarity)" if self.params.start == "medoid" \
            else f"seeded random start (seed {seed})"
        reasons = {int(order[0]): f"k-center step 1: {start_text}"}
        for s in range(1, k):
            reasons[int(order[s])] = f"k-center step {s + 1}: farthest point, distance " \
                                     f"{dist_at_pick[s]:.2f} from the chosen set"
        rest = np.flatnonzero(np.isfinite(best))
        radius = float(min_dist[rest].max()) if len(rest) else 0.0
        skipped = {int(rows[i]): f"covered: cosine distance {min_dist[i]:.2f} to chosen record "
                                 f"{ids[order[nearest[i]]]} (k-center radius {radius:.2f})" for i in rest}
        summary = {"start": self.params.start, "picks": k, "radius": round(radius, 4),
                   "first_gap": round(float(dist_at_pick[1]), 4) if k > 1 else None,
                   "last_gap": round(float(dist_at_pick[-1]), 4) if k > 1 else None}
        return SelectorResult(order=order, describe=self._describe(seed), reasons=reasons,
                              skipped_reasons=skipped, summary=summary)

    def _describe(self, seed: int) -> str:
        start = "medoid start" if self.params.start == "medoid" else f"random start, seed {seed}"
        return f"k-center greedy on cosine distance ({start})"
