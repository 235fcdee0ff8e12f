"""Uniform random selection: the baseline every other selector must beat."""

from __future__ import annotations

import numpy as np

from curata.engine.stage import Params, Selector, SelectorResult


class RandomParams(Params):
    seed: int | None = None  # None: the run's seed


class RandomSelector(Selector):
    name = "random"
    Params = RandomParams

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        seed = ctx.seed if self.params.seed is None else self.params.seed
        rng = np.random.default_rng(seed)
        order = rng.permutation(candidates)
        return SelectorResult(order=order, describe=f"uniform random (seed {seed})",
                              reasons={int(r): f"random draw #{i + 1} (seed {seed})"
                                       for i, r in enumerate(order[:n_target])})
