"""Quotas, in-group ranks and interleaving shared by the group-based selectors (strata, clusters)."""

from __future__ import annotations

import numpy as np

from curata.errors import ConfigError
from curata.selectors.expr import Expression, missing_column


def allocate(sizes: np.ndarray, n: int, weights: np.ndarray | None = None,
             priority: np.ndarray | None = None) -> np.ndarray:
    """Integer quotas summing to ``min(n, Σ sizes)``, proportional to ``weights``, never above ``sizes``.

    Water-filling: a group smaller than its share takes everything and its surplus is shared among the
    rest by weight. Fractions are rounded by largest remainder; equal remainders go to the lower
    ``priority`` value (default: group index).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    k = len(sizes)
    n = int(min(n, sizes.sum()))
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    w[sizes == 0] = 0.0
    prio = np.arange(k) if priority is None else np.asarray(priority)
    alloc = np.zeros(k)
    active = sizes > 0
    remaining = float(n)
    while active.any() and remaining > 0:
        wa = np.where(active, w, 0.0)
        if wa.sum() <= 0:
            wa = active.astype(np.float64)
        share = remaining * wa / wa.sum()
        over = active & (share >= sizes)
        if not over.any():
            alloc[active] = share[active]
            break
        alloc[over] = sizes[over]
        remaining -= float(sizes[over].sum())
        active &= ~over
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
