"""Quotas, in-group ranks and interleaving shared by the group-based selectors (strata, clusters)."""

from __future__ import annotations

import math

import numpy as np

from curata.errors import ConfigError
from curata.selectors.expr import Expression, missing_column


def group_weights(sizes: np.ndarray, allocation: str) -> np.ndarray:
    """Weights of an ``allocation``: ``proportional`` (∝ size), ``sqrt`` (∝ √size) or ``balanced`` (equal)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if allocation == "proportional":
        return sizes.copy()
    if allocation == "sqrt":
        return np.sqrt(sizes)
    if allocation == "balanced":
        return (sizes > 0).astype(np.float64)
    raise ValueError(f"unknown allocation {allocation!r} (proportional, sqrt or balanced)")


def floor_minimum(sizes: np.ndarray, n: int, floor: float) -> np.ndarray:
    """Per-group minimum ``min(size, ⌈floor · n / K⌉)`` (K = non-empty groups), never above an equal share
    ``n // K`` so the minima always fit in the budget; 0 everywhere when ``floor`` is 0."""
    sizes = np.asarray(sizes, dtype=np.int64)
    k = int((sizes > 0).sum())
    if floor <= 0 or k == 0:
        return np.zeros(len(sizes), dtype=np.int64)
    m = min(int(math.ceil(floor * n / k - 1e-9)), n // k)
    return np.minimum(sizes, m)


def water_fill(n: float, w: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Real x with ``x_g = clip(λ·w_g, lo_g, hi_g)`` and Σx = n (λ found exactly on the piecewise-linear Σ);
    when n is out of reach every positive-weight group sits at its bound."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    pos = w > 0
    if not pos.any():
        return lo.copy()
    bps = np.unique(np.r_[lo[pos] / w[pos], hi[pos] / w[pos]])
    vals = np.array([np.clip(b * w, lo, hi).sum() for b in bps])
    j = int(np.searchsorted(vals, n - 1e-9))
    if j >= len(bps):
        lam = bps[-1]
    elif j == 0 or vals[j] <= vals[j - 1]:
        lam = bps[j]
    else:  # Σx is linear between two breakpoints
        lam = bps[j - 1] + (n - vals[j - 1]) * (bps[j] - bps[j - 1]) / (vals[j] - vals[j - 1])
    return np.clip(lam * w, lo, hi)


def allocate(sizes: np.ndarray, n: int, weights: np.ndarray | None = None,
             priority: np.ndarray | None = None, *, allocation: str | None = None,
             floor: float = 0.0) -> np.ndarray:
    """Integer quotas summing to ``min(n, Σ sizes)``, proportional to ``weights``, never above ``sizes``.

    ``allocation`` (``proportional``/``sqrt``/``balanced``) derives the weights from the sizes instead.
    ``floor`` > 0 gives every non-empty group at least ``min(size, ⌈floor · n / K⌉)`` (see ``floor_minimum``);
    the rest of the budget is shared by weight among the groups above their minimum.

    Water-filling: ``x_g = clip(λ·w_g, minimum_g, size_g)`` with Σx = n — a group smaller than its share takes
    everything, one below its floor gets the floor, and the others share the rest by weight (zero-weight
    groups take only what the others cannot). Fractions are rounded by largest remainder; equal remainders
    go to the lower ``priority`` value (default: group index).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    k = len(sizes)
    n = int(min(n, sizes.sum()))
    if allocation is not None:
        if weights is not None:
            raise ValueError("give weights or allocation, not both")
        weights = group_weights(sizes, allocation)
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    w[sizes == 0] = 0.0
    if w.sum() <= 0:
        w = (sizes > 0).astype(np.float64)
    prio = np.arange(k) if priority is None else np.asarray(priority)
    lo = floor_minimum(sizes, n, floor)
    alloc = water_fill(n, w, lo, sizes)
    if alloc.sum() < n - 1e-6:  # zero-weight groups share what the others could not take
        alloc = water_fill(n, (alloc < sizes).astype(np.float64), alloc, sizes)
    quota = np.minimum(np.floor(alloc + 1e-9).astype(np.int64), sizes)
    short = n - int(quota.sum())
    if short > 0:
        frac = alloc - quota
        room = quota < sizes
        cand = np.flatnonzero(room)
        pick = cand[np.lexsort((prio[cand], -np.round(frac[cand], 9)))][:short]
        quota[pick] += 1
    return quota


def rank_in_groups(codes: np.ndarray, key: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """0-based rank of each item inside its group: highest ``key`` first, then lowest ``tie``."""
    order = np.lexsort((tie, -key, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first
    return rank


def interleave(codes: np.ndarray, rank: np.ndarray, rate: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Positions sorted so group g's r-th item comes at time (r + ½)/rate[g]: each prefix tracks the rates."""
    rate = np.asarray(rate, dtype=np.float64)
    t = (rank + 0.5) / np.maximum(rate[codes], 1e-300)
    return np.lexsort((priority[codes], t))


def in_group_key(pool, rows: np.ndarray, by, rng: np.random.Generator, key: str = "select.selector.by"):
    """(score per row, description): the ``by`` expression, or a seeded random draw."""
    if by is None:
        return rng.random(len(rows)), "random"
    expr = Expression.parse(by, key)
    return expr.evaluate(pool.df, rows), expr.describe(pool.df)


def group_codes(pool, rows: np.ndarray, column: str, key: str) -> tuple[np.ndarray, list]:
    """(code per row, group values): missing values form their own group, shown as None."""
    if column not in pool.df.columns:
        raise missing_column(key, column, pool.df)
    values = pool.df[column].iloc[rows]
    if column == "label" and values.isna().all():
        raise ConfigError(key, "the pool has no labels to stratify by",
                          "give the input a label field, or stratify by another column")
    codes, uniques = values.factorize(sort=True, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    groups = list(uniques)
    if (codes < 0).any():
        codes[codes < 0] = len(groups)
        groups.append(None)
    return codes, groups


def ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
