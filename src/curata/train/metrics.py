"""Classification metrics for the proof loop; the primary one is match-class F1 for pairs, macro-F1 otherwise."""

from __future__ import annotations

import numpy as np


def _as_indices(y_true, label_names: list[str]) -> np.ndarray:
    y = np.asarray(y_true)
    if y.dtype.kind in "iu":
        idx = y.astype(np.int64)
        bad = (idx < 0) | (idx >= len(label_names))
    else:
        lookup = {n: i for i, n in enumerate(label_names)}
        idx = np.array([lookup.get(str(v), -1) if v is not None else -1 for v in y], dtype=np.int64)
        bad = idx < 0
    if bad.any():
        raise ValueError(f"{int(bad.sum())} true label(s) outside the vocabulary {label_names}, "
                         f"e.g. {y[bad][0]!r}")
    return idx


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """F1 per class index (0 where a class has no true and no predicted row)."""
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_labels).astype(np.float64)
    n_true = np.bincount(y_true, minlength=n_labels).astype(np.float64)
    n_pred = np.bincount(y_pred, minlength=n_labels).astype(np.float64)
    denom = n_true + n_pred
    return np.divide(2 * tp, denom, out=np.zeros(n_labels), where=denom > 0)


def classification_metrics(y_true, proba: np.ndarray, label_names: list[str], task: str,
                           positive_label: str | None = None) -> dict:
    """Accuracy, macro-F1 and the primary ``f1``: the match class's F1 for pairs, macro-F1 otherwise.

    ``y_true`` holds label names or indices into ``label_names``; ``proba`` is ``n × len(label_names)``.
    Macro-F1 averages the classes that occur in the truth or the predictions (scikit-learn's convention).
    """
    label_names = [str(n) for n in label_names]
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(label_names):
        raise ValueError(f"proba has shape {proba.shape}, expected (n, {len(label_names)})")
    y = _as_indices(y_true, label_names)
    if len(y) != len(proba):
        raise ValueError(f"{len(y)} true labels but {len(proba)} rows of probabilities")
    if len(y) == 0:
        raise ValueError("no test rows to evaluate")
    pred = proba.argmax(axis=1)
    f1 = per_class_f1(y, pred, len(label_names))
    seen = np.zeros(len(label_names), dtype=bool)
    seen[y] = True
    seen[pred] = True
    out = {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1[seen].mean()),
        "per_class_f1": {name: float(f1[i]) for i, name in enumerate(label_names)},
    }
    if task == "pair":
        pos = "1" if positive_label is None else str(positive_label)
        if pos not in label_names:
            raise ValueError(f"positive label {pos!r} is not among the labels {label_names}")
        out.update(f1=float(f1[label_names.index(pos)]), primary="positive_f1", positive_label=pos)
    else:
        out.update(f1=out["macro_f1"], primary="macro_f1")
    return out
