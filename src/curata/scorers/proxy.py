"""Proxy model: out-of-fold probabilities from a cheap classifier, and Confident-Learning label suspects."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from pydantic import Field
from curata.console import tqdm

from curata.engine.stage import Params, Scorer

log = logging.getLogger("curata")


def _fit_predict(x_tr, y_tr, x_te, m: int, priors: np.ndarray, c: float, seed: int) -> np.ndarray:
    """Probabilities over all ``m`` classes; a class absent from the training rows gets its prior."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y_tr)
    missing = np.setdiff1d(np.arange(m), present)
    probs = np.zeros((len(x_te), m), dtype=np.float64)
    probs[:, missing] = priors[missing]
    rest = 1.0 - priors[missing].sum()
    if len(present) == 1:
        probs[:, present[0]] = rest
        return probs
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    model.fit(x_tr, y_tr)
    pr = model.predict_proba(x_te).astype(np.float64)
    probs[:, model.classes_] = pr / pr.sum(axis=1, keepdims=True) * rest
    return probs


def out_of_fold_probs(x: np.ndarray, y: np.ndarray, m: int, folds: int = 5, c: float = 1.0, seed: int = 0,
                      progress: bool = False) -> tuple[np.ndarray, int, list[str]]:
    """Out-of-fold logistic-regression probabilities over ``m`` classes: (n×m probs, folds used, notes).

    ``y`` holds class indices, -1 for unlabelled rows (predicted by the mean of the fold models). Folds are
    stratified and seeded; with a class rarer than ``folds`` they drop to that count (at least 2), and a class
    missing from a fold's training rows gets its prior there.
    """
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    x = np.asarray(x, dtype=np.float32)
    lab = np.flatnonzero(y >= 0)
    counts = np.bincount(y[lab], minlength=m)
    priors = counts / max(1, len(lab))
    smallest = int(counts[counts > 0].min())
    n_folds = max(2, min(folds, smallest))
    notes = []
    if n_folds < folds:
        notes.append(f"folds reduced from {folds} to {n_folds}: "
                     f"the rarest class has {smallest} example(s)")
    if smallest < 2:
        notes.append("a class has a single example: "
                     "its out-of-fold probability falls back to the class prior")

    probs = np.zeros((n, m), dtype=np.float64)
    unl = np.flatnonzero(y < 0)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    y_split = y[lab] if smallest >= n_folds else np.where(counts[y[lab]] >= n_folds, y[lab], -1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(np.zeros(len(lab)), y_split))
    for tr, te in tqdm(splits, desc="proxy", disable=not progress, leave=False):
        rows = np.concatenate([lab[te], unl])
        pr = _fit_predict(x[lab[tr]], y[lab[tr]], x[rows], m, priors, c, seed)
        probs[lab[te]] = pr[:len(te)]
        probs[unl] += pr[len(te):] / n_folds
    return probs, n_folds, notes


def confident_suspects(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confident Learning's off-diagonal rule: (suspect mask, per-class thresholds t_j, confident class).

    ``t_j`` = mean P[i, j] over records labelled j (inf for a class nobody carries). A record is suspect when
    the most probable class among those with P[i, l] ≥ t_l exists and differs from its label. That class can
    differ from the arg-max prediction: a record labelled with a common class whose probability of a rare class
    is above the rare class's (low) threshold is suspected of belonging to the rare class.
    """
    m = probs.shape[1]
    thresholds = np.full(m, np.inf)
    for j in range(m):
        mask = y == j
        if mask.any():
            thresholds[j] = probs[mask, j].mean()
    above = probs >= thresholds[None, :]
    confident = np.where(above, probs, -np.inf).argmax(axis=1)
    suspect = above.any(axis=1) & (confident != y) & (y >= 0)
    return suspect, thresholds, confident


class ProxyParams(Params):
    folds: int = Field(5, ge=2)
    C: float = Field(1.0, gt=0)
    seed: int | None = None  # None: the run's seed (fold split)


class ProxyModelScorer(Scorer):
    """Out-of-fold multinomial logistic regression on ``pool.features``: how well each label is supported.

    Columns: ``proxy_probs`` (per-label list, ordered as ``pool.label_names``), ``proxy_prob_score`` (P of the
    given label), ``proxy_margin_score`` (P given − best other), ``proxy_loss_score`` (−log P given),
    ``proxy_pred`` and ``proxy_suspect`` (Confident Learning, METHODS §6.2). Folds are stratified and seeded;
    with a class rarer than ``folds`` they drop to that count (at least 2). A class missing from a fold's
    training rows (a singleton) gets its class prior as probability there; the others share the rest.
    Unlabelled rows are predicted by the mean of the fold models and get NaN scores.
    """

    name = "proxy"
    outputs = ('proxy_probs', 'proxy_prob_score', 'proxy_margin_score', 'proxy_loss_score', 'proxy_pred',
               'proxy_suspect', 'proxy_suspect_label', 'proxy_suspect_prob_score')
    version = "2"  # adds proxy_suspect_label
    Params = ProxyParams
    requires = ("sklearn",)
    needs_embeddings = True
    needs_labels = True

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        names = list(pool.label_names)
        m, n = len(names), len(pool)
        x = pool.features if pool.features is not None else pool.embeddings
        y = pool.label_indices()
        probs, folds, notes = out_of_fold_probs(x, y, m, p.folds, p.C, seed, ctx.progress)
        for note in notes:
            log.debug("proxy: %s", note)
            ctx.notes.append(f"proxy: {note}")

        labelled = y >= 0
        yy = np.where(labelled, y, 0)
        p_given = probs[np.arange(n), yy]
        others = probs.copy()
        others[np.arange(n), yy] = -np.inf
        best_other = others.max(axis=1) if m > 1 else np.zeros(n)
        suspect, thresholds, confident = confident_suspects(probs, y)
        nan = np.full(n, np.nan)
        pred = np.asarray(names, dtype=object)[probs.argmax(axis=1)] if n else np.array([], dtype=object)
        out = pd.DataFrame({
            "proxy_probs": pd.Series(probs.tolist(), dtype=object),
            "proxy_prob_score": np.where(labelled, p_given, nan),
            "proxy_margin_score": np.where(labelled, p_given - best_other, nan),
            "proxy_loss_score": np.where(labelled, -np.log(np.clip(p_given, 1e-12, None)), nan),
            "proxy_pred": pred,
            "proxy_suspect": suspect,
            # the class confident learning puts a suspect in (not always the arg-max ``proxy_pred``)
            "proxy_suspect_label": pd.Series(np.where(suspect, np.asarray(names, dtype=object)[confident], None)
                                             if n else [], dtype=object),
            "proxy_suspect_prob_score": np.where(suspect, probs[np.arange(n), confident] if n else 0.0, np.nan),
        })
        ctx.save_artifact("proxy_probs", probs)
        ctx.save_artifact("proxy_summary", {
            "folds": folds, "C": p.C, "labels": names, "notes": notes, "n_suspect": int(suspect.sum()),
            "thresholds": [float(t) if np.isfinite(t) else None for t in thresholds]})
        return out
