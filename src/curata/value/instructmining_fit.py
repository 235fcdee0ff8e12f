"""InstructMining's rule fit (METHODS §1.3): log eval loss of fine-tunes on sampled subsets vs their indicators.

1. Sample ``n_subsets`` subsets of ``size`` records (seeded). When the pool has a source, each subset mixes the
   sources in Dirichlet-drawn proportions (the paper mixes instruction datasets), so subsets differ in quality;
   uniform subsets of one pool barely differ in their indicator means.
2. Fine-tune once per subset with one fixed recipe (``lora_sft``) and record ``log L_eval`` on the eval set.
3. Regress ``log L_eval`` on the subsets' mean indicators, z-scored over the subsets, by OLS; drop regressors
   by significance (backward, ``alpha``) and write the rule JSON the ``instructmining`` scorer reads:
   ``coefficients`` (with ``intercept``), ``standard_errors``, ``t_values``, ``p_values``, ``means``, ``stds``
   (subset-level), ``n_subsets``, ``r2``, ``indicators`` and the full model before selection.

Each subset's result is appended to ``<run>/instructmining/fit_subsets.jsonl`` as it finishes (a killed fit
resumes), and every fine-tune is recorded by the trainer in ``<run>/finetunes/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from curata.console import tqdm

from curata.engine.atomic import write_json
from curata.errors import ConfigError
from curata.train.lora_sft import run_root
from curata.value.ols import backward_select, ols

log = logging.getLogger("curata")

INDICATORS = ("im_len_in", "im_len_out", "im_ppl", "im_mtld", "im_knn6", "im_reward", "im_naturalness",
              "im_coherence", "im_understandability")
#: the fixed small recipe of the fit's fine-tunes (overridable); see benchmarks/results/instruction_selection.md
FIT_RECIPE = {"epochs": 1, "max_length": 256, "batch_size": 8}
#: train_fn(rows, seed) -> {"loss": eval loss, ...}
TrainFn = Callable[[np.ndarray, int], dict]


def available_indicators(df: pd.DataFrame, min_coverage: float = 0.9) -> list[str]:
    """Indicator columns with a finite value on at least ``min_coverage`` of the records, not constant."""
    out = []
    for c in INDICATORS:
        if c in df.columns:
            x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
            ok = np.isfinite(x)
            if ok.mean() >= min_coverage and np.nanstd(x) > 0:
                out.append(c)
    return out


def source_labels(df: pd.DataFrame, column: str | None = None) -> np.ndarray | None:
    """Each record's source: ``column``; else a ``source`` column; else ``source_file`` when the pool was read
    from several files; else None."""
    if column is not None:
        if column not in df.columns:
            raise ConfigError("instructmining.source_column", f"no column {column!r} in the records",
                              f"choose one of: {', '.join(map(str, df.columns))}")
        return df[column].astype(str).to_numpy()
    for c in ("source", "source_file"):
        if c in df.columns and df[c].nunique() > 1:
            return df[c].astype(str).to_numpy()
    return None


def sample_subsets(n: int, size: int, n_subsets: int, seed: int, sources: np.ndarray | None = None,
                   concentration: float = 1.0) -> list[dict]:
    """``n_subsets`` subsets of ``size`` distinct rows: [{"rows", "mix": {source: count}}]."""
    if size > n:
        raise ConfigError("instructmining.size", f"subset size {size} is larger than the pool ({n})")
    rng = np.random.default_rng(seed)
    out = []
    if sources is None:
        for _ in range(n_subsets):
            out.append({"rows": np.sort(rng.choice(n, size=size, replace=False)), "mix": {}})
        return out
    names, inv = np.unique(sources, return_inverse=True)
    members = [np.flatnonzero(inv == s) for s in range(len(names))]
    avail = np.array([len(m) for m in members])
    for _ in range(n_subsets):
        w = rng.dirichlet(np.full(len(names), concentration))
        counts = np.minimum(rng.multinomial(size, w), avail)
        while counts.sum() < size:  # a source ran out: give the rest to sources with records left
            room = avail - counts
            counts += np.minimum(room, rng.multinomial(size - counts.sum(), room / room.sum()))
        rows = np.concatenate([rng.choice(m, size=c, replace=False) for m, c in zip(members, counts) if c])
        out.append({"rows": np.sort(rows), "mix": {str(s): int(c) for s, c in zip(names, counts) if c}})
    return out


def fit_rule(means: np.ndarray, losses: np.ndarray, names: list[str], alpha: float = 0.05) -> dict:
    """The rule JSON from subset-level indicator means (n_subsets × k) and eval losses (log taken here)."""
    y = np.log(np.asarray(losses, dtype=np.float64))
    mu, sd = means.mean(axis=0), means.std(axis=0, ddof=1)
    keep = [j for j in range(len(names)) if sd[j] > 0 and np.isfinite(sd[j])]
    Z = (means[:, keep] - mu[keep]) / sd[keep]
    used = [names[j] for j in keep]
    fit = backward_select(Z, y, used, alpha=alpha)
    full = ols(Z, y, used) if len(used) < len(y) - 1 else None
    selected = fit.names[1:]
    return {"target": "log eval loss (natural log of the mean response-token cross-entropy)",
            **fit.as_dict(), "means": {n: float(mu[names.index(n)]) for n in selected},
            "stds": {n: float(sd[names.index(n)]) for n in selected}, "n_subsets": int(len(y)),
            "r2": fit.r2, "adj_r2": fit.adj_r2, "f_pvalue": fit.f_pvalue, "residual_std": fit.sigma,
            "alpha": alpha, "indicators": list(names), "selected": selected,
            "significant": bool(selected) and bool((fit.p[1:] <= alpha).all()), "dropped": fit.dropped,
            "constant_indicators": [n for j, n in enumerate(names) if j not in keep],
            "full_model": None if full is None else {"terms": full.table(), "r2": full.r2, "adj_r2": full.adj_r2},
            "all_means": {n: float(mu[j]) for j, n in enumerate(names)},
            "all_stds": {n: float(sd[j]) for j, n in enumerate(names)}}


def rule_scores(rule: dict, df: pd.DataFrame) -> np.ndarray:
    """Predicted log eval loss per record (lower is better): the rule on each record's indicators, z-scored
    with the rule's subset-level means and stds, missing values imputed at the mean (as the scorer does)."""
    score = np.full(len(df), float(rule["coefficients"].get("intercept", 0.0)))
    for name, beta in rule["coefficients"].items():
        if name == "intercept":
            continue
        x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
        z = (x - rule["means"][name]) / rule["stds"][name]
        score += beta * np.where(np.isfinite(z), z, 0.0)
    return score


def lora_train_fn(df: pd.DataFrame, eval_records, trainer: dict | None, run_dir=None, tag: str = "fit") -> TrainFn:
    """``train_fn``: fine-tune ``lora_sft`` (``FIT_RECIPE`` + ``trainer``) on rows of ``df``, score ``eval_records``."""
    from curata.train.lora_sft import LoRASFTTrainer

    params = {**FIT_RECIPE, **(trainer or {})}

    def train(rows: np.ndarray, seed: int) -> dict:
        t = LoRASFTTrainer(**params).fit(df.iloc[rows], seed=seed, progress=False, run_dir=run_dir)
        loss = t.eval_loss(eval_records, name=tag)
        return {"loss": loss, "finetune": t.record_.get("id"), "steps": t.stats_["steps"],
                "tokens_per_s": t.stats_["tokens_per_s"], "truncated": t.stats_["data"]["truncated"]}
    # what a logged loss depends on besides its rows: the records the rows index, the eval set, the trainer
    train.key = _content_key(df, eval_records, LoRASFTTrainer(**params).fingerprint())
    return train


def _content_key(df: pd.DataFrame, eval_records, trainer_fp: str) -> str:
    cols = ["instruction", "input", "output", "text"]
    h = hashlib.sha256(trainer_fp.encode())
    for frame in (df, getattr(eval_records, "df", eval_records)):
        if isinstance(frame, pd.DataFrame):
            part = frame[[c for c in cols if c in frame.columns]].astype(str)
            h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
        else:
            h.update(json.dumps(frame, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def read_log(path: Path | None) -> list[dict]:
    """The records of a JSONL log appended as work finishes; a line torn by a kill is skipped (redone)."""
    out: list[dict] = []
    if path is not None and path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _load_done(path: Path | None) -> dict[str, dict]:
    return {r["key"]: r for r in read_log(path)}


def run_fit(df: pd.DataFrame, train_fn: TrainFn, *, n_subsets: int = 24, size: int = 96, seed: int = 0,
            alpha: float = 0.05, indicators: list[str] | None = None, sources: np.ndarray | None = None,
            concentration: float = 1.0, run_dir=None, out: str | Path | None = None,
            progress: bool = True) -> dict:
    """Sample subsets, fine-tune on each (``train_fn``), fit and write the rule; returns the rule dict."""
    names = list(indicators or available_indicators(df))
    if not names:
        raise ConfigError("instructmining.indicators", "the records have no InstructMining indicator columns",
                          "score the pool with the instructmining scorer first (curata score --scorers instructmining)")
    if n_subsets < 4:
        raise ConfigError("instructmining.n_subsets", f"{n_subsets} subsets cannot support a regression",
                          "use at least 4 (the paper used about 100)")
    if sources is None:
        log.warning("instructmining fit: no source column, subsets are uniform samples whose indicator means "
                    "vary little; the fit will be weak")
    values = df[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    subsets = sample_subsets(len(df), size, n_subsets, seed, sources, concentration)
    root = None if run_dir is None else run_root(run_dir)
    log_path = None if root is None else root / "instructmining" / "fit_subsets.jsonl"
    done = _load_done(log_path)
    results = []
    for i, sub in enumerate(tqdm(subsets, desc="instructmining fit", unit="fine-tune", disable=not progress)):
        rows = sub["rows"]
        key = f"{getattr(train_fn, 'key', '')}|{i}|{hashlib.sha1(rows.tobytes()).hexdigest()[:16]}"
        if key not in done:
            t0 = time.perf_counter()
            res = train_fn(rows, seed + i)
            rec = {"key": key, "subset": i, "size": int(len(rows)), "mix": sub["mix"], "loss": float(res["loss"]),
                   "log_loss": math.log(res["loss"]), "seconds": round(time.perf_counter() - t0, 2),
                   "means": {n: float(np.nanmean(values[rows, j])) for j, n in enumerate(names)},
                   **{k: v for k, v in res.items() if k != "loss"}}
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
            done[key] = rec
        results.append(done[key])
    means = np.array([[r["means"][n] for n in names] for r in results])
    rule = fit_rule(means, np.array([r["loss"] for r in results]), names, alpha)
    rule.update(subset_size=size, seed=seed, concentration=concentration,
                sources=None if sources is None else sorted(set(map(str, sources))),
                subsets=[{k: r[k] for k in ("subset", "loss", "mix", "seconds") if k in r} for r in results])
    target = Path(out) if out is not None else (None if root is None else root / "instructmining" / "rule.json")
    if target is not None:
        write_json(target, rule)
        rule["path"] = str(target)
    return rule
