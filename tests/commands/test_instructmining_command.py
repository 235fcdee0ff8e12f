"""``instructmining-fit`` / ``instructmining-search`` as typer commands, with a synthetic trainer in place of LoRA."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from curata.commands.instructmining import instructmining_fit, instructmining_search


@pytest.fixture
def scored_run(tmp_path, monkeypatch):
    """A run directory whose records.parquet holds instruction fields and InstructMining indicators, and a
    trainer whose eval loss grows with the subset's mean PPL and is smallest at about 40 records."""
    rng = np.random.default_rng(0)
    n = 150
    src = np.repeat(["a", "b", "c"], n // 3)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source": src, "instruction": "Do it.", "input": "",
                       "output": [f"answer {i}" for i in range(n)],
                       "im_ppl": 3 + (src == "b") + 2 * (src == "c") + rng.normal(0, 0.3, n),
                       "im_len_out": rng.poisson(10, n).astype(float)})
    run = tmp_path / "run"
    run.mkdir()
    df.to_parquet(run / "records.parquet")
    (tmp_path / "eval.jsonl").write_text(json.dumps({"instruction": "Do it.", "output": "done"}) + "\n")
    calls = []

    def fake_lora_train_fn(frame, evals, trainer, run_dir=None, tag="fit"):
        assert len(evals) == 1 and run_dir == run and trainer["max_length"] == 64

        def train(rows, seed):
            calls.append((tag, len(rows)))
            ppl = frame["im_ppl"].to_numpy()[rows].mean()
            return {"loss": math.exp(0.1 * ppl + 0.05 * (math.log(len(rows)) - math.log(40)) ** 2)}
        return train

    monkeypatch.setattr("curata.value.instructmining_fit.lora_train_fn", fake_lora_train_fn)
    app = typer.Typer()
    app.command("instructmining-fit")(instructmining_fit)
    app.command("instructmining-search")(instructmining_search)
    return run, tmp_path / "eval.jsonl", app, calls


def test_fit_then_search_from_the_command_line(scored_run):
    run, evals, app, calls = scored_run
    runner = CliRunner()
    res = runner.invoke(app, ["instructmining-fit", str(run), "--eval", str(evals), "--subsets", "10", "--size",
                              "30", "--max-length", "64", "--quiet"])
    assert res.exit_code == 0, res.output
    rule = json.loads((run / "instructmining" / "rule.json").read_text())
    assert rule["selected"] == ["im_ppl"] and rule["n_subsets"] == 10 and calls == [("fit", 30)] * 10
    assert "im_ppl" in res.output and "written:" in res.output
    res = runner.invoke(app, ["instructmining-search", str(run), "--eval", str(evals), "--k-min", "10",
                              "--trials", "8", "--max-length", "64", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "instructmining" / "search.json").read_text())
    assert summary["ranked_by"].endswith("rule.json") and summary["k_max"] == 150
    assert len((run / "instructmining" / "search.jsonl").read_text().splitlines()) == 8
    assert 15 <= summary["best_k"] <= 100 and "best k =" in res.output


def test_search_without_a_rule_or_score_fails_clearly(scored_run):
    run, evals, app, _ = scored_run
    res = CliRunner().invoke(app, ["instructmining-search", str(run), "--eval", str(evals), "--quiet"])
    assert res.exit_code != 0 and "no rule" in str(res.exception)
