"""The proof loop on an instruction pool: eval loss as the primary metric (lower is better), with a fast fake SFT
trainer standing in for LoRA fine-tuning."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from curata.engine import registry
from curata.engine.evaluate import _trainer_for_task, evaluate_run, summarise
from curata.engine.stage import Stage
from curata.errors import ConfigError

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


class FakeSFT(Stage):
    """Loss falls with the mean response length of the training records (so a length top-k wins)."""

    name = "fake_sft"
    role = "trainer"
    task_kinds: ClassVar[tuple[str, ...]] = ("instruction",)
    needs_features: ClassVar[bool] = False
    fits: ClassVar[list] = []

    def fit(self, train, seed=None, *, progress=True, run_dir=None):
        self.mean_len = float(train.df["output"].str.split().str.len().mean())
        self.seed = seed
        FakeSFT.fits.append({"n": len(train), "seed": seed, "run_dir": run_dir})
        return self

    def evaluate(self, test, progress=False):
        return {"eval_loss": 3.0 - 0.1 * self.mean_len + 0.01 * self.seed + 0.001 * len(test),
                "exact_match": float("nan"), "primary": "eval_loss"}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def instruction_run(tmp_path):
    from curata.config import build_pipeline, load_config

    rng = np.random.default_rng(0)
    rows = [{"id": f"r{i:02d}", "instruction": f"Task {i}: list some words.",
             "output": " ".join(rng.choice(WORDS, size=1 + i % 10))} for i in range(40)]
    pool = write(tmp_path / "pool.jsonl", rows)
    test = write(tmp_path / "test.jsonl", [{"id": f"t{i}", "instruction": "List words.", "output": WORDS[i]}
                                           for i in range(5)])
    run = tmp_path / "run"
    cfg = {"input": {"path": str(pool), "fields": {"task": "instruction", "label_field": None, "id_field": "id"}},
           "scorers": ["length"], "select": {"selector": {"name": "topk", "by": "length_output_score"},
                                             "budget": 0.25}, "out": str(run)}
    build_pipeline(load_config(cfg), run_dir=run, progress=False).run()
    FakeSFT.fits = []
    registry._USER["trainer"]["lora_sft"] = FakeSFT  # the default trainer of instruction pools, faked
    yield run, test
    registry._USER["trainer"].pop("lora_sft", None)


def test_instruction_pools_are_scored_by_eval_loss(instruction_run):
    run, test = instruction_run
    table = evaluate_run(run, test, budgets=["0.25", "0.5"], seeds=3, progress=False)
    res = pd.read_parquet(run / "eval" / "results.parquet")
    assert {"eval_loss", "exact_match", "f1", "accuracy", "macro_f1"} <= set(res.columns)
    assert res[["f1", "accuracy", "macro_f1"]].isna().all().all() and set(res["primary"]) == {"eval_loss"}
    assert (res["arm"] == "random").sum() == 6 and (res["arm"] == "full").sum() == 3
    assert all(f["run_dir"] == run for f in FakeSFT.fits)  # fine-tunes are recorded in the run directory
    for (spec, arm), rows in res.groupby(["budget_spec", "arm"]):
        row = table[(table["budget_spec"] == spec) & (table["arm"] == arm)].iloc[0]
        assert row["mean"] == pytest.approx(rows["eval_loss"].mean()) and row["metric"] == "eval_loss"
        assert row["n"] == 3
    at = table[table["budget_spec"] == "0.25 of the pool"].set_index("arm")
    # the selection holds the longest responses, so its (fake) loss is lower: a negative gain is a win
    assert at.loc["selected", "mean"] < at.loc["random", "mean"]
    assert at.loc["selected", "gain_vs_random"] == pytest.approx(at.loc["selected", "mean"] - at.loc["random", "mean"])
    assert at.loc["selected", "n_train"] == at.loc["random", "n_train"] == 10
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert summary["primary"] == "eval_loss" and summary["lower_is_better"] is True
    assert summary["trainer"] == "fake_sft()"

    def no_training(self, *a, **k):
        raise AssertionError("retrained a model that was already evaluated")

    FakeSFT.fit = no_training
    try:
        again = evaluate_run(run, test, budgets=["0.25", "0.5"], seeds=3, progress=False)
    finally:
        del FakeSFT.fit
    pd.testing.assert_frame_equal(again, table)


def test_the_classifier_default_becomes_lora_sft_and_mismatches_fail(instruction_run):
    from curata.train.lora_sft import LoRASFTTrainer
    from curata.train.logreg import LogRegTrainer

    registry._USER["trainer"].pop("lora_sft")
    assert _trainer_for_task(LogRegTrainer, "logreg", {}, "instruction") is LoRASFTTrainer
    with pytest.raises(ConfigError, match="cannot train on a instruction pool") as err:
        _trainer_for_task(LogRegTrainer, "logreg", {"C": 2.0}, "instruction")
    assert err.value.key == "evaluate.trainer"
    with pytest.raises(ConfigError, match="cannot train on a text pool"):
        _trainer_for_task(LoRASFTTrainer, "lora_sft", {}, "text")
    assert _trainer_for_task(LogRegTrainer, "logreg", {}, "text") is LogRegTrainer


def test_summarise_keeps_f1_for_classifiers():
    res = pd.DataFrame([{"budget_spec": "b", "budget": 0.1, "arm": a, "seed": 0, "n_train": 5, "f1": v,
                         "accuracy": v, "primary": "macro_f1"} for a, v in (("selected", 0.8), ("random", 0.6))])
    table = summarise(res).set_index("arm")
    assert table.loc["selected", "mean"] == 0.8 and table.loc["selected", "gain_vs_random"] == pytest.approx(0.2)
