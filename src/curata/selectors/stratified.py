"""Stratified selection: quotas per stratum (label by default), so the subset keeps or evens out the mix."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import field_validator

from curata.engine.stage import Params, Selector, SelectorResult
from curata.selectors.expr import ExprSpec, validate_spec
from curata.selectors.groups import allocate, group_codes, in_group_key, interleave, ordinal, rank_in_groups


class StratifiedParams(Params):
    column: str = "label"
    allocation: Literal["proportional", "balanced"] = "proportional"
    by: ExprSpec | None = None  # in-stratum order; None: seeded random
    seed: int | None = None  # None: the run's seed

    _check_by = field_validator("by")(validate_spec)


class StratifiedSelector(Selector):
    """Largest-remainder quotas per stratum (proportional to its size, or equal with water-filling).

    Within a stratum records go best-first by ``by`` (or in seeded random order); strata are interleaved
    so every prefix of the order stays close to the allocation.
    """

    name = "stratified"
    Params = StratifiedParams

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        rows = np.asarray(candidates, dtype=np.int64)
        codes, groups = group_codes(pool, rows, p.column, "select.selector.column")
        rng = np.random.default_rng(seed)
        key, how = in_group_key(pool, rows, p.by, rng)
        rank = rank_in_groups(codes, key, rows)
        sizes = np.bincount(codes, minlength=len(groups))
        priority = np.empty(len(groups), dtype=np.int64)
        priority[np.lexsort((np.arange(len(groups)), -sizes))] = np.arange(len(groups))
        weights = sizes if p.allocation == "proportional" else None
        quota = allocate(sizes, n_target, weights, priority)

        head = rank < quota[codes]
        h = np.flatnonzero(head)
        t = np.flatnonzero(~head)
        head_order = h[interleave(codes[h], rank[h], quota, priority)]
        rest = sizes - quota
        tail_order = t[interleave(codes[t], rank[t] - quota[codes[t]], rest, priority)]
        order_idx = np.concatenate([head_order, tail_order])

        names = [f"{p.column}={g!r}" if g is not None else f"{p.column} missing" for g in groups]
        walk = f"by {how}" if p.by is not None else f"random order (seed {seed})"
        reasons, skipped = {}, {}
        for i in order_idx.tolist():
            r, c = int(rows[i]), int(codes[i])
            nth = f"{ordinal(int(rank[i]) + 1)} of {sizes[c]}" if p.by is not None else \
                f"random pick {int(rank[i]) + 1} of {sizes[c]}"
            if head[i]:
                reasons[r] = f"{names[c]}: {nth} (quota {quota[c]})"
            else:
                reasons[r] = f"{names[c]}: {nth}, past its quota of {quota[c]} (budget had room)"
                skipped[r] = f"{names[c]}: quota of {quota[c]} filled ({nth})"
        describe = f"stratified by {p.column} ({p.allocation}), within stratum {walk}"
        summary = {"column": p.column, "allocation": p.allocation, "within": walk,
                   "quotas": {str(g): int(q) for g, q in zip(groups, quota)},
                   "available": {str(g): int(s) for g, s in zip(groups, sizes)}}
        return SelectorResult(order=rows[order_idx], describe=describe, reasons=reasons,
                              skipped_reasons=skipped, summary=summary)
