"""Permutation-sampling (truncated Monte-Carlo) Shapley for the K-NN utility: the reference for small pools.

Shapley value = expected marginal contribution U(P_i ∪ {i}) − U(P_i) over uniformly random orderings, P_i the
records before i (Castro et al. 2009; truncation as in TMC-Shapley, Ghorbani & Zou 2019). The utility is the
one of ``curata.value.knn_shapley`` (same distances, same tie-breaking), so the estimates converge to its
exact values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from curata.console import tqdm

from curata.value.knn_shapley import _check, knn_utility, sorted_order


@dataclass
class MonteCarloResult:
    """Estimated values, their standard errors (std of the marginals / √permutations) and the work done."""

    values: np.ndarray
    stderr: np.ndarray
    n_permutations: int
    utility_full: float
    truncated_fraction: float  # share of (permutation, position) steps skipped by truncation


def monte_carlo_knn_shapley(train_emb, train_y, val_emb, val_y, k: int = 10, n_permutations: int = 1000,
                            seed: int = 0, truncation: float | None = None, batch: int = 128,
                            progress: bool = False) -> MonteCarloResult:
    """Monte-Carlo Shapley values of the training records for the K-NN utility.

    Permutations are processed ``batch`` at a time, vectorised over permutations and validation points: each
    step adds one record to every prefix and keeps, per validation point, the K nearest records seen so far.
    ``truncation`` = None gives plain permutation sampling (unbiased). With a tolerance t, once a prefix's
    utility is within t·|U(all)| of U(all) the rest of that permutation contributes 0 (TMC; biased, cheaper).
    """
    xt, yt, xv, yv = _check(train_emb, train_y, val_emb, val_y, k)
    n, nv = len(xt), len(xv)
    if n_permutations < 2:
        raise ValueError("at least two permutations are needed for a standard error")
    u_full = knn_utility(xt, yt, xv, yv, k)
    if n == 0 or nv == 0:
        return MonteCarloResult(np.zeros(n), np.zeros(n), n_permutations, u_full, 0.0)
    order = sorted_order(xt, xv)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(nv, axis=0), axis=1)
    rank_t = np.ascontiguousarray(rank.T)  # training × validation
    match_t = (yt[:, None] == yv[None, :]).astype(np.float64)
    kk = min(k, n)
    rng = np.random.default_rng(seed)
    total = np.zeros(n)
    total_sq = np.zeros(n)
    skipped = 0
    batches = range(0, n_permutations, batch)
    for s in tqdm(batches, desc="monte-carlo shapley", disable=not progress, leave=False):
        p = min(batch, n_permutations - s)
        perms = rng.permuted(np.tile(np.arange(n), (p, 1)), axis=1)
        best_rank = np.full((p, nv, kk), n, dtype=np.int64)  # n = an empty slot, farther than any record
        best_match = np.zeros((p, nv, kk))
        u_prev = np.zeros(p)
        done = np.zeros(p, dtype=bool)
        rows = np.arange(p)[:, None]
        cols = np.arange(nv)[None, :]
        for t in range(n):
            items = perms[:, t]
            if truncation is not None:
                done |= np.abs(u_full - u_prev) <= truncation * abs(u_full)
                skipped += int(done.sum())
                if done.all():
                    skipped += p * (n - t - 1)
                    break
            r = rank_t[items]
            worst = best_rank.argmax(axis=2)
            closer = r < best_rank[rows, cols, worst]
            wr, wc = np.nonzero(closer)
            best_rank[wr, wc, worst[wr, wc]] = r[wr, wc]
            best_match[wr, wc, worst[wr, wc]] = match_t[items[wr], wc]
            u_new = best_match.sum(axis=2).mean(axis=1) / k
            gain = np.where(done, 0.0, u_new - u_prev)
            np.add.at(total, items, gain)
            np.add.at(total_sq, items, gain * gain)
            u_prev = u_new
    values = total / n_permutations
    var = np.maximum(total_sq / n_permutations - values ** 2, 0.0) * n_permutations / (n_permutations - 1)
    return MonteCarloResult(values, np.sqrt(var / n_permutations), n_permutations, u_full,
                            skipped / (n_permutations * n))
