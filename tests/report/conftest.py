"""A synthetic run directory, written file by file the way the engine writes them, for report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

LABELS = ["negative", "neutral", "positive"]
WORDS = ("data model select budget cluster random label score text record pool train test quality "
         "diverse sample noise signal review product movie great poor fine").split()


def _build_run(root: Path, n: int = 600, n_rejected: int = 5, frac: float = 0.1, *, summary: bool = True,
              manifest: bool = True, config: bool = True, labels: bool = True, map_xy: bool = True,
              clusters: bool = True, bandit: bool = True, evaluation: bool = True, rejected_file: bool = True,
              selection: bool = True, seed: int = 0, texts: dict[int, str] | None = None) -> dict:
    """Write a run directory with ``n`` accepted and ``n_rejected`` rejected records; return accounting."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    k = 12
    cluster = rng.integers(0, k, n) if clusters else None
    centres = rng.normal(0, 4, (k, 2))
    base = centres[cluster] if clusters else rng.normal(0, 4, (n, 2))
    xy = base + rng.normal(0, 0.9, (n, 2))
    text = [" ".join(rng.choice(WORDS, rng.integers(4, 40))) for _ in range(n)]
    for i, t in (texts or {}).items():
        text[i] = t
    df = pd.DataFrame({
        "id": [f"r{i:06d}" for i in range(n)], "source_file": "pool.jsonl",
        "source_line": pd.array(np.arange(1, n + 1), dtype="Int64"),
        "label": rng.choice(LABELS, n, p=[0.5, 0.3, 0.2]) if labels else None, "text": text,
    })
    df["length_score"] = df["text"].str.split().str.len().astype(np.int64)
    df["nn_sim_score"] = rng.beta(5, 2, n)
    df["proxy_score"] = rng.normal(0, 1, n)
    df["tag_score"] = "x"  # non-numeric: must be skipped
    dup = np.zeros(n, dtype=bool)
    dup[rng.choice(n, max(1, n // 20), replace=False)] = True
    df["exact_dup_of"] = np.where(dup, "r000000", None)
    if clusters:
        df["cluster"] = cluster
    if map_xy:
        df["map_x"], df["map_y"] = xy[:, 0], xy[:, 1]
    if selection:
        n_sel = int(round(frac * n))
        cand = np.flatnonzero(~dup)
        order = cand[np.argsort(-df["proxy_score"].to_numpy()[cand], kind="stable")][: n_sel * 3]
        rank = np.full(n, -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        selected = np.zeros(n, dtype=bool)
        selected[order[:n_sel]] = True
        df["selected"] = selected
        df["status"] = np.where(selected, "selected", "not_selected")
        df["excluded"] = dup
        df["exclude_rule"] = np.where(dup, "exact_dup_of.notna()", None)
        df["select_rank"] = pd.array(rank, dtype="Int64")
        not_chosen = np.where(rank >= 0, "below the budget cut", "not reached")
        df["reason"] = np.where(dup, "exact duplicate of r000000",
                                np.where(selected, "chosen by top proxy_score", not_chosen))
    else:
        df["selected"], df["status"], df["reason"] = False, "scored", "scored only (no selection step)"
    rej = [{"file": "pool.jsonl", "line": n + i + 1, "reason": "invalid JSON" if i % 2 else "empty text",
            "raw": '{"text": <broken' + "x" * 300} for i in range(n_rejected)]
    if rej:
        df = pd.concat([df, pd.DataFrame({
            "id": None, "status": "rejected", "source_file": "pool.jsonl",
            "source_line": pd.array([r["line"] for r in rej], dtype="Int64"), "label": None, "text": None,
            "selected": False, "reason": [r["reason"] for r in rej]})], ignore_index=True)
        if "excluded" in df.columns:
            df["excluded"] = df["excluded"].fillna(False).astype(bool)
    df.to_parquet(root / "records.parquet", index=False)
    if rejected_file:
        (root / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rej))
    n_sel = int(df["selected"].sum())
    acc = {"records_in": n + n_rejected, "accepted": n, "selected": n_sel,
           "not_selected": n - n_sel if selection else None,
           "excluded": int(dup.sum()) if selection else None, "rejected": n_rejected}
    line = f"records in {n + n_rejected} = " + (
        f"selected {n_sel} + not selected {n - n_sel} + rejected {n_rejected}" if selection
        else f"scored {n} + rejected {n_rejected}")
    if summary:
        (root / "summary.json").write_text(json.dumps({
            "accounting": acc, "accounting_line": line,
            "budget": f"{frac} of the pool" if selection else None,
            "selector": {"describe": "top proxy_score", "summary": {"arms": k, "rounds": 40}, "n_log": 40}
            if selection else None,
            "notes": ["scorer target_sim skipped: no target set was given (--target)"],
            "task": "text", "labels": LABELS if labels else None,
            "timings": {"read-pool": {"seconds": 0.12, "cached": False, "records": n + n_rejected},
                        "embed": {"seconds": 3.4, "cached": True, "encoded": 0},
                        "select": {"seconds": 0.05, "cached": False}},
            "seconds": 3.6}))
    if manifest:
        (root / "manifest.json").write_text(json.dumps({
            "created_at": "2025-03-01T12:00:00+0000", "argv": ["curata", "select", "pool.jsonl"],
            "inputs": {"pool": {"path": "data/pool.jsonl", "sha256": "ab12cd34ef56" + "0" * 52},
                       "target": None},
            "seed": seed, "embedder": "static(model='minilm')", "scorers": ["length()", "proxy(folds=5)"],
            "selector": "topk(by='proxy_score')",
            "versions": {"curata": "0.1.0", "numpy": "2.4.0", "torch": None},
            "python": "3.11.9", "machine": {"platform": "Linux-x86_64", "processor": "x86_64"}}))
    if config:
        (root / "config.yaml").write_text("input:\n  path: data/pool.jsonl\nselect:\n  budget: 0.1\n")
    if bandit and selection:
        rewards = np.clip(rng.normal(0.5, 0.15, 40), 0, 1)
        (root / "bandit_log.jsonl").write_text("".join(json.dumps({
            "round": r, "arm": int(rng.integers(0, k)), "ids": [f"r{j:06d}" for j in range(5)],
            "rows": list(range(5)),
            "reward": float(rewards[r]), "policy": "ucb"}) + "\n" for r in range(40)))
    if evaluation and selection:
        write_eval(root, n, seed)
    return acc


def write_eval(root: Path, n: int, seed: int = 0, seeds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    rows = []
    for b in (0.05, 0.1, 0.2, 0.5):
        for arm, gain in (("selected", 0.04), ("random", 0.0)):
            for s in range(seeds):
                m = 0.55 + 0.25 * np.log10(1 + 9 * b) + gain * (1 - b) + rng.normal(0, 0.01)
                rows.append({"budget": b, "n_train": int(round(b * n)), "arm": arm, "seed": s,
                             "trainer": "logreg()", "accuracy": m + 0.05, "macro_f1": m, "f1": m,
                             "primary": "macro_f1", "seconds": 0.1})
    rows.append({"budget": 1.0, "n_train": n, "arm": "full", "seed": 0, "trainer": "logreg()",
                 "accuracy": 0.86, "macro_f1": 0.81, "f1": 0.81, "primary": "macro_f1", "seconds": 0.4})
    res = pd.DataFrame(rows)
    (root / "eval").mkdir(exist_ok=True)
    res.to_parquet(root / "eval" / "results.parquet", index=False)
    (root / "eval" / "summary.json").write_text(json.dumps({
        "primary": "macro_f1", "trainer": "logreg()",
        "test": {"path": "data/test.jsonl", "records": 500, "rejected": 0},
        "table": []}))
    return res


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    _build_run(root)
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The default synthetic run, rendered once: (run directory, report HTML) for read-only checks."""
    from curata.report import render_report

    root = tmp_path_factory.mktemp("runs") / "demo"
    _build_run(root)
    return root, render_report(root).read_text(encoding="utf-8")


@pytest.fixture
def build_run():
    """The synthetic run-directory builder, as a fixture (tests cannot import conftest by name)."""
    return _build_run
