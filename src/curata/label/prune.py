"""Pruning rules: which records to flag, given the calibrated joint (METHODS §6.2, cleanlab ``filter_by``).

Counts are derived as cleanlab 2.9 derives them, and a cut that falls inside a run of tied scores is resolved
by ``np.argsort`` on the same values in dataset order, exactly as cleanlab does, so masks are identical.
Without a tie at the cut the O(n) ``argpartition`` answer is already unique and is used directly.
"""

from __future__ import annotations

import numpy as np

from curata.label.counting import SLACK, ClassGroups


def prune_counts(calibrated: np.ndarray, min_examples_per_class: int = 1,
                 frac_noise: float = 1.0) -> np.ndarray:
    """How many to flag, ``[given, true]``: off-diagonal cells for PBNR, ``count − diagonal`` for PBC.

    Each diagonal is raised to ``min_examples_per_class`` (the raise taken evenly from that class's non-zero
    off-diagonal cells), then off-diagonals are scaled by ``frac_noise`` with the removed mass moved to the
    diagonal, and everything is truncated to integers.
    """
    m = calibrated.T  # cleanlab works on [true, given]; keep its layout so sums round identically
    diag = np.diagonal(m)
    raised = np.maximum(diag, min_examples_per_class)
    spread = np.maximum(np.count_nonzero(m, axis=0) - 1.0, 1.0)
    kept = m - (raised - diag) / spread
    kept[kept < 0] = 0
    np.fill_diagonal(kept, raised)
    scaled = kept * frac_noise
    np.fill_diagonal(scaled, kept.diagonal())
    np.fill_diagonal(scaled, kept.diagonal() + np.sum(kept - scaled, axis=0))
    return np.ascontiguousarray(scaled.astype(np.int64).T)


def _smallest(values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` smallest values; a tie at the cut is broken as ``np.argsort`` breaks it."""
    if count >= len(values):
        return np.arange(len(values))
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(values, count)
    head = part[:count]
    if values[head].max() < values[part[count]]:
        return head
    return np.argsort(values)[:count]


def prunable(groups: ClassGroups, min_examples_per_class: int) -> np.ndarray:
    """Classes whose records may be flagged: more than ``min_examples_per_class`` examples, and > 1."""
    return (groups.counts > min_examples_per_class) & (groups.counts > 1)


def prune_by_class(probs: np.ndarray, groups: ClassGroups, counts: np.ndarray,
                   min_examples_per_class: int = 1) -> np.ndarray:
    """PBC: in each class i, flag the ``n_i − counts[i, i]`` records with the lowest self-confidence."""
    mask = np.zeros(len(probs), dtype=bool)
    for k in np.flatnonzero(prunable(groups, min_examples_per_class)):
        n_flag = int(groups.counts[k] - counts[k, k])
        if n_flag >= 1:
            rows = groups.rows(k)
            mask[rows[_smallest(probs[rows, k], n_flag)]] = True
    return mask


def prune_by_noise_rate(probs: np.ndarray, groups: ClassGroups, counts: np.ndarray,
                        min_examples_per_class: int = 1) -> np.ndarray:
    """PBNR: for each off-diagonal (i, j), flag the ``counts[i, j]`` records labelled i with the largest
    margin ``P̂[x, j] − P̂[x, i]``."""
    mask = np.zeros(len(probs), dtype=bool)
    todo = counts.copy()
    np.fill_diagonal(todo, 0)
    for k in np.flatnonzero(prunable(groups, min_examples_per_class) & (todo.sum(axis=1) > 0)):
        rows = groups.rows(k)
        pk = probs[rows]
        for j in np.flatnonzero(todo[k]):
            neg_margin = -(pk[:, j] - pk[:, k])
            mask[rows[_smallest(neg_margin, int(todo[k, j]))]] = True
    return mask


def predicted_neq_given(labels: np.ndarray, argmax: np.ndarray) -> np.ndarray:
    """C_confusion: the model's top class is not the given label."""
    return argmax != labels


def confident_off_diagonal(n: int, off_diagonal: np.ndarray) -> np.ndarray:
    """C_{ỹ,y*}: the records counted in an off-diagonal cell of the confident joint."""
    mask = np.zeros(n, dtype=bool)
    mask[off_diagonal] = True
    return mask


def drop_near_agreement(mask: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Unflag records whose given label is the argmax once it gets 1e-6 extra (cleanlab's final filter)."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return mask
    sub = probs[idx]
    sub[np.arange(len(idx)), labels[idx]] += SLACK
    out = mask.copy()
    out[idx[sub.argmax(axis=1) == labels[idx]]] = False
    return out
