"""Truth inference for records that carry several labels (crowd workers, several LLM judges): Dawid–Skene."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.errors import ConfigError, InputError
from curata.pool import natural_sorted

log = logging.getLogger("curata")

#: the annotator of votes given as a plain list: anonymous, so all list votes share one answer model
ANONYMOUS = "<anonymous>"


class TruthInferenceParams(Params):
    votes_field: str
    method: Literal["dawid_skene", "one_coin", "majority_vote"] = "dawid_skene"
    smoothing: float = Field(0.01, ge=0)
    tol: float = Field(1e-6, ge=0)
    max_iter: int = Field(100, ge=1)
    seed: int | None = None  # None: the run's seed (breaks exact ties between classes)


def _vote_label(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (dict, list, tuple)):
        raise ValueError(f"a vote must be a single label, got {json.dumps(value)[:60]}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


class TruthInferenceScorer(Scorer):
    """Posterior true label of each record from its several labels (METHODS §12c), and who to trust.

    ``votes_field`` is a source field holding a list of labels (anonymous: all list votes share one pooled
    annotator) or a dict annotator → label. Columns: ``truth_inference_score`` = posterior probability of the
    record's given label, or of the inferred label when the record has no given label; ``inferred_label``
    (MAP); ``label_agreement`` = share of the record's votes equal to the inferred label;
    ``truth_inference_votes`` = number of votes. Records without votes get NaN/None and take no part in the
    fit. Classes are the pool's labels plus any other label a vote uses. Artifact ``truth_inference``: priors
    and each annotator's confusion matrix and accuracy.
    """

    name = "truth_inference"
    outputs = ('truth_inference_score', 'inferred_label', 'label_agreement', 'truth_inference_votes')
    Params = TruthInferenceParams

    def _fields(self, pool):
        """Each record's source fields from ``raw``: JSON, or a CSV/TSV line read with the pool's header."""
        df = pool.df
        delim = {"csv": ",", "tsv": "\t"}.get(pool.input_format)
        header = None
        if delim is not None:
            if not pool.header:
                raise ConfigError(f"scorer.{self.name}.votes_field", "the CSV pool has no header row to find "
                                  f"`{self.params.votes_field}` in", "read a file with a header row")
            header = next(csv.reader([pool.header], delimiter=delim))
        for raw, file, line in zip(df["raw"], df["source_file"], df["source_line"]):
            try:
                if header is None:
                    yield json.loads(raw) if raw else {}
                    continue
                rec = dict(zip(header, next(csv.reader(io.StringIO(raw), delimiter=delim))))
                cell = rec.get(self.params.votes_field)
                yield {self.params.votes_field: json.loads(cell) if cell and cell.strip() else None}
            except (json.JSONDecodeError, StopIteration) as e:
                raise InputError(file, f"cannot read `{self.params.votes_field}` from the record ({e})",
                                 "votes must be a JSON list of labels or a JSON object annotator → label",
                                 line=None if pd.isna(line) else int(line)) from None

    def _votes(self, pool) -> pd.DataFrame:
        field = self.params.votes_field
        rows: list[tuple[int, str, str]] = []
        for i, (rec, file, line) in enumerate(zip(self._fields(pool), pool.df["source_file"],
                                                  pool.df["source_line"])):
            value = rec.get(field) if isinstance(rec, dict) else None
            try:
                if value is None:
                    continue
                if isinstance(value, list):
                    pairs = [(ANONYMOUS, v) for v in value]
                elif isinstance(value, dict):
                    pairs = list(value.items())
                else:
                    raise ValueError(f"expected a list of labels or an annotator → label dict, got "
                                     f"{type(value).__name__}")
                rows.extend((i, str(a), lab) for a, v in pairs if (lab := _vote_label(v)) is not None)
            except ValueError as e:
                raise InputError(file, f"`{field}`: {e}", "votes must be a JSON list of labels or a JSON "
                                 "object annotator → label",
                                 line=None if pd.isna(line) else int(line)) from None
        if not rows:
            raise ConfigError(f"scorer.{self.name}.votes_field", f"no record has votes in `{field}`",
                              "name the source field that holds each record's labels")
        return pd.DataFrame(rows, columns=["item", "annotator", "label"])

    def score(self, pool, ctx) -> pd.DataFrame:
        from curata.label.dawid_skene import infer_truth

        p = self.params
        n = len(pool)
        votes = self._votes(pool)
        classes = natural_sorted(set(pool.label_names or []) | set(votes["label"]))
        if len(classes) < 2:
            raise ConfigError(f"scorer.{self.name}.votes_field", f"every vote and label is {classes[0]!r}: "
                              "nothing to infer", "truth inference needs at least two classes")
        label = votes["label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
        item = votes["item"].to_numpy()
        voted = np.unique(item)
        res = infer_truth((item, votes["annotator"].to_numpy(), label), p.method, n_classes=len(classes),
                          items=voted, smoothing=p.smoothing, tol=p.tol, max_iter=p.max_iter,
                          seed=ctx.seed if p.seed is None else p.seed, progress=ctx.progress)
        given = pool.label_indices(classes)[voted]
        own = np.where(given >= 0, given, res.labels)
        n_votes = np.bincount(item, minlength=n)[voted]
        agrees = label == res.labels[np.searchsorted(voted, item)]
        agree = np.bincount(item, weights=agrees, minlength=n)[voted]
        score, share = np.full(n, np.nan), np.full(n, np.nan)
        score[voted] = res.posteriors[np.arange(len(voted)), own]
        share[voted] = agree / n_votes
        inferred = np.full(n, None, dtype=object)
        inferred[voted] = np.asarray(classes, dtype=object)[res.labels]
        count = np.zeros(n, dtype=np.int64)
        count[voted] = n_votes
        if len(voted) < n:
            note = f"truth_inference: {n - len(voted)} of {n} records have no votes in `{p.votes_field}`"
            log.debug(note)
            ctx.notes.append(note)
        if not res.converged:
            note = f"truth_inference: EM stopped after {res.iterations} iterations without converging"
            log.debug(note)
            ctx.notes.append(note)
        ctx.save_artifact("truth_inference", {"votes_field": p.votes_field,
                                              "records_with_votes": int(len(voted)), **res.summary(classes)})
        return pd.DataFrame({"truth_inference_score": score,
                             "inferred_label": pd.Series(inferred, dtype=object),
                             "label_agreement": share, "truth_inference_votes": count})
