"""Confident Learning on a pool: which given labels are likely wrong, and what the label should be."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.run_dir import file_sha256
from curata.engine.stage import Params, Scorer
from curata.errors import ConfigError, CurataError, InputError

log = logging.getLogger("curata")


class LabelIssueParams(Params):
    filter_by: Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                       "predicted_neq_given"] = "prune_by_noise_rate"
    rank_by: Literal["self_confidence", "normalized_margin",
                     "confidence_weighted_entropy"] = "self_confidence"
    frac_noise: float = Field(1.0, ge=0, le=1)
    min_examples_per_class: int = Field(1, ge=0)
    probs: str | None = None  # a column of per-row probability lists, or a path ending in .npy (n×K)
    folds: int = Field(5, ge=2)  # used only when the probabilities are computed here
    C: float = Field(1.0, gt=0)
    seed: int | None = None  # None: the run's seed (fold split)



class LabelIssueScorer(Scorer):
    """Confident Learning (METHODS §6) on out-of-fold probabilities, answer-for-answer with cleanlab.

    Probabilities come from ``probs`` when given (a column of per-row lists ordered as
    ``pool.label_names``, or an n×K ``.npy`` in the pool's row order), else from the ``proxy_probs`` column
    when the proxy scorer ran earlier, else from the proxy's cross-validated logistic regression, run here
    (``folds``, ``C``, ``seed``).

    Columns: ``label_issue_score`` — the ``rank_by`` label-quality score in [0, 1]; **lower = more likely
    mislabelled** (NaN for unlabelled rows); ``is_label_issue`` — flagged by ``filter_by``;
    ``suggested_label`` — for flagged rows only, the most probable label name (always different from the
    given one); None elsewhere, so the column reads as "the fix to apply"; ``label_noise_rate`` — the
    pool's estimated share of wrong labels, repeated on every row so rules can use it;
    ``label_noise_in_label`` — the estimated share of wrong labels among the records carrying the row's given
    label (1 − p(true = given | given), from the calibrated joint), which bounds how much of a label the
    default recipe's label rules may exclude. The summary (noise matrices,
    joint, prior, counts) is saved as the ``label_issues_summary`` artifact. Unlabelled rows take no part in
    the estimate.
    """

    name = "label_issues"
    outputs = ('label_issue_score', 'is_label_issue', 'suggested_label', 'label_noise_rate', 'label_noise_in_label')
    version = "3"  # adds label_noise_in_label
    Params = LabelIssueParams
    requires = ("sklearn",)
    needs_embeddings = True
    needs_labels = True

    def __init__(self, **params):
        super().__init__(**params)
        self.needs_embeddings = self.params.probs is None  # supplied probabilities need no vectors

    def fingerprint(self) -> str:
        probs = self.params.probs
        if probs is None or not probs.endswith(".npy") or not Path(probs).is_file():
            return super().fingerprint()
        blob = json.dumps([super().fingerprint(), file_sha256(Path(probs))])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _probs(self, pool, ctx, y: np.ndarray, m: int) -> tuple[np.ndarray, str]:
        p, key = self.params, f"scorer.{self.name}.probs"
        if p.probs is not None and p.probs.endswith(".npy"):
            path = Path(p.probs)
            if not path.is_file():
                raise InputError(path, "probabilities file not found", "give the path of an n×K .npy array")
            try:
                probs = np.load(path, allow_pickle=False)
            except ValueError as e:
                raise InputError(path, f"not a numeric .npy array ({e})",
                                 "save it with np.save(path, probs)") from None
            if probs.ndim != 2 or probs.shape != (len(pool), m):
                skipped = f" ({len(pool.rejected)} records were rejected on reading)" if pool.rejected else ""
                raise InputError(path, f"shape {probs.shape}, expected ({len(pool)}, {m}): one row per "
                                       f"accepted record{skipped}, one column per label "
                                       f"{list(pool.label_names)}",
                                 "write the probabilities in the pool's row order and label order")
            return probs, str(path)
        column = p.probs or ("proxy_probs" if "proxy_probs" in pool.df.columns else None)
        if column is None:
            from curata.scorers.proxy import out_of_fold_probs
            x = pool.features if pool.features is not None else pool.embeddings
            seed = ctx.seed if p.seed is None else p.seed
            probs, folds, notes = out_of_fold_probs(x, y, m, p.folds, p.C, seed, ctx.progress)
            for note in notes:
                log.debug("label_issues: %s", note)
                ctx.notes.append(f"label_issues: {note}")
            return probs, f"out-of-fold logistic regression ({folds} folds, C={p.C}, seed={seed})"
        if column not in pool.df.columns:
            raise ConfigError(key, f"no column {column!r} in the pool",
                              "name a column holding per-row probability lists (e.g. run the proxy scorer "
                              "first for proxy_probs), or a .npy file")
        cells = pool.df[column].tolist()
        bad = next((i for i, c in enumerate(cells) if c is None or np.ndim(c) != 1 or len(c) != m), None)
        if bad is not None:
            raise ConfigError(key, f"column {column!r} row {bad} holds {cells[bad]!r}, not a list of {m} "
                                   f"probabilities (one per label {list(pool.label_names)})")
        return np.asarray(cells, dtype=np.float64).reshape(len(cells), m), f"column {column}"

    def score(self, pool, ctx) -> pd.DataFrame:
        from curata.label import detect_label_issues

        p = self.params
        names = list(pool.label_names)
        n, m = len(pool), len(names)
        y = pool.label_indices()
        probs, source = self._probs(pool, ctx, y, m)
        lab = np.flatnonzero(y >= 0)
        empty = [names[k] for k in np.flatnonzero(np.bincount(y[lab], minlength=m) == 0)]
        if empty:
            raise CurataError(f"scorer {self.name}: label(s) {empty} have no labelled record in the pool — "
                              "confident learning needs at least one example of every label")
        res = detect_label_issues(y[lab], probs[lab], filter_by=p.filter_by, rank_by=p.rank_by,
                                  frac_noise=p.frac_noise, min_examples_per_class=p.min_examples_per_class)
        score = np.full(n, np.nan)
        score[lab] = res.scores
        flagged = np.zeros(n, dtype=bool)
        flagged[lab] = res.mask
        suggested = np.full(n, None, dtype=object)
        suggested[lab[res.mask]] = np.asarray(names, dtype=object)[res.suggested[res.mask]]

        summary = {"labels": names, "probs_source": source, "n_pool": n, "n_labelled": len(lab),
                   **res.summary()}
        per_class = res.per_class()
        summary["per_class"] = {name: {k: v[i] for k, v in per_class.items()} for i, name in enumerate(names)}
        ctx.save_artifact("label_issues_summary", summary)
        share = res.n_issues / len(lab) if len(lab) else 0.0
        ctx.notes.append(f"label_issues: {res.n_issues:,} of {len(lab):,} records flagged ({share:.1%}), "
                         f"estimated noise {res.noise.noise_rate:.1%}")
        if res.protected_classes:
            small = ", ".join(names[k] for k in res.protected_classes)
            ctx.notes.append(f"label_issues: too few examples to flag any in class(es) {small} "
                             f"(min_examples_per_class={p.min_examples_per_class})")
        # per given label: the estimated share of its records whose true label is another, p(y* != i | ỹ = i)
        joint = np.asarray(res.noise.joint, dtype=np.float64)
        rows = joint.sum(axis=1)
        in_label = np.divide(rows - np.diag(joint), rows, out=np.zeros(m), where=rows > 0)
        noise_in_label = np.full(n, np.nan)
        noise_in_label[lab] = in_label[y[lab]]
        return pd.DataFrame({"label_issue_score": score, "is_label_issue": flagged,
                             "suggested_label": pd.Series(suggested, dtype=object),
                             # the pool-level estimate on every row, so exclusion rules can depend on it
                             "label_noise_rate": np.full(n, float(res.noise.noise_rate)),
                             "label_noise_in_label": noise_in_label})
