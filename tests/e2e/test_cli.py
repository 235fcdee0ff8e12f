"""The command line end to end, through the installed console script, on the shipped example.

The expensive `curata select` run is the session fixture ``example_run`` (tests/conftest.py); tests that
change a run directory work on a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import metadata

import pandas as pd
import pytest
import yaml

from curata.config import load_config, load_recipe

BAD_LINES = {57: "malformed JSON: ", 143: "empty field `text`", 288: "missing or empty label field `label`",
             401: "undecodable bytes (utf-8): byte 0xe9", 530: "expected a JSON object, got list"}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def single_error_line(proc) -> str:
    """The process failed the way a user error should: exit 2, one `error:` line, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.rstrip("\n").endswith(errors[0])  # nothing after it
    return errors[0]


# --- select ----------------------------------------------------------------------------------------------
def test_select_prints_the_accounting(example_run):
    stdout = (example_run.parent / "stdout.txt").read_text()
    assert "records in 605 = selected 60 + not selected 540 + rejected 5" in stdout
    assert f"run directory: {example_run}" in stdout and f"report: {example_run / 'report.html'}" in stdout


def test_select_writes_every_output(example_run):
    for name in ("config.yaml", "manifest.json", "summary.json", "records.parquet", "selected.jsonl",
                 "rejected.jsonl", "report.html"):
        assert (example_run / name).is_file(), name
        assert (example_run / name).stat().st_size > 0, name
    assert not [p for p in example_run.rglob("*") if ".tmp" in p.name]


def test_config_yaml_is_the_config_as_run(example_run, example):
    cfg = load_config(example_run / "config.yaml")
    recipe = load_recipe("balanced")  # the default
    assert cfg.input.path == str(example / "pool.jsonl") and cfg.target.path == str(example / "target.jsonl")
    assert cfg.select.selector.name == recipe["select"]["selector"]["name"]
    assert str(cfg.select.budget) == "0.1"
    names = [s if isinstance(s, str) else s["name"] for s in recipe["scorers"]]
    assert [s.name for s in cfg.scorers] == names
    assert cfg.seed == 0


def test_manifest_records_inputs_and_versions(example_run, example):
    man = json.loads((example_run / "manifest.json").read_text())
    pool = example / "pool.jsonl"
    assert man["inputs"]["pool"] == {"path": str(pool), "sha256": sha256(pool)}
    assert man["inputs"]["target"]["sha256"] == sha256(example / "target.jsonl")
    versions = man["versions"]
    for pkg in ("curata", "numpy", "pandas", "scikit-learn", "torch", "sentence-transformers", "faiss-cpu"):
        assert versions[pkg] == metadata.version(pkg), pkg
    assert man["seed"] == 0 and man["embedder"].startswith("sentence_transformer(model='minilm'")
    recipe = load_recipe("balanced")
    assert man["selector"].startswith(recipe["select"]["selector"]["name"] + "(")
    assert len(man["scorers"]) == len(recipe["scorers"])


def test_summary(example_run):
    s = json.loads((example_run / "summary.json").read_text())
    assert s["accounting"] == {"records_in": 605, "accepted": 600, "selected": 60, "not_selected": 540,
                               "excluded": s["accounting"]["excluded"], "rejected": 5}
    assert s["accounting"]["excluded"] >= 36  # at least the planted duplicates
    # with --target every optional scorer could run: no "skipped" notes, and confident learning reports its count
    assert not [n for n in s["notes"] if "skipped" in n]
    flagged = [n for n in s["notes"] if n.startswith("label_issues:") and "records flagged" in n]
    assert len(flagged) == 1
    assert s["labels"] == ["account", "billing", "shipping", "technical"] and s["task"] == "text"
    assert s["timings"]["embed"]["encoded"] == s["timings"]["embed"]["unique"] > 600


def test_records_parquet(example_run):
    df = pd.read_parquet(example_run / "records.parquet")
    for col in ("id", "status", "source_file", "source_line", "selected", "reason", "cluster",
                "length_score", "mtld_score", "exact_dup_score", "near_dup_score", "nn_sim_score",
                "proxy_prob_score", "knn_agreement_score", "target_sim_score"):
        assert col in df.columns, col
    assert len(df) == 605
    assert df["status"].value_counts().to_dict() == {"not_selected": 540, "selected": 60, "rejected": 5}
    assert (df["selected"] == (df["status"] == "selected")).all()
    accepted = df[df["status"] != "rejected"]
    assert accepted["reason"].notna().all() and (accepted["reason"].str.len() > 0).all()
    assert accepted["id"].is_unique and accepted["source_line"].notna().all()
    assert accepted["target_sim_score"].notna().all()
    assert not (df["selected"] & df["excluded"]).any()


def test_planted_exact_duplicates_are_excluded(example_run, example):
    df = pd.read_parquet(example_run / "records.parquet").set_index("id")
    truth = [json.loads(x) for x in (example / "pool_truth.jsonl").read_text().splitlines()]
    pairs = [(t["id"], t["duplicate_of"]) for t in truth if t["defect"] == "exact_duplicate"]
    assert len(pairs) == 12
    for a, b in pairs:
        later, first = (a, b) if df.loc[a, "source_line"] > df.loc[b, "source_line"] else (b, a)
        assert df.loc[later, "exact_dup_of"] == first
        assert df.loc[later, "reason"] == f"exact duplicate of {first}" and not df.loc[later, "selected"]


def test_selected_jsonl_is_the_selected_source_lines(example_run, example):
    df = pd.read_parquet(example_run / "records.parquet")
    src = (example / "pool.jsonl").read_bytes().split(b"\n")
    out = (example_run / "selected.jsonl").read_bytes().split(b"\n")
    assert out[-1] == b"" and len(out) - 1 == 60
    lines = sorted(int(x) for x in df.loc[df["selected"], "source_line"])
    assert sorted(out[:-1]) == sorted(src[i - 1] for i in lines)
    assert {json.loads(x)["id"] for x in out[:-1]} == set(df.loc[df["selected"], "id"])


def test_rejected_jsonl_has_the_five_bad_lines(example_run, example):
    rej = [json.loads(x) for x in (example_run / "rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rej] == sorted(BAD_LINES)
    for r in rej:
        assert r["file"] == str(example / "pool.jsonl")
        assert r["reason"].startswith(BAD_LINES[r["line"]]), r
        assert r["raw"]
    df = pd.read_parquet(example_run / "records.parquet")
    rejected = df[df["status"] == "rejected"]
    assert sorted(rejected["source_line"].astype(int)) == sorted(BAD_LINES)
    assert rejected["reason"].tolist() == [r["reason"] for r in rej]


def test_report_html_is_self_contained(example_run):
    html = (example_run / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "605" in html
    assert '<script src="http' not in html and '<link rel="stylesheet" href="http' not in html


def test_the_same_command_again_reuses_every_stage(example_run, copy_run, cli, example):
    run = copy_run(example_run)
    proc = cli("select", example / "pool.jsonl", "--target", example / "target.jsonl", "--budget", "0.1",
               "--out", run, "--no-report")
    assert "records in 605 = selected 60 + not selected 540 + rejected 5" in proc.stdout
    timings = json.loads((run / "summary.json").read_text())["timings"]
    assert all(t["cached"] for name, t in timings.items() if name != "write"), timings
    assert timings["embed"]["encoded"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(run / "records.parquet"),
                                  pd.read_parquet(example_run / "records.parquet"))
    assert (run / "selected.jsonl").read_bytes() == (example_run / "selected.jsonl").read_bytes()


# --- score -----------------------------------------------------------------------------------------------
def test_score_adds_columns_only(tmp_path, cli, example):
    out = tmp_path / "scored"
    proc = cli("score", example / "pool.jsonl", "--scorers", "length,mtld", "--out", out, "--quiet")
    assert "records in 605 = scored 600 + rejected 5" in proc.stdout
    df = pd.read_parquet(out / "records.parquet")
    assert df["status"].value_counts().to_dict() == {"scored": 600, "rejected": 5}
    assert {"length_score", "length_chars", "mtld_score"} <= set(df.columns)
    assert not [c for c in df.columns if c.startswith(("cluster", "proxy", "near_dup"))]
    assert not df["selected"].any()
    row = df[df["id"] == "p0002"].iloc[0]
    assert row["length_score"] == 13  # "MY ORDER WAS SPLIT INTO TWO SHIPMENTS AND THE SECOND ONE NEVER CAME."
    summary = json.loads((out / "summary.json").read_text())
    assert "embed" not in summary["timings"]  # nothing asked for vectors: the model is never loaded
    assert not (out / "selected.jsonl").exists()
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 5


# --- evaluate, report, inspect ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluated(example_run, tmp_path_factory, example, cli):
    """A copy of the example run after `curata evaluate --budgets 0.1 --seeds 2`."""
    run = tmp_path_factory.mktemp("cli-eval") / "run"
    shutil.copytree(example_run, run)
    (run / "report.html").unlink()
    proc = cli("evaluate", run, "--test", example / "test.jsonl", "--budgets", "0.1", "--seeds", "2",
               "--quiet")
    return run, proc


def test_evaluate(evaluated):
    run, proc = evaluated
    table = [line.split() for line in proc.stdout.splitlines()]
    assert table[0][:5] == ["budget_spec", "arm", "budget", "n_train", "n"]
    # rows read "0.1 of the pool  selected  0.1  60.0  2 ..."
    arms = {row[4]: row[6:8] for row in table[1:] if row[1:4] == ["of", "the", "pool"]}
    assert arms == {"random": ["60.0", "2"], "selected": ["60.0", "2"], "random_label_mix": ["60.0", "2"],
                    "full": ["600.0", arms["full"][1]]}
    results = pd.read_parquet(run / "eval" / "results.parquet")
    assert sorted(results["arm"].unique()) == ["full", "random", "random_label_mix", "selected"]
    sel = results[results["arm"] == "selected"]
    rnd = results[results["arm"] == "random"]
    assert sorted(sel["seed"]) == sorted(rnd["seed"]) == [0, 1]
    assert set(sel["n_train"]) == set(rnd["n_train"]) == {60}
    assert results[["accuracy", "macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (run / "eval" / "summary.json").exists()
    assert f"report: {run / 'report.html'}" in proc.stdout and (run / "report.html").exists()


def test_evaluate_trainer_params(example_run, example, cli, copy_run):
    run = copy_run(example_run)
    bad = cli("evaluate", run, "--test", example / "test.jsonl", "--trainer-params", "{epochs: 2", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: config `--trainer-params`: not JSON")
    unknown = cli("evaluate", run, "--test", example / "test.jsonl", "--trainer-params", '{"no_such": 1}',
                  "--quiet", check=False)
    assert unknown.returncode == 2 and "no_such" in unknown.stderr  # the params reach the trainer's validation
    cli("evaluate", run, "--test", example / "test.jsonl", "--budgets", "0.1", "--seeds", "1", "--no-full",
        "--trainer-params", '{"C": 0.5}', "--no-report", "--quiet")
    results = pd.read_parquet(run / "eval" / "results.parquet")
    assert results["trainer"].str.contains("C=0.5").all(), results["trainer"].iloc[0]


def test_report(evaluated, example_run, cli):
    run, _ = evaluated
    (run / "report.html").unlink()
    proc = cli("report", run)
    assert proc.stdout.strip() == str(run / "report.html")
    html = (run / "report.html").read_text()
    assert "<html" in html.lower() and 'id="learning-curves"' in html  # the evaluation is in the report
    assert 'id="learning-curves"' not in (example_run / "report.html").read_text()


def test_report_of_a_directory_that_is_not_a_run(tmp_path, cli):
    err = single_error_line(cli("report", tmp_path, check=False))
    assert err == (f"error: {tmp_path}: no records.parquet — is this a run directory? "
                   "(run `curata select` first)")


def test_inspect_with_sql(example_run, cli):
    sql = "SELECT cluster, count(*) FROM records WHERE selected GROUP BY 1"  # the README's example
    proc = cli("inspect", example_run, sql)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split() == ["cluster", "count_star()"]
    got = {int(a): int(b) for a, b in (line.split() for line in lines[1:])}
    df = pd.read_parquet(example_run / "records.parquet")
    want = df[df["selected"]].groupby("cluster").size()
    assert got == {int(k): int(v) for k, v in want.items()} and sum(got.values()) == 60


def test_inspect_rejected_and_errors(example_run, cli):
    proc = cli("inspect", example_run, "SELECT line FROM rejected ORDER BY line")
    assert [int(x) for x in proc.stdout.split()[1:]] == sorted(BAD_LINES)
    err = single_error_line(cli("inspect", example_run, "SELEC 1", check=False))
    assert err.startswith("error: inspect: Parser Error")


# --- run, recipes ----------------------------------------------------------------------------------------
def test_run_with_a_yaml_config(tmp_path, cli, example):
    out = tmp_path / "yaml-run"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "input": {"path": str(example / "pool.jsonl")},
        "scorers": ["length", "mtld", "exact_dup"],
        "select": {"budget": 25, "selector": {"name": "topk", "by": "length:1"},
                   "exclude": [{"when": "exact_dup_score > 0", "reason": "copy of {exact_dup_of}"},
                               {"when": "length_score < 3", "reason": "too short ({length_score} tokens)"}]},
        "out": str(out), "seed": 1}))
    proc = cli("run", config, "--quiet")
    assert "records in 605 = selected 25 + not selected 575 + rejected 5" in proc.stdout
    df = pd.read_parquet(out / "records.parquet")
    sel = df[df["selected"]]
    ok = df[(df["status"] != "rejected") & ~df["excluded"]]
    assert sorted(sel["length_score"], reverse=True) == sorted(ok["length_score"], reverse=True)[:25]
    short = df[df["exclude_rule"] == "length_score < 3"]
    assert len(short) > 0 and short["reason"].str.fullmatch(r"too short \(\d tokens\)").all()
    assert (df.loc[df["exclude_rule"] == "exact_dup_score > 0", "reason"].str.startswith("copy of p")).all()
    assert yaml.safe_load((out / "config.yaml").read_text())["select"]["budget"] == 25
    assert (out / "report.html").exists()
    assert not (out / "cache").exists()  # nothing needed vectors


def test_run_out_option_overrides_the_config(tmp_path, cli, example):
    config = tmp_path / "p.yaml"
    config.write_text(f"input: {example / 'pool.jsonl'}\nscorers: [length]\n"
                      f"select: {{budget: 5, selector: random}}\n")
    single = single_error_line(cli("run", config, check=False))
    assert single.startswith("error: config `out`: no run directory")
    cli("run", config, "--out", tmp_path / "o", "--no-report", "--quiet")
    assert len((tmp_path / "o" / "selected.jsonl").read_text().splitlines()) == 5


def test_recipes(cli):
    proc = cli("recipes")
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == ["balanced", "bandit", "clean", "diverse", "quality", "random", "target", "value"]
    assert all(len(line.split()) > 3 for line in proc.stdout.splitlines())  # each has a description


# --- user errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["select", "{tmp}/missing.jsonl"], "error: config `input.path`: file not found: {tmp}/missing.jsonl"),
    (["select", "{pool}", "--budget", "0"], "error: config `select.budget`: budget must be positive, got 0"),
    (["select", "{pool}", "--budget", "601"],
     "error: config `select.budget`: budget of 601 records is larger than the pool (600 usable records)"),
    (["select", "{pool}", "--recipe", "fastest"], "error: config `recipe`: unknown recipe 'fastest'"),
    (["select", "{pool}", "--selector", "best"],
     "error: config `select.selector.name`: unknown selector 'best'"),
    (["score", "{pool}", "--scorers", "length,lenght"],
     "error: config `scorers[1].name`: unknown scorer 'lenght'"),
    (["select", "{pool}", "--strict"], "error: {pool}:57: malformed JSON"),
    (["evaluate", "{tmp}", "--test", "{pool}"], "error: {tmp}: no config.yaml"),
])
def test_bad_arguments_exit_2_with_one_error_line(tmp_path, cli, example, args, expected):
    fill = {"tmp": str(tmp_path), "pool": str(example / "pool.jsonl")}
    args = [a.format(**fill) for a in args]
    if args[0] in ("select", "score"):
        args += ["--out", str(tmp_path / "out")]
    err = single_error_line(cli(*args, check=False))
    assert err.startswith(expected.format(**fill)), err
    assert not (tmp_path / "out" / "records.parquet").exists()
