"""Confident counting: per-class thresholds, the confident joint and its calibration (METHODS §6.2).

Arithmetic follows cleanlab 2.9 operation by operation (same slack, floors, rounding and summation order),
so the integer matrices, and every mask built on them, come out identical on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: slack when comparing a probability with a threshold (cleanlab's FLOATING_POINT_COMPARISON)
SLACK = 1e-6
#: thresholds never go below this, so a class whose examples all score 0 still needs p > 0 to count
THRESHOLD_FLOOR = 2 * SLACK
TINY = 1e-100


@dataclass(frozen=True)
class ClassGroups:
    """Rows grouped by given label: class k is ``order[start[k]:start[k+1]]``, kept in dataset order."""

    order: np.ndarray
    start: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, n_classes: int) -> "ClassGroups":
        counts = np.bincount(labels, minlength=n_classes)
        start = np.concatenate([[0], np.cumsum(counts)])
        small = labels.astype(np.int16) if n_classes <= np.iinfo(np.int16).max else labels  # radix sort
        return cls(np.argsort(small, kind="stable"), start, counts)

    def rows(self, k: int) -> np.ndarray:
        return self.order[self.start[k]:self.start[k + 1]]

    def slices(self):
        return [slice(a, b) for a, b in zip(self.start[:-1], self.start[1:])]


def self_confidence(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """P̂[x, ỹ]: the probability the model gives the given label."""
    return probs[np.arange(len(labels)), labels]


def per_class_thresholds(labels: np.ndarray, probs: np.ndarray,
                         groups: ClassGroups | None = None) -> np.ndarray:
    """``t_j`` = mean self-confidence of the records labelled j, floored at ``THRESHOLD_FLOOR``."""
    groups = groups or ClassGroups.of(labels, probs.shape[1])
    grouped = self_confidence(labels, probs)[groups.order]
    t = np.array([grouped[s].mean() if s.stop > s.start else 2.0 for s in groups.slices()])
    return np.clip(t, THRESHOLD_FLOOR, None)


@dataclass(frozen=True)
class ConfidentCounts:
    """The raw confident joint and which records sit off its diagonal."""

    joint: np.ndarray  # K×K int, rows = given label, columns = confidently predicted (true) label
    true_guess: np.ndarray  # per record: the confident class, or -1 when no class reaches its threshold
    off_diagonal: np.ndarray  # indices of records counted with true_guess != given label


def confident_joint(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> ConfidentCounts:
    """Count each record at (given label, confident class); records above no threshold are not counted.

    The confident class is the only class with ``P̂[x, l] ≥ t_l − 1e-6``; with several such classes it is
    the row's overall argmax (cleanlab's rule). Each diagonal cell is raised to at least 1.
    """
    k = probs.shape[1]
    above = probs >= thresholds - SLACK
    # per row: how many classes pass, and (exact when only one does) which; einsum beats per-row reductions
    # for small K and, unlike a BLAS call, does not stall when the cores are busy
    flags = above.astype(np.float64)
    n_above = np.einsum("ij,j->i", flags, np.ones(k))
    only = np.einsum("ij,j->i", flags, np.arange(k, dtype=np.float64))
    guess = np.where(n_above > 0, only.astype(np.int64), -1)
    multi = np.flatnonzero(n_above > 1)
    guess[multi] = probs[multi].argmax(axis=1)
    counted = guess >= 0
    joint = np.bincount(labels[counted] * k + guess[counted], minlength=k * k).reshape(k, k)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    off = np.flatnonzero(counted & (guess != labels))
    return ConfidentCounts(joint, guess, off)


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """Round each row to integers whose sum is the rounded row total.

    A row short by d units adds one to the d cells with the largest rounding loss (last-most on ties, as
    ``np.argsort(...)[::-1]`` orders them); a row over by d takes one from the d cells rounded up the most.
    """
    floats = np.asarray(matrix, dtype=float)
    ints = floats.round()
    deficit = np.round(floats.sum(axis=1).round() - ints.sum(axis=1).round()).astype(np.int64)
    rows = np.flatnonzero(deficit)
    if len(rows):
        k = floats.shape[1]
        order = np.argsort(floats[rows] - ints[rows], axis=1)
        d = np.minimum(np.abs(deficit[rows]), k)[:, None]
        rank = np.arange(k)[None, :]
        up = deficit[rows][:, None] > 0
        pick = np.where(up, rank >= k - d, rank < d)
        r, c = np.nonzero(pick)
        ints[rows[r], order[r, c]] += np.where(up[r, 0], 1.0, -1.0)
    return ints.astype(np.int64)


def calibrate(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Scale each row to its observed class count, then the whole matrix to n, and round (row totals kept)."""
    rows = joint.sum(axis=1)
    cal = joint / np.clip(rows, TINY, None)[:, None] * label_counts[:, None]
    total = np.sum(cal.ravel(order="F"))  # cleanlab sums a column-major array: same order, same rounding
    return round_preserving_row_totals(cal / np.clip(total, TINY, None) * label_counts.sum())
