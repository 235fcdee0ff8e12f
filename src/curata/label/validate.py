"""Input checks for confident learning: every error names the argument, the offending row and the fix."""

from __future__ import annotations

import numpy as np

from curata.errors import CurataError

#: a row of probabilities may differ from 1 by this much (float16/float32 exports round)
ROW_SUM_TOLERANCE = 1e-3
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


class LabelInputError(CurataError, ValueError):
    """Labels or probabilities confident learning cannot use; also a ``ValueError`` for library callers."""

    def __init__(self, argument: str, problem: str, fix: str = ""):
        self.argument, self.problem, self.fix = argument, problem, fix
        super().__init__(f"{argument}: {problem}" + (f" — {fix}" if fix else ""))


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_labels(labels, n_classes: int | None = None) -> np.ndarray:
    """Labels as a 1-D int64 array of class indices in ``0..n_classes-1``."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise LabelInputError("labels", f"expected a 1-D array of class indices, got shape {y.shape}",
                              "pass one integer label per record")
    if y.dtype == bool or y.dtype.kind in "iu":
        y = y.astype(np.int64)
    elif y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    else:
        raise LabelInputError("labels", f"expected integer class indices, got dtype {y.dtype}",
                              "map each class name to its column in the probabilities (0..K-1)")
    if n_classes is not None and len(y):
        bad = (y < 0) | (y >= n_classes)
        if bad.any():
            i = _first(bad)
            raise LabelInputError("labels", f"label {y[i]} at row {i} is outside 0..{n_classes - 1} "
                                            f"({int(bad.sum())} such row(s))",
                                  f"the probabilities have {n_classes} columns, one per class")
    return y


def check_probs(pred_probs) -> np.ndarray:
    """Probabilities as an n×K float64 array: finite, non-negative, rows summing to 1 (± tolerance)."""
    p = np.asarray(pred_probs)
    if p.ndim != 2:
        raise LabelInputError("pred_probs", f"expected an n×K array (one row per record, one column per "
                                            f"class), got shape {p.shape}")
    if p.dtype.kind not in "fiub":
        raise LabelInputError("pred_probs", f"expected numbers, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    if p.shape[1] < 2:
        raise LabelInputError("pred_probs", f"{p.shape[1]} class column(s); confident learning needs "
                                            "at least 2", "pass one probability column per class")
    if not len(p):
        raise LabelInputError("pred_probs", "no rows", "pass one row per record")
    sums = np.einsum("ij,j->i", p, np.ones(p.shape[1]))  # NaN or ±inf anywhere makes its row sum non-finite
    if not np.isfinite(sums).all():
        i = _first(~np.isfinite(p).all(axis=1))
        raise LabelInputError("pred_probs", f"row {i} holds NaN or infinity ({p[i].tolist()[:6]}...)",
                              "recompute the probabilities; every entry must be a finite number")
    if p.min() < 0:
        i = _first((p < 0).any(axis=1))
        raise LabelInputError("pred_probs", f"row {i} holds a negative value ({p[i].min():.4g})",
                              "pass probabilities (e.g. softmax of the logits), not scores")
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        i = _first(off)
        raise LabelInputError("pred_probs", f"row {i} sums to {sums[i]:.6g}, not 1 ({int(off.sum())} "
                                            f"row(s) off by more than {ROW_SUM_TOLERANCE:g})",
                              "pass normalised probabilities (divide each row by its sum, or apply softmax)")
    return p


def check_inputs(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probs) after every check, including that each class has at least one example."""
    p = check_probs(pred_probs)
    y = check_labels(labels, p.shape[1])
    if len(y) != len(p):
        raise LabelInputError("labels", f"{len(y)} labels but {len(p)} rows of probabilities",
                              "pass one label and one probability row per record, in the same order")
    counts = np.bincount(y, minlength=p.shape[1])
    if (counts == 0).any():
        empty = np.flatnonzero(counts == 0).tolist()
        raise LabelInputError("labels", f"class(es) {empty} have no examples "
                                        f"(of {p.shape[1]} probability columns)",
                              "drop those columns and renumber the labels, or add examples of those classes")
    return y, p


def check_settings(filter_by: str, frac_noise: float, min_examples_per_class: int,
                   rank_by: str | None = None) -> None:
    if filter_by not in FILTERS:
        raise LabelInputError("filter_by", f"unknown rule {filter_by!r}",
                              f"choose one of: {', '.join(FILTERS)}")
    if rank_by is not None and rank_by not in RANKINGS:
        raise LabelInputError("rank_by", f"unknown ranking {rank_by!r}",
                              f"choose one of: {', '.join(RANKINGS)}")
    if not 0.0 <= frac_noise <= 1.0:
        raise LabelInputError("frac_noise", f"{frac_noise} is outside [0, 1]",
                              "1.0 flags every estimated error; less keeps only the most likely ones")
    if int(min_examples_per_class) != min_examples_per_class or min_examples_per_class < 0:
        raise LabelInputError("min_examples_per_class",
                              f"{min_examples_per_class} is not a non-negative integer")
