"""The estimated joint of given and true labels, and what follows: noise matrices, prior, error count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curata.label.counting import (ClassGroups, ConfidentCounts, calibrate, confident_joint,
                                   per_class_thresholds)


def _normalise(matrix: np.ndarray, axis: int) -> np.ndarray:
    total = matrix.sum(axis=axis, keepdims=True)
    return np.divide(matrix, total, out=np.zeros_like(matrix, dtype=float), where=total > 0)


@dataclass(frozen=True)
class NoiseEstimate:
    """Confident Learning's dataset-level estimates (METHODS §6.2); ``[i, j]`` indexing as in cleanlab.

    ``confident_joint`` is the raw count C (rows = given label ỹ, columns = true label y*), ``calibrated``
    its rows rescaled to the observed class counts, ``joint`` Q̂ = calibrated / n. ``noise_matrix[i, j]`` =
    p(ỹ=i | y*=j) and ``inverse_noise_matrix[j, i]`` = p(y*=j | ỹ=i): both have columns summing to 1.
    ``prior[j]`` = p(y*=j) = Σ_i Q̂[i, j]. ``estimated_errors`` = round(n · (1 − trace Q̂)).
    """

    thresholds: np.ndarray
    confident_joint: np.ndarray
    calibrated: np.ndarray
    joint: np.ndarray
    noise_matrix: np.ndarray
    inverse_noise_matrix: np.ndarray
    prior: np.ndarray
    label_counts: np.ndarray
    counts: ConfidentCounts

    @property
    def n(self) -> int:
        return int(self.label_counts.sum())

    @property
    def noise_rate(self) -> float:
        """Estimated fraction of records whose given label is wrong: 1 − trace(Q̂)."""
        return float(1.0 - np.trace(self.joint))

    @property
    def estimated_errors(self) -> int:
        return int(np.rint(self.noise_rate * self.n))

    def to_json(self) -> dict:
        return {
            "n": self.n, "noise_rate": self.noise_rate, "estimated_errors": self.estimated_errors,
            "label_counts": self.label_counts.tolist(), "thresholds": self.thresholds.tolist(),
            "confident_joint": self.confident_joint.tolist(), "calibrated_joint": self.calibrated.tolist(),
            "joint": self.joint.tolist(), "noise_matrix": self.noise_matrix.tolist(),
            "inverse_noise_matrix": self.inverse_noise_matrix.tolist(), "prior": self.prior.tolist(),
            "conventions": "joint/confident_joint[i][j]: given i, true j; "
                           "noise_matrix[i][j] = p(given=i | true=j); "
                           "inverse_noise_matrix[j][i] = p(true=j | given=i)",
        }


def estimate_noise(labels: np.ndarray, probs: np.ndarray, groups: ClassGroups | None = None) -> NoiseEstimate:
    """Thresholds → confident joint → calibration → joint, noise matrices, prior. Inputs must be checked."""
    k = probs.shape[1]
    groups = groups or ClassGroups.of(labels, k)
    thresholds = per_class_thresholds(labels, probs, groups)
    counts = confident_joint(labels, probs, thresholds)
    cal = calibrate(counts.joint, groups.counts)
    joint = cal / np.clip(float(cal.sum()), 1e-100, None)
    return NoiseEstimate(
        thresholds=thresholds, confident_joint=counts.joint, calibrated=cal, joint=joint,
        noise_matrix=_normalise(joint, axis=0), inverse_noise_matrix=_normalise(joint, axis=1).T,
        prior=joint.sum(axis=0), label_counts=groups.counts, counts=counts)
