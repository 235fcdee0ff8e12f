"""The proof loop on the shipped example: arms, equal training sizes, stored results, and resuming."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curata.engine.evaluate import evaluate_run
from curata.errors import ConfigError, CurataError


@pytest.fixture(scope="module")
def evaluated(example_run, tmp_path_factory, example):
    import shutil

    run = tmp_path_factory.mktemp("evaluate") / "run"
    shutil.copytree(example_run, run)
    table = evaluate_run(run, example / "test.jsonl", budgets=["0.1", "0.25"], seeds=2, progress=False)
    return run, table


def test_results_table(evaluated):
    _, table = evaluated
    assert sorted(set(zip(table["budget_spec"], table["arm"]))) == [
        ("0.1 of the pool", "random"), ("0.1 of the pool", "random_label_mix"), ("0.1 of the pool", "selected"),
        ("0.25 of the pool", "random"), ("0.25 of the pool", "random_label_mix"), ("0.25 of the pool", "selected"),
        ("1 of the pool", "full")]
    for spec, n in (("0.1 of the pool", 60), ("0.25 of the pool", 150)):
        rows = table[table["budget_spec"] == spec].set_index("arm")
        assert rows.loc["selected", "n_train"] == rows.loc["random", "n_train"] == n
        assert rows.loc["random_label_mix", "n_train"] == n
        assert rows.loc["selected", "n"] == rows.loc["random", "n"] == 2
        assert rows.loc["selected", "gain_vs_random"] == pytest.approx(
            rows.loc["selected", "mean"] - rows.loc["random", "mean"])
    full = table[table["arm"] == "full"].iloc[0]
    assert full["n_train"] == 600 and full["budget"] == 1.0 and not np.isfinite(full["gain_vs_random"])
    for col in ("mean", "acc_mean"):
        assert table[col].between(0, 1).all()
    assert (table["std"] >= 0).all() and set(table["metric"]) == {"macro_f1"}
    # a logistic regression on MiniLM embeddings of the whole pool is far better than chance (4 labels)
    assert full["acc_mean"] > 0.7
    assert table["budget"].is_monotonic_increasing


def test_results_are_stored(evaluated, example):
    run, table = evaluated
    results = pd.read_parquet(run / "eval" / "results.parquet")
    from curata.train.logreg import LogRegTrainer

    n_full = 1 if getattr(LogRegTrainer, "deterministic", False) else 2  # else one full model per seed
    assert len(results) == 2 * 3 * 2 + n_full  # budgets × arms × seeds + full
    assert (results["arm"] == "full").sum() == n_full
    assert {"budget", "arm", "seed", "n_train", "accuracy", "macro_f1", "f1", "primary"} <= set(results)
    for m in ("accuracy", "macro_f1", "f1"):
        assert results[m].between(0, 1).all()
    sizes = results.groupby(["budget_spec", "seed"])["n_train"].nunique().drop("1 of the pool", level=0)
    assert (sizes == 1).all()
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert summary["seeds"] == 2 and summary["primary"] == "macro_f1"
    assert summary["test"]["records"] == 300 and summary["test"]["rejected"] == 0
    import hashlib
    assert summary["test"]["sha256"] == hashlib.sha256((example / "test.jsonl").read_bytes()).hexdigest()
    assert len(summary["table"]) == len(table)
    lines = (run / "eval" / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(results)


def test_selected_arm_trains_on_the_run_selection(evaluated):
    """At the run's own budget and seed, the selected arm is exactly the run's selection."""
    run, _ = evaluated
    records = pd.read_parquet(run / "records.parquet")
    results = pd.read_parquet(run / "eval" / "results.parquet")
    row = results[(results["arm"] == "selected") & (results["budget_spec"] == "0.1 of the pool")
                  & (results["seed"] == 0)].iloc[0]
    assert row["n_train"] == int(records["selected"].sum()) == 60


def test_second_call_resumes_without_training(evaluated, example, monkeypatch):
    run, table = evaluated
    from curata.train.base import Trainer

    def no_training(self, *a, **k):
        raise AssertionError("retrained a model that was already evaluated")

    monkeypatch.setattr(Trainer, "fit", no_training)
    again = evaluate_run(run, example / "test.jsonl", budgets=["0.1", "0.25"], seeds=2, progress=False)
    pd.testing.assert_frame_equal(again, table)
    # a subset of the budgets is answered from the same results
    part = evaluate_run(run, example / "test.jsonl", budgets=["0.25"], seeds=1, progress=False)
    assert list(zip(part["budget_spec"], part["arm"], part["n_train"], part["n"])) == [
        ("0.25 of the pool", "random", 150, 1), ("0.25 of the pool", "random_label_mix", 150, 1),
        ("0.25 of the pool", "selected", 150, 1), ("1 of the pool", "full", 600, 1)]


def test_errors(example_run, copy_run, example, tmp_path):
    with pytest.raises(CurataError, match="no config.yaml"):
        evaluate_run(tmp_path, example / "test.jsonl", budgets=["0.1"], seeds=1)
    run = copy_run(example_run)
    with pytest.raises(ConfigError) as err:
        evaluate_run(run, example / "test.jsonl", budgets=["700"], seeds=1, progress=False)
    assert err.value.key == "budgets" and "larger than the pool" in err.value.problem
    with pytest.raises(ConfigError) as err:
        evaluate_run(run, example / "test.jsonl", budgets=["0.1"], seeds=1, trainer={"name": "svm"})
    assert err.value.key == "evaluate.trainer"


def test_a_results_line_torn_by_a_kill_is_trained_again(evaluated, example, copy_run, monkeypatch):
    """A kill while appending leaves half a line: the evaluation resumes, retraining only that model."""
    run = copy_run(evaluated[0])
    results = run / "eval" / "results.jsonl"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])  # the last record cut mid-write
    from curata.train.base import Trainer

    fits = []
    real_fit = Trainer.fit

    def counting_fit(self, *a, **k):
        fits.append(1)
        return real_fit(self, *a, **k)

    monkeypatch.setattr(Trainer, "fit", counting_fit)
    table = evaluate_run(run, example / "test.jsonl", budgets=["0.1", "0.25"], seeds=2, progress=False)
    assert len(fits) == 1
    pd.testing.assert_frame_equal(table, evaluated[1])
    again = evaluate_run(run, example / "test.jsonl", budgets=["0.1", "0.25"], seeds=2, progress=False)
    assert len(fits) == 1  # the retrained model's line was stored readably after the torn one
    pd.testing.assert_frame_equal(again, evaluated[1])


def test_another_test_set_is_never_answered_from_the_first_ones_results(evaluated, example, copy_run, tmp_path):
    """The same run against test A, then test B: B's numbers are B's (nothing is read from A's results)."""
    run = copy_run(evaluated[0])
    rows = [json.loads(line) for line in (example / "test.jsonl").read_text().splitlines() if line.strip()]
    labels = sorted({r["label"] for r in rows})
    rotated = [{**r, "label": labels[(labels.index(r["label"]) + 1) % len(labels)]} for r in rows]
    test_b = tmp_path / "test_b.jsonl"
    test_b.write_text("".join(json.dumps(r) + "\n" for r in rotated))
    a = evaluate_run(run, example / "test.jsonl", budgets=["0.1"], seeds=1, progress=False)
    b = evaluate_run(run, test_b, budgets=["0.1"], seeds=1, progress=False)
    # every label is wrong in B, so every model scores (far) lower there
    assert (b.set_index(["budget_spec", "arm"])["acc_mean"] < a.set_index(["budget_spec", "arm"])["acc_mean"]
            - 0.3).all()
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert summary["test"]["path"] == str(test_b)
    again = evaluate_run(run, example / "test.jsonl", budgets=["0.1"], seeds=1, progress=False)
    pd.testing.assert_frame_equal(again, a)  # A's own results still answer A


def test_a_changed_trainer_parameter_is_a_new_model(evaluated, example, copy_run, monkeypatch):
    run = copy_run(evaluated[0])
    from curata.train.base import Trainer

    fits = []
    real_fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
    evaluate_run(run, example / "test.jsonl", budgets=["0.1"], seeds=1, trainer={"name": "logreg", "C": 0.01},
                 progress=False)
    assert len(fits) == 4  # selected, random, label mix, full: none of the C=3 models stands in for C=0.01


def test_bad_arguments_are_one_line_errors(example_run, copy_run, example, tmp_path):
    from curata.errors import InputError

    run = copy_run(example_run)
    with pytest.raises(InputError, match="test set not found"):
        evaluate_run(run, tmp_path / "missing.jsonl", budgets=["0.1"], seeds=1)
    with pytest.raises(ConfigError, match="seeds.*at least 1"):
        evaluate_run(run, example / "test.jsonl", budgets=["0.1"], seeds=0)
    wrong = tmp_path / "wrong_fields.jsonl"
    wrong.write_text('{"body": "hello", "label": "billing"}\n')
    with pytest.raises(InputError) as err:
        evaluate_run(run, wrong, budgets=["0.1"], seeds=1, progress=False)
    assert "run's field mapping (text_field='text', label_field='label')" in str(err.value)
    assert "--text-field" not in str(err.value)


def test_the_label_mix_arm_draws_random_records_with_the_selections_label_counts(evaluated):
    run, _ = evaluated
    rec = pd.read_parquet(run / "records.parquet")
    from curata.engine.budget import Budget
    from curata.engine.evaluate import label_mix_arm
    from curata.pool import Pool

    acc = rec[rec["status"] != "rejected"].reset_index(drop=True)
    pool = Pool(df=acc, label_names=sorted(acc["label"].unique()))
    chosen = np.flatnonzero(acc["selected"].to_numpy())
    arm = label_mix_arm(pool, lambda b, s: chosen)
    rows = arm(Budget("fraction", 0.1), 0)
    assert acc["label"].iloc[rows].value_counts().to_dict() == acc["label"].iloc[chosen].value_counts().to_dict()
    assert len(set(rows.tolist()) - set(chosen.tolist())) > len(rows) // 2  # random, not the selection
    assert not np.array_equal(rows, arm(Budget("fraction", 0.1), 1))  # seeded per evaluation seed
