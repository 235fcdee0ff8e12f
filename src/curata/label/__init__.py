"""Label quality. Re-exported here: Confident Learning (Northcutt et al., JAIR 2021) in plain numpy, giving
the same answers as cleanlab — ``find_label_issues(labels, pred_probs, filter_by=...)`` returns cleanlab's
mask (or ranked indices); ``detect_label_issues`` also returns the scores, noise matrices and counts behind
it.
"""

from curata.label.counting import (ClassGroups, ConfidentCounts, calibrate, confident_joint,
                                   per_class_thresholds, round_preserving_row_totals, self_confidence)
from curata.label.find import LabelIssues, detect_label_issues, find_label_issues
from curata.label.noise import NoiseEstimate, estimate_noise
from curata.label.prune import (confident_off_diagonal, predicted_neq_given, prune_by_class,
                                prune_by_noise_rate, prune_counts)
from curata.label.rank import (confidence_weighted_entropy, label_quality_scores, normalized_margin,
                               order_issues)
from curata.label.validate import FILTERS, RANKINGS, LabelInputError, check_inputs

__all__ = [
    "FILTERS", "RANKINGS", "ClassGroups", "ConfidentCounts", "LabelInputError", "LabelIssues",
    "NoiseEstimate",
    "calibrate", "check_inputs", "confidence_weighted_entropy", "confident_joint", "confident_off_diagonal",
    "detect_label_issues", "estimate_noise", "find_label_issues", "label_quality_scores", "normalized_margin",
    "order_issues", "per_class_thresholds", "predicted_neq_given", "prune_by_class", "prune_by_noise_rate",
    "prune_counts", "round_preserving_row_totals", "self_confidence",
]
