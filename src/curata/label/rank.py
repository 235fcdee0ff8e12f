"""Label-quality scores in [0, 1]; lower means the given label is more likely wrong (cleanlab ``rank.py``)."""

from __future__ import annotations

import numpy as np

from curata.label.counting import self_confidence

CLIP = 1e-6


def normalized_margin(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(P̂[x, ỹ] − max_{k≠ỹ} P̂[x, k] + 1) / 2``: the margin mapped from [−1, 1] to [0, 1]."""
    rows = np.arange(len(labels))
    others = probs.copy()
    others[rows, labels] = -np.inf
    return (probs[rows, labels] - others.max(axis=1) + 1) / 2


def normalized_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by log K, in [0, 1] (0·log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(probs > 0, probs * np.log(probs), 0.0)
    return -np.sum(plogp, axis=1) / np.log(probs.shape[1])


def confidence_weighted_entropy(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``log(1 + s) / s`` with ``s = normalized entropy / self-confidence`` (both floored at 1e-6).

    As in cleanlab, an exactly one-hot row has s = 0 and scores 0, the lowest score, whatever its label.
    """
    s = normalized_entropy(probs) / np.clip(self_confidence(labels, probs), CLIP, None)
    return np.log(s + 1) / np.clip(s, CLIP, None)


SCORERS = {
    "self_confidence": self_confidence,
    "normalized_margin": normalized_margin,
    "confidence_weighted_entropy": confidence_weighted_entropy,
}


def label_quality_scores(labels: np.ndarray, probs: np.ndarray,
                         method: str = "self_confidence") -> np.ndarray:
    """One score per record by ``method`` (see ``SCORERS``); inputs must be checked."""
    return SCORERS[method](labels, probs)


def order_issues(mask: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of flagged records, lowest score (most likely wrong) first; ties as ``np.argsort`` has them."""
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx])]
