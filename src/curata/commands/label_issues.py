"""``curata label-issues``: Confident Learning on a labels file and a probabilities file, no pool needed.

Writes ``DIR/label_issues.parquet`` (``index``, ``is_label_issue``, ``label_issue_score``,
``suggested_label``) and ``DIR/summary.json`` (settings, input checksums, counts, confident joint, noise
matrices, prior).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from curata.engine.atomic import write_json, write_parquet
from curata.errors import ConfigError, InputError
from curata.label import FILTERS, RANKINGS, LabelInputError, LabelIssues, detect_label_issues

LABEL_TEXT_SUFFIXES = (".txt", ".csv")



def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(path, f"not a readable numeric .npy file ({type(e).__name__}: {e})",
                         f"save the {what} with numpy.save(path, array)") from None


def _load_label_text(path: Path) -> np.ndarray:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    first = 1 if lines and not lines[0].lstrip("+-").isdigit() else 0  # a header line
    out = np.empty(len(lines) - first, dtype=np.int64)
    for i, ln in enumerate(lines[first:], start=first):
        try:
            out[i - first] = int(ln.split(",")[0])
        except ValueError:
            raise InputError(path, f"{ln!r} is not an integer class index",
                             "write one label (0..K-1) per line", line=i + 1) from None
    return out


def load_labels(path: Path) -> np.ndarray:
    """Given labels: ``.npy`` (1-D integers) or ``.txt``/``.csv`` (one integer a line, optional header)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "labels file not found", "pass --labels FILE.npy")
    if path.suffix.lower() in LABEL_TEXT_SUFFIXES:
        return _load_label_text(path)
    if path.suffix.lower() != ".npy":
        raise InputError(path, f"unsupported labels file type {path.suffix!r}",
                         "pass a .npy array (numpy.save) or a .txt/.csv with one integer label per line")
    y = _load_npy(path, "labels")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InputError(path, f"labels have shape {y.shape}, expected (n,)",
                         "save one class index per record")
    integral = y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()
    if not (y.dtype.kind in "iub" or integral):
        raise InputError(path, f"labels have dtype {y.dtype}, expected integer class indices",
                         "map each class to its probability column 0..K-1 and save as integers")
    return y.astype(np.int64)


def load_probs(path: Path) -> np.ndarray:
    """Out-of-fold probabilities from an n×K ``.npy`` of floats."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "probabilities file not found", "pass --probs FILE.npy")
    if path.suffix.lower() != ".npy":
        raise InputError(path, f"unsupported probabilities file type {path.suffix!r}",
                         "save the n×K probabilities with numpy.save(path, probs)")
    p = _load_npy(path, "probabilities")
    if p.ndim != 2:
        raise InputError(path, f"probabilities have shape {p.shape}, expected (n, K)",
                         "one row per record, one column per class")
    if p.dtype.kind != "f":
        raise InputError(path, f"probabilities have dtype {p.dtype}, expected floats", "save them as float64")
    return p.astype(np.float64)


def issues_table(result: LabelIssues) -> "pd.DataFrame":  # noqa: F821 - pandas is imported when it runs
    import pandas as pd

    suggested = pd.array(np.where(result.mask, result.suggested, 0), dtype="Int64")
    suggested[~result.mask] = pd.NA
    return pd.DataFrame({"index": np.arange(len(result.mask), dtype=np.int64), "is_label_issue": result.mask,
                         "label_issue_score": result.scores, "suggested_label": suggested})


def label_issues(
    labels: Annotated[Path, typer.Option(help="given labels: .npy of n class indices "
                                              "(or .txt/.csv, one per line)")],
    probs: Annotated[Path, typer.Option(help="out-of-fold predicted probabilities: .npy, n×K, "
                                             "rows summing to 1")],
    out: Annotated[Path, typer.Option(help="output directory (label_issues.parquet, summary.json)")],
    filter_by: Annotated[str, typer.Option(help=" | ".join(FILTERS))] = "prune_by_noise_rate",
    rank_by: Annotated[str, typer.Option(help=" | ".join(RANKINGS) + " (label_issue_score; lower = "
                                              "more likely wrong)")] = "self_confidence",
    frac_noise: Annotated[float, typer.Option(help="flag this fraction of the estimated errors "
                                                   "(pruning rules)")] = 1.0,
    min_examples_per_class: Annotated[int, typer.Option(help="never flag records of a class this small")] = 1,
) -> LabelIssues:
    """Find likely label errors from given labels and out-of-fold probabilities (Confident Learning)."""
    from curata.engine.run_dir import file_sha256

    labels, probs, out = Path(labels), Path(probs), Path(out)
    y, p = load_labels(labels), load_probs(probs)
    if len(y) != len(p):
        raise InputError(labels, f"{len(y):,} labels but {probs.name} has {len(p):,} rows",
                         "both files must hold one entry per record, in the same order")
    try:
        result = detect_label_issues(y, p, filter_by=filter_by, rank_by=rank_by, frac_noise=frac_noise,
                                     min_examples_per_class=min_examples_per_class)
    except LabelInputError as e:
        if e.argument in ("labels", "pred_probs"):
            raise InputError(labels if e.argument == "labels" else probs, e.problem, e.fix) from None
        raise ConfigError(f"--{e.argument.replace('_', '-')}", e.problem, e.fix) from None
    write_parquet(out / "label_issues.parquet", issues_table(result))
    summary = {"command": "label-issues",
               "inputs": {"labels": {"path": str(labels), "sha256": file_sha256(labels), "n": int(len(y))},
                          "probs": {"path": str(probs), "sha256": file_sha256(probs), "shape": list(p.shape)}},
               **result.summary(),
               "ranked_issues": result.ranked.tolist()}
    write_json(out / "summary.json", summary)
    n, k = len(y), result.n_issues
    typer.echo(f"label-issues: {k:,} of {n:,} records flagged ({k / n:.1%}) by {filter_by}, estimated noise "
               f"{result.noise.noise_rate:.1%} ({result.noise.estimated_errors:,} errors) → "
               f"{out / 'label_issues.parquet'}")
    return result
