"""Truth inference from several labels per item: Dawid–Skene EM, one-coin, majority vote (METHODS §12c).

Votes come as a long table (item, annotator, label), sparse: not every annotator labels every item. Labels are
integer codes ``0..n_responses-1``; the true class is one of ``0..n_classes-1`` (``n_responses`` defaults to
``n_classes``; more responses than classes model answers such as "neither" that are never a true class, so a
confusion matrix is ``n_classes × n_responses``). Repeated (item, annotator) rows count as independent votes,
which is how anonymous votes are expressed: give them all one pooled annotator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from curata.console import tqdm

METHODS = ("dawid_skene", "one_coin", "majority_vote")


@dataclass
class Votes:
    """A vote table encoded as integer codes; row r: ``annotator[r]`` gave ``label[r]`` to ``item[r]``."""

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    item_ids: np.ndarray
    annotator_ids: np.ndarray
    n_classes: int
    n_responses: int

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_annotators(self) -> int:
        return len(self.annotator_ids)

    def counts(self):
        """Sparse ``n_items × (n_annotators·n_responses)`` matrix of vote counts."""
        from scipy import sparse

        cols = self.annotator * self.n_responses + self.label
        return sparse.csr_matrix((np.ones(len(cols)), (self.item, cols)),
                                 shape=(self.n_items, self.n_annotators * self.n_responses))


@dataclass
class TruthInference:
    """Posteriors over true classes per item, and what was learned about each annotator."""

    method: str
    posteriors: np.ndarray  # n_items × n_classes, rows sum to 1
    labels: np.ndarray  # MAP class per item (ties broken at random with the seed)
    confusion: np.ndarray  # n_annotators × n_classes × n_responses: p(answer l | true k)
    annotator_accuracy: np.ndarray  # Σ_k prior_k · confusion[w, k, k]
    priors: np.ndarray
    log_likelihood: np.ndarray  # observed-data log-likelihood after each E-step
    iterations: int
    converged: bool
    item_ids: np.ndarray
    annotator_ids: np.ndarray
    annotator_votes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def summary(self, class_names=None, response_names=None) -> dict:
        """JSON-ready: priors, and per annotator its vote count, accuracy and confusion matrix."""
        k, r = self.confusion.shape[1:]
        cn = [str(c) for c in (class_names if class_names is not None else range(k))]
        rn = [str(c) for c in (response_names if response_names is not None else cn + list(range(k, r)))]
        return {
            "method": self.method, "classes": cn, "responses": rn, "priors": self.priors.tolist(),
            "iterations": self.iterations, "converged": self.converged,
            "log_likelihood": self.log_likelihood.tolist(),
            "annotators": [{"annotator": str(a), "votes": int(n), "accuracy": float(acc),
                            "confusion": c.tolist()}
                           for a, n, acc, c in zip(self.annotator_ids, self.annotator_votes,
                                                   self.annotator_accuracy, self.confusion)],
        }


def _show(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _codes(values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if pd.isna(values).any():
        row = int(np.flatnonzero(pd.isna(values))[0])
        raise ValueError(f"missing {what} id at row {row}: every vote needs an item, an annotator and a "
                         "label")
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids of mixed types do not sort
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object if uniques.dtype == object else None)


def _label_codes(raw: np.ndarray) -> np.ndarray:
    if raw.dtype.kind in "iub":
        return raw.astype(np.int64)
    lab = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(lab) | (lab != np.round(lab))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"label at row {row} is {_show(raw[row])}: labels must be integer class codes "
                         "0..K-1 (map class names to codes first)")
    return lab.astype(np.int64)


def encode_votes(data, n_classes: int | None = None, *, n_responses: int | None = None, items=None,
                 columns: tuple[str, str, str] = ("item", "annotator", "label")) -> Votes:
    """Encode a long table (a DataFrame with ``columns``, or three arrays) of votes.

    Items and annotators may be any hashable ids; output rows follow ``items`` when given (every one must
    have a vote), else the sorted item ids. ``n_classes`` defaults to the largest label + 1. ``Votes`` are
    returned as they are.
    """
    if isinstance(data, Votes):
        return data
    if isinstance(data, pd.DataFrame):
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise ValueError(f"the vote table has no column(s) {missing}; it has {list(data.columns)}")
        it, an, lab = (data[c].to_numpy() for c in columns)
    else:
        if not isinstance(data, (tuple, list)) or len(data) != 3:
            raise ValueError("votes must be a DataFrame or three arrays (items, annotators, labels)")
        it, an, lab = (np.asarray(a) for a in data)
        if not (len(it) == len(an) == len(lab)):
            raise ValueError("items, annotators and labels differ in length: "
                             f"{len(it)}, {len(an)}, {len(lab)}")
    if len(lab) == 0:
        raise ValueError("the vote table is empty: truth inference needs at least one vote")
    label = _label_codes(np.asarray(lab))
    k = int(n_classes) if n_classes is not None else max(2, int(label.max()) + 1)
    r = int(n_responses) if n_responses is not None else k
    if k < 2 or r < k:
        raise ValueError(f"need n_classes ≥ 2 and n_responses ≥ n_classes (got {k} and {r})")
    bad = (label < 0) | (label >= r)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"label {label[row]} at row {row} is out of range: labels must be in 0..{r - 1}")
    a_codes, a_ids = _codes(np.asarray(an, dtype=object), "annotator")
    if items is None:
        i_codes, i_ids = _codes(np.asarray(it, dtype=object), "item")
    else:
        index = pd.Index(list(items))
        if index.has_duplicates:
            raise ValueError(f"`items` lists {_show(index[index.duplicated()][0])} more than once")
        i_codes = index.get_indexer(pd.Index(list(it))).astype(np.int64)
        if (i_codes < 0).any():
            stray = it[int(np.flatnonzero(i_codes < 0)[0])]
            raise ValueError(f"item {_show(stray)} has votes but is not in `items`")
        i_ids = np.asarray(index, dtype=object)
        empty = np.flatnonzero(np.bincount(i_codes, minlength=len(index)) == 0)
        if len(empty):
            raise ValueError(f"{len(empty)} item(s) have no labels (first: {_show(i_ids[empty[0]])}); "
                             "drop them before truth inference")
    return Votes(i_codes, a_codes, label, i_ids, a_ids, k, r)


def _majority(v: Votes) -> np.ndarray:
    """Vote shares turned into posteriors: 1 for the top class, ties split evenly; answers ≥ K are ignored."""
    c = np.bincount(v.item * v.n_responses + v.label, minlength=v.n_items * v.n_responses)
    c = c.reshape(v.n_items, v.n_responses)[:, :v.n_classes].astype(np.float64)
    top = c == c.max(axis=1, keepdims=True)
    return top / top.sum(axis=1, keepdims=True)


def _m_step(t: np.ndarray, counts, v: Votes, alpha: float, one_coin: bool) -> tuple[np.ndarray, np.ndarray]:
    k, r, w = v.n_classes, v.n_responses, v.n_annotators
    priors = (t.sum(axis=0) + alpha) / (len(t) + alpha * k)
    num = np.asarray(counts.T @ t).reshape(w, r, k).transpose(0, 2, 1)  # w × k × r expected counts
    if not one_coin:
        return priors, (num + alpha) / (num.sum(axis=2, keepdims=True) + alpha * r)
    correct = np.trace(num[:, :, :k], axis1=1, axis2=2)
    acc = (correct + alpha) / (num.sum(axis=(1, 2)) + 2 * alpha)
    conf = np.broadcast_to(((1 - acc) / (r - 1))[:, None, None], (w, k, r)).copy()
    conf[:, np.arange(k), np.arange(k)] = acc[:, None]
    return priors, conf


def _e_step(priors: np.ndarray, conf: np.ndarray, counts, v: Votes) -> tuple[np.ndarray, float]:
    w, k, r = conf.shape
    log_conf = np.log(np.maximum(conf, 1e-300)).transpose(0, 2, 1).reshape(w * r, k)
    s = np.asarray(counts @ log_conf) + np.log(np.maximum(priors, 1e-300))[None, :]
    top = s.max(axis=1, keepdims=True)
    lse = top + np.log(np.exp(s - top).sum(axis=1, keepdims=True))
    return np.exp(s - lse), float(lse.sum())


def _hard_labels(t: np.ndarray, seed: int) -> np.ndarray:
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    tied = t >= t.max(axis=1, keepdims=True) - 1e-12
    keys = np.random.default_rng(seed).random(t.shape)
    return np.where(tied, keys, -1.0).argmax(axis=1)


def infer_truth(data, method: str = "dawid_skene", n_classes: int | None = None, *,
                n_responses: int | None = None, items=None, smoothing: float = 0.01, tol: float = 1e-6,
                max_iter: int = 100, seed: int = 0, progress: bool = False) -> TruthInference:
    """Posterior true classes for every item by ``method`` (see ``METHODS``).

    Start from majority-vote posteriors; M-step: class priors and per-annotator confusion matrices with
    ``smoothing`` added to every count (one-coin: one accuracy per annotator, errors spread evenly over the
    other answers); E-step in log space. Stop when the log-likelihood moves by less than ``tol`` or after
    ``max_iter`` iterations. Majority vote keeps its posteriors and reports the parameters one M-step
    fits to them (``iterations`` = 0).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if smoothing < 0 or tol < 0 or max_iter < 0:
        raise ValueError("smoothing, tol and max_iter must be ≥ 0")
    v = encode_votes(data, n_classes, n_responses=n_responses, items=items)
    counts = v.counts()
    one_coin = method == "one_coin"
    t = _majority(v)
    priors, conf = _m_step(t, counts, v, smoothing, one_coin)
    trace: list[float] = []
    converged = method == "majority_vote"
    if converged:
        trace.append(_e_step(priors, conf, counts, v)[1])
    else:
        for _ in tqdm(range(max_iter), desc=method, disable=not progress, leave=False):
            t, ll = _e_step(priors, conf, counts, v)
            trace.append(ll)
            if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
                converged = True
                break
            priors, conf = _m_step(t, counts, v, smoothing, one_coin)
    k = v.n_classes
    accuracy = (conf[:, np.arange(k), np.arange(k)] * priors[None, :]).sum(axis=1)
    return TruthInference(
        method=method, posteriors=t, labels=_hard_labels(t, seed), confusion=conf,
        annotator_accuracy=accuracy, priors=priors, log_likelihood=np.asarray(trace),
        iterations=0 if method == "majority_vote" else len(trace), converged=converged, item_ids=v.item_ids,
        annotator_ids=v.annotator_ids, annotator_votes=np.bincount(v.annotator, minlength=v.n_annotators))


def dawid_skene(data, n_classes: int | None = None, **kwargs) -> TruthInference:
    """Full Dawid–Skene: one ``n_classes × n_responses`` confusion matrix per annotator."""
    return infer_truth(data, "dawid_skene", n_classes, **kwargs)


def one_coin(data, n_classes: int | None = None, **kwargs) -> TruthInference:
    """One-coin Dawid–Skene: a single accuracy per annotator, errors uniform over the other answers."""
    return infer_truth(data, "one_coin", n_classes, **kwargs)


def majority_vote(data, n_classes: int | None = None, **kwargs) -> TruthInference:
    """The baseline: each item's most frequent answer (ties split evenly in the posteriors)."""
    return infer_truth(data, "majority_vote", n_classes, **kwargs)
