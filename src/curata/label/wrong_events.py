"""IDO's wrong events (METHODS §7): the base-model rule and the two-component beta mixture on the counts.

A wrong event is a minibatch visit on which the model's argmax differed from the record's given label; the
trainers count them (``wrong_events_``). Clean-easy records collect few, clean-hard ones some, mislabelled
ones many; the beta mixture turns the counts into a per-record probability of being clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CLAMP_BELOW = 1.02
CLAMP_TO = 1.1


def base_epoch(changes: Sequence[int]) -> int:
    """The epoch (0-based) whose model Stage 1 keeps (§7.3): where the prediction-change count stops falling.

    ``changes[j]`` is the number of training predictions that changed between epochs ``j`` and ``j + 1``, so
    it is measured after epoch ``j + 1``. The kept epoch is the first local minimum of that sequence: the first
    ``j + 1`` with ``changes[j + 1] >= changes[j]``; the last epoch when the count never stops decreasing.
    """
    c = np.asarray(changes, dtype=np.int64)
    stops = np.flatnonzero(c[1:] >= c[:-1])
    return int(stops[0] + 1) if len(stops) else int(len(c))


def prediction_changes(last: np.ndarray, current: np.ndarray) -> int:
    """How many records' recorded predictions differ between two epochs (records not yet seen are ``-1``)."""
    seen = (last >= 0) & (current >= 0)
    return int((last[seen] != current[seen]).sum())


@dataclass
class Posterior:
    """Per-record BMM outputs: p₁ (clean), p₂ (noisy), the component CDFs F₁, F₂ at the normalised count."""

    p_clean: np.ndarray
    p_noisy: np.ndarray
    cdf_clean: np.ndarray
    cdf_noisy: np.ndarray


class BetaMixture:
    """Two-component beta mixture on min–max normalised counts, EM with a weighted method of moments (§7.4).

    Component 0 (init Beta(1, 2)) is the clean, low-count mode; component 1 (init Beta(2, 1)) the noisy one.
    ``fit`` continues from the current parameters, so ``fit(we, 20)`` then ``fit(we, 1)`` per epoch is IDO's
    schedule. Counts are normalised with the range seen by the last ``fit`` and clipped to (ε, 1 − ε).
    After each M-step β₀ < 1.02 and α₁ < 1.02 are set to 1.1, so the clean density vanishes at 1 and the
    noisy one at 0. Constant counts carry no evidence: the parameters are left unchanged.
    """

    def __init__(self, eps: float = 1e-4, floor: float = 1e-12):
        self.eps, self.floor = eps, floor
        self.alphas = np.array([1.0, 2.0])
        self.betas = np.array([2.0, 1.0])
        self.weights = np.array([0.5, 0.5])
        self.lo: float | None = None
        self.hi: float | None = None
        self.iterations = 0

    def normalise(self, counts) -> np.ndarray:
        if self.lo is None:
            raise RuntimeError("BetaMixture.normalise called before fit")
        x = np.asarray(counts, dtype=np.float64)
        span = self.hi - self.lo
        x = (x - self.lo) / span if span > 0 else np.zeros_like(x)
        return np.clip(x, self.eps, 1 - self.eps)

    def _responsibilities(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import logsumexp
        from scipy.stats import beta

        log_pdf = beta.logpdf(x[None, :], self.alphas[:, None], self.betas[:, None])
        log_r = np.log(self.weights)[:, None] + log_pdf
        r = np.exp(log_r - logsumexp(log_r, axis=0, keepdims=True))
        r = np.maximum(r, self.floor)
        return r / r.sum(axis=0, keepdims=True)

    def _m_step(self, x: np.ndarray, r: np.ndarray) -> None:
        total = r.sum(axis=1)
        mean = (r * x).sum(axis=1) / total
        var = np.maximum((r * (x - mean[:, None]) ** 2).sum(axis=1) / total, self.floor)
        self.alphas = mean * (mean * (1 - mean) / var - 1)
        self.betas = self.alphas * (1 - mean) / mean
        if self.betas[0] < CLAMP_BELOW:
            self.betas[0] = CLAMP_TO
        if self.alphas[1] < CLAMP_BELOW:
            self.alphas[1] = CLAMP_TO
        self.weights = total / total.sum()

    def fit(self, counts, iterations: int = 20) -> "BetaMixture":
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or len(counts) == 0 or not np.isfinite(counts).all():
            raise ValueError("wrong-event counts must be a non-empty 1-D array of finite numbers")
        self.lo, self.hi = float(counts.min()), float(counts.max())
        if self.hi == self.lo:
            return self
        x = self.normalise(counts)
        for _ in range(iterations):
            self._m_step(x, self._responsibilities(x))
            self.iterations += 1
        return self

    def predict(self, counts) -> Posterior:
        from scipy.stats import beta

        x = self.normalise(counts)
        r = self._responsibilities(x)
        return Posterior(p_clean=r[0], p_noisy=r[1],
                         cdf_clean=beta.cdf(x, self.alphas[0], self.betas[0]),
                         cdf_noisy=beta.cdf(x, self.alphas[1], self.betas[1]))

    def describe(self) -> dict:
        return {"clean": {"alpha": float(self.alphas[0]), "beta": float(self.betas[0]),
                          "weight": float(self.weights[0])},
                "noisy": {"alpha": float(self.alphas[1]), "beta": float(self.betas[1]),
                          "weight": float(self.weights[1])},
                "range": [self.lo, self.hi], "iterations": self.iterations}
