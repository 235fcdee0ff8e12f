"""What a new user met in the first hour (issue 7): one-line errors, checks before the slow stages, the
label-free path of the default recipe, quiet and deduplicated console output, --version, reused run
directories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from curata import __version__


def one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return lines[-1]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_version(cli):
    assert cli("--version").stdout.strip() == f"curata {__version__}"


def test_out_naming_an_existing_file(tmp_path, cli, example):
    f = tmp_path / "taken.txt"
    f.write_text("mine")
    err = one_line(cli("select", example / "pool.jsonl", "--out", f, check=False))
    assert err == f"error: run directory {f} is a file, not a directory — choose another --out"
    assert f.read_text() == "mine"


def test_out_where_no_directory_can_be_made(tmp_path, cli, example):
    f = tmp_path / "taken.txt"
    f.write_text("mine")
    err = one_line(cli("select", example / "pool.jsonl", "--out", f / "run", check=False))
    assert err.startswith(f"error: cannot create the run directory {f / 'run'}: ")
    err = one_line(cli("select", example / "pool.jsonl", "--out", "/proc/curata-run", check=False))
    assert err.startswith("error: cannot create the run directory /proc/curata-run: ")


def test_report_that_cannot_be_written(example_run, copy_run, cli):
    run = copy_run(example_run)
    (run / "report.html").unlink()
    (run / "report.html").mkdir()  # stands in for a run directory the user may not write to
    err = one_line(cli("report", run, check=False))
    assert err.startswith("error: ") and "report.html" in err


def test_evaluate_bad_arguments(example_run, copy_run, cli, tmp_path, example):
    run = copy_run(example_run)
    err = one_line(cli("evaluate", run, "--test", tmp_path / "nope.jsonl", check=False))
    assert err == f"error: {tmp_path / 'nope.jsonl'}: test set not found — give the labelled test split with --test"
    proc = cli("evaluate", run, "--test", example / "test.jsonl", "--seeds", "0", check=False)
    assert proc.returncode == 2 and "--seeds" in proc.stderr and "Traceback" not in proc.stderr


def test_a_token_budget_beyond_the_pool_fails_before_embedding(tmp_path, cli, example):
    err = one_line(cli("select", example / "pool.jsonl", "--budget", "2000000tok", "--out", tmp_path / "r",
                       check=False))
    assert re.match(r"error: config `select.budget`: budget of 2,000,000 tokens is larger than the pool "
                    r"\([\d,]+ whitespace tokens in 600 usable records\)", err), err
    assert not (tmp_path / "r" / "cache" / "embeddings").exists()


UNLABELLED = [{"id": f"u{i}", "text": t} for i, t in enumerate(
    ["my card was charged twice this month", "the parcel never arrived at my address",
     "the app crashes when I log in", "how do I get a refund for my plan", "tracking shows late delivery",
     "firmware update broke wifi again", "invoice shows the wrong tax", "courier left the box outside"] * 3)]


def test_the_default_recipe_takes_the_label_free_path(tmp_path, cli):
    pool = write(tmp_path / "unlabelled.jsonl", UNLABELLED)
    proc = cli("select", pool, "--budget", "4", "--out", tmp_path / "r", "--no-report")
    assert "the pool has no labels: recipe balanced takes its label-free path" in proc.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["accounting"]["selected"] == 4
    assert summary["selector"]["describe"].startswith("facility location")
    rec = pd.read_parquet(tmp_path / "r" / "records.parquet")
    # the 24 records are 3 copies of 8 texts: exact duplicates go first
    assert rec["exclude_rule"].eq("exact_dup_score > 0").sum() == 16


INSTRUCTIONS = [{"instruction": f"Say something about topic {i}.", "output": f"Topic {i} is interesting because "
                 f"{'reasons ' * (i % 5 + 1)}."} for i in range(12)]


def test_the_default_recipe_on_an_instruction_pool(tmp_path, cli):
    pool = write(tmp_path / "instr.jsonl", INSTRUCTIONS)
    proc = cli("select", pool, "--budget", "3", "--out", tmp_path / "r", "--no-report")
    assert "label-free path" in proc.stderr
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["task"] == "instruction"


@pytest.mark.parametrize("recipe, problem", [
    ("quality", "config `scorers.proxy`: the pool has no labels"),
    ("clean", "config `scorers.proxy`: the pool has no labels"),
    ("value", "config `scorers.knn_shapley`: the pool has no labels"),
    ("target", "config `scorers.target_sim`: no target set was given (--target)"),
    ("bandit", "config `select.selector.reward`: needs the column 'proxy_prob', which no scorer in this pipeline "
               "writes"),
])
def test_recipes_that_cannot_work_are_refused_before_embedding(tmp_path, cli, recipe, problem):
    pool = write(tmp_path / "unlabelled.jsonl", UNLABELLED)
    err = one_line(cli("select", pool, "--recipe", recipe, "--out", tmp_path / "r", check=False))
    assert err.startswith(f"error: {problem}"), err
    assert not (tmp_path / "r" / "cache").exists()  # nothing was embedded


def test_stratifying_an_unlabelled_pool_is_refused_before_embedding(tmp_path, cli):
    pool = write(tmp_path / "unlabelled.jsonl", UNLABELLED)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {pool}\nscorers: [length]\nselect:\n  selector: {{name: stratified}}\n"
                   f"out: {tmp_path / 'r'}\n")
    err = one_line(cli("run", cfg, check=False))
    assert err.startswith("error: config `select.selector.column`: the pool has no labels to stratify by")
    assert not (tmp_path / "r" / "cache").exists()


def test_an_exclude_rule_naming_a_column_no_scorer_writes(tmp_path, cli, example):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {example / 'pool.jsonl'}\nscorers: [length]\nselect:\n  exclude:\n"
                   f"    - {{when: 'exact_dup_score > 0'}}\nout: {tmp_path / 'r'}\n")
    err = one_line(cli("run", cfg, check=False))
    assert err.startswith("error: config `select.exclude[0].when`: names column(s) ['exact_dup_score'] that no "
                          "scorer in this pipeline writes — add the `exact_dup` scorer"), err
    assert not (tmp_path / "r" / "cache").exists()


def test_console_output_is_quiet_and_says_each_note_once(example_run):
    """The shared example run went through the console script with stderr a pipe, not a terminal."""
    err = (example_run.parent / "stderr.txt").read_text()
    for noise in ("FutureWarning", "Loading faiss", "AVX", "SentenceTransformer", "Traceback", "\r"):
        assert noise not in err, noise
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert notes and len(notes) == len(set(notes))
    summary = json.loads((example_run / "summary.json").read_text())
    for note in summary["notes"]:
        assert sum(note in ln for ln in err.splitlines()) == 1, note


def test_reusing_an_out_for_another_pool(tmp_path, cli, example):
    a = write(tmp_path / "a.jsonl", UNLABELLED)
    b = write(tmp_path / "b.jsonl", UNLABELLED[:20])
    cli("select", a, "--recipe", "random", "--budget", "3", "--out", tmp_path / "r", "--no-report")
    err = one_line(cli("select", b, "--recipe", "random", "--budget", "3", "--out", tmp_path / "r", check=False))
    assert "holds a run on another input" in err and "--force" in err
    proc = cli("select", b, "--recipe", "random", "--budget", "3", "--out", tmp_path / "r", "--no-report",
               "--force")
    assert "note: --force:" in proc.stderr
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["accounting"]["records_in"] == 20
