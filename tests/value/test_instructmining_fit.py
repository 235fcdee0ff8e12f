"""InstructMining rule fit with a synthetic trainer: subsets, a recovered rule, the scorer reading it, resuming."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from curata.errors import ConfigError
from curata.value.instructmining_fit import (available_indicators, fit_rule, rule_scores, run_fit, sample_subsets,
                                             source_labels)

SOURCES = {"good": (0.0, 8.0), "mid": (1.0, 12.0), "bad": (2.0, 20.0)}  # (ppl offset, mean length)


def indicator_frame(n_per: int = 120, seed: int = 0) -> pd.DataFrame:
    """Three sources differing in PPL (which drives the synthetic loss) and length (which does not)."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, (off, length) in SOURCES.items():
        parts.append(pd.DataFrame({"source": name, "im_ppl": 3 + off + rng.normal(0, 0.5, n_per),
                                   "im_len_out": rng.poisson(length, n_per).astype(float),
                                   "im_mtld": rng.normal(50, 5, n_per), "im_knn6": np.nan}))
    df = pd.concat(parts, ignore_index=True)
    df["id"] = [f"r{i}" for i in range(len(df))]
    return df


def synthetic_train(df: pd.DataFrame, noise: float = 0.01, seed: int = 0):
    """log loss = 0.2 + 0.15·(mean PPL − 4) + noise: PPL matters, length and MTLD do not."""
    rng = np.random.default_rng(seed)
    calls = []

    def train(rows: np.ndarray, s: int) -> dict:
        calls.append(s)
        return {"loss": math.exp(0.2 + 0.15 * (df["im_ppl"].to_numpy()[rows].mean() - 4) + rng.normal(0, noise))}
    return train, calls


def test_subsets_are_seeded_distinct_and_mix_sources():
    src = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 5)
    subs = sample_subsets(len(src), 40, 10, seed=1, sources=src)
    again = sample_subsets(len(src), 40, 10, seed=1, sources=src)
    assert all((x["rows"] == y["rows"]).all() for x, y in zip(subs, again))
    for s in subs:
        assert len(s["rows"]) == len(np.unique(s["rows"])) == 40 and sum(s["mix"].values()) == 40
        assert all((src[s["rows"]] == k).sum() == c for k, c in s["mix"].items())
    shares = np.array([s["mix"].get("a", 0) / 40 for s in subs])
    assert shares.std() > 0.1  # Dirichlet mixing: the subsets really differ in composition
    plain = sample_subsets(85, 20, 3, seed=0)
    assert all(s["mix"] == {} and len(np.unique(s["rows"])) == 20 for s in plain)
    with pytest.raises(ConfigError):
        sample_subsets(10, 11, 2, seed=0)


def test_the_fit_recovers_the_driving_indicator_and_writes_a_rule_the_scorer_reads(tmp_path):
    from curata.scorers.instructmining import InstructMiningScorer, load_rule

    df = indicator_frame()
    assert available_indicators(df) == ["im_len_out", "im_ppl", "im_mtld"]  # knn6 all-NaN: left out
    train, calls = synthetic_train(df)
    rule = run_fit(df, train, n_subsets=24, size=60, seed=0, sources=source_labels(df), run_dir=tmp_path,
                   progress=False)
    assert len(calls) == 24 and rule["n_subsets"] == 24 and rule["selected"][0] == "im_ppl"
    assert "im_mtld" not in rule["selected"] and rule["p_values"]["im_ppl"] < 1e-6 and rule["r2"] > 0.8
    # the z-scored coefficient is 0.15 × (std of the subsets' mean PPL), within 3 standard errors
    beta = 0.15 * rule["stds"]["im_ppl"]
    assert abs(rule["coefficients"]["im_ppl"] - beta) < 3 * rule["standard_errors"]["im_ppl"]
    path = tmp_path / "instructmining" / "rule.json"
    assert json.loads(path.read_text())["coefficients"] == rule["coefficients"]
    loaded = load_rule(str(path))
    assert loaded["coefficients"]["ppl"] == pytest.approx(rule["coefficients"]["im_ppl"])
    ours = rule_scores(rule, df)
    terms = list(loaded["coefficients"])
    theirs, _, _ = InstructMiningScorer._apply(loaded, df, terms)
    assert ours == pytest.approx(theirs)
    from scipy.stats import spearmanr
    assert spearmanr(ours, df["im_ppl"]).statistic > 0.95  # records rank by their PPL, the driving indicator
    lines = (tmp_path / "instructmining" / "fit_subsets.jsonl").read_text().splitlines()
    assert len(lines) == 24 and set(json.loads(lines[0])) >= {"subset", "mix", "loss", "log_loss", "means"}


def test_a_second_fit_resumes_from_the_subset_log(tmp_path):
    df = indicator_frame(n_per=60)
    train, calls = synthetic_train(df)
    first = run_fit(df, train, n_subsets=8, size=30, seed=2, sources=source_labels(df), run_dir=tmp_path,
                    progress=False)

    def never(rows, s):
        raise AssertionError("retrained a subset that was already fitted")

    again = run_fit(df, never, n_subsets=8, size=30, seed=2, sources=source_labels(df), run_dir=tmp_path,
                    progress=False)
    assert again["coefficients"] == first["coefficients"] and len(calls) == 8


def test_fit_rule_standardises_over_subsets_and_reports_constants():
    rng = np.random.default_rng(0)
    means = np.column_stack([rng.normal(5, 2, 30), np.full(30, 1.0)])
    losses = np.exp(0.1 + 0.05 * (means[:, 0] - 5) + rng.normal(0, 0.005, 30))
    rule = fit_rule(means, losses, ["im_ppl", "im_mtld"])
    assert rule["constant_indicators"] == ["im_mtld"] and rule["selected"] == ["im_ppl"]
    assert rule["means"]["im_ppl"] == pytest.approx(means[:, 0].mean())
    assert rule["coefficients"]["intercept"] == pytest.approx(np.log(losses).mean())


def test_errors_name_the_problem():
    df = indicator_frame(n_per=10)
    with pytest.raises(ConfigError, match="no InstructMining indicator"):
        run_fit(df[["id", "source"]], lambda r, s: {"loss": 1.0}, progress=False)
    with pytest.raises(ConfigError, match="cannot support a regression"):
        run_fit(df, lambda r, s: {"loss": 1.0}, n_subsets=3, size=5, progress=False)
    with pytest.raises(ConfigError, match="no column 'domain'"):
        source_labels(df, "domain")
    assert source_labels(df.drop(columns=["source"])) is None


def test_another_eval_set_or_trainer_refits_every_subset(tmp_path):
    """The subset log answers only the fit it was made for: train_fn.key (records, eval set, trainer) is part of
    each entry's key."""
    df = indicator_frame(n_per=40)
    train, calls = synthetic_train(df)
    train.key = "eval-A"
    run_fit(df, train, n_subsets=6, size=20, seed=0, run_dir=tmp_path, progress=False)
    assert len(calls) == 6
    train.key = "eval-B"
    run_fit(df, train, n_subsets=6, size=20, seed=0, run_dir=tmp_path, progress=False)
    assert len(calls) == 12
    train.key = "eval-A"
    run_fit(df, train, n_subsets=6, size=20, seed=0, run_dir=tmp_path, progress=False)
    assert len(calls) == 12  # A's own entries still answer A


def test_lora_train_fn_key_follows_eval_set_and_trainer():
    from curata.value.instructmining_fit import lora_train_fn

    pytest.importorskip("peft")
    df = pd.DataFrame({"instruction": ["a", "b"], "input": ["", ""], "output": ["x", "y"]})
    ev1 = [{"instruction": "q", "input": "", "output": "1"}]
    ev2 = [{"instruction": "q", "input": "", "output": "2"}]
    k = lora_train_fn(df, ev1, {"epochs": 1}).key
    assert k == lora_train_fn(df, ev1, {"epochs": 1}).key
    assert k != lora_train_fn(df, ev2, {"epochs": 1}).key
    assert k != lora_train_fn(df, ev1, {"epochs": 2}).key
