"""``find_label_issues``: cleanlab's entry point for multi-class data, with the same arguments and answers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curata.label import prune as rules
from curata.label.counting import ClassGroups
from curata.label.noise import NoiseEstimate, estimate_noise
from curata.label.rank import label_quality_scores, order_issues
from curata.label.validate import check_inputs, check_settings


@dataclass(frozen=True)
class LabelIssues:
    """Everything one detection run produces: the mask, scores, ranking and the noise estimate behind them."""

    labels: np.ndarray  # the given labels, checked
    mask: np.ndarray  # bool per record: the given label is likely wrong
    scores: np.ndarray  # label-quality score per record by ``rank_by``; lower = more likely wrong
    ranked: np.ndarray  # indices of flagged records, most likely wrong first
    suggested: np.ndarray  # argmax class of each flagged record, -1 for the others
    noise: NoiseEstimate
    prune_counts: np.ndarray | None  # [given, true] counts used by the pruning rules (None for the others)
    filter_by: str
    rank_by: str
    frac_noise: float
    min_examples_per_class: int
    protected_classes: list[int] = field(default_factory=list)  # too small to have records flagged

    @property
    def n_issues(self) -> int:
        return int(self.mask.sum())

    def per_class(self) -> dict[str, list[int]]:
        k = len(self.noise.label_counts)
        return {"given": self.noise.label_counts.tolist(),
                "flagged": np.bincount(self.labels[self.mask], minlength=k).tolist(),
                "suggested_for_flagged": np.bincount(self.suggested[self.mask], minlength=k).tolist()}

    def summary(self) -> dict:
        n = self.noise.n
        return {
            "n": n, "n_issues": self.n_issues, "fraction_flagged": self.n_issues / n if n else 0.0,
            "estimated_errors": self.noise.estimated_errors, "noise_rate": self.noise.noise_rate,
            "settings": {"filter_by": self.filter_by, "rank_by": self.rank_by, "frac_noise": self.frac_noise,
                         "min_examples_per_class": self.min_examples_per_class},
            "per_class": self.per_class(), "protected_classes": self.protected_classes,
            "prune_counts": None if self.prune_counts is None else self.prune_counts.tolist(),
            **self.noise.to_json(),
        }


def detect_label_issues(labels, pred_probs, filter_by: str = "prune_by_noise_rate",
                        rank_by: str = "self_confidence", frac_noise: float = 1.0,
                        min_examples_per_class: int = 1) -> LabelIssues:
    """Check the inputs, estimate the noise, apply one pruning rule and score every record.

    ``frac_noise`` scales the number flagged by ``prune_by_noise_rate``, ``prune_by_class`` and ``both``
    (it has no effect on ``confident_learning`` and ``predicted_neq_given``, as in cleanlab); a class with at
    most ``min_examples_per_class`` examples never has records flagged by those three rules.
    """
    check_settings(filter_by, frac_noise, min_examples_per_class, rank_by)
    y, p = check_inputs(labels, pred_probs)
    groups = ClassGroups.of(y, p.shape[1])
    noise = estimate_noise(y, p, groups)
    counts, protected = None, []
    if filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
        counts = rules.prune_counts(noise.calibrated, int(min_examples_per_class), float(frac_noise))
        protected = np.flatnonzero(~rules.prunable(groups, int(min_examples_per_class))).tolist()
    if filter_by == "prune_by_class":
        mask = rules.prune_by_class(p, groups, counts, min_examples_per_class)
    elif filter_by == "prune_by_noise_rate":
        mask = rules.prune_by_noise_rate(p, groups, counts, min_examples_per_class)
    elif filter_by == "both":
        mask = (rules.prune_by_class(p, groups, counts, min_examples_per_class)
                & rules.prune_by_noise_rate(p, groups, counts, min_examples_per_class))
    elif filter_by == "confident_learning":
        mask = rules.confident_off_diagonal(len(y), noise.counts.off_diagonal)
    else:
        mask = rules.predicted_neq_given(y, p.argmax(axis=1))
    mask = rules.drop_near_agreement(mask, y, p)
    suggested = np.full(len(y), -1, dtype=np.int64)
    suggested[mask] = p[mask].argmax(axis=1)
    scores = label_quality_scores(y, p, rank_by)
    return LabelIssues(labels=y, mask=mask, scores=scores, ranked=order_issues(mask, scores),
                       suggested=suggested,
                       noise=noise, prune_counts=counts, filter_by=filter_by, rank_by=rank_by,
                       frac_noise=float(frac_noise), min_examples_per_class=int(min_examples_per_class),
                       protected_classes=protected)


def find_label_issues(labels, pred_probs, filter_by: str = "prune_by_noise_rate", frac_noise: float = 1.0,
                      min_examples_per_class: int = 1,
                      return_indices_ranked_by: str | None = None) -> np.ndarray:
    """Boolean mask of likely label errors or, with ``return_indices_ranked_by``, their indices ranked by that
    score (most likely wrong first) — the same answer as ``cleanlab.filter.find_label_issues``.

    ``labels``: n class indices in 0..K-1 (every class present); ``pred_probs``: n×K out-of-fold
    probabilities (rows sum to 1 within 1e-3). ``filter_by`` is one of ``FILTERS``; see
    ``detect_label_issues``.
    """
    result = detect_label_issues(labels, pred_probs, filter_by=filter_by,
                                 rank_by=return_indices_ranked_by or "self_confidence", frac_noise=frac_noise,
                                 min_examples_per_class=min_examples_per_class)
    return result.mask if return_indices_ranked_by is None else result.ranked
