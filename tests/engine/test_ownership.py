"""A run directory belongs to one input and one pipeline; one process at a time holds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from curata.engine.lock import run_lock
from curata.engine.pipeline import Pipeline
from curata.engine.read import Read
from curata.engine.select import Select
from curata.errors import CurataError
from curata.scorers.length import LengthScorer
from curata.selectors.random import RandomSelector
from curata.selectors.topk import TopKSelector


def pipe(path, run, hash_embedder, budget=5, force=False, selector=None):
    return Pipeline([Read(path), hash_embedder(), LengthScorer(),
                     Select(selector or RandomSelector(), budget=budget)], run_dir=run, progress=False, force=force)


@pytest.fixture
def two_pools(tmp_path, records):
    p = tmp_path / "p.jsonl"
    q = tmp_path / "q.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in records(n=30, dups=0)))
    q.write_text("".join(json.dumps(r) + "\n" for r in records(n=40, seed=5, dups=0)))
    return p, q


def test_another_input_is_refused_then_starts_clean_with_force(tmp_path, two_pools, hash_embedder):
    p, q = two_pools
    run = tmp_path / "run"
    pipe(p, run, hash_embedder).run()
    # results of the old run that the new selection must not inherit
    (run / "bandit_log.jsonl").write_text('{"arm": 0}\n')
    (run / "eval").mkdir()
    (run / "eval" / "results.jsonl").write_text('{"key": "old"}\n')
    with pytest.raises(CurataError, match=r"holds a run on another input \(pool differs.*--force.*new --out"):
        pipe(q, run, hash_embedder).run()
    assert (run / "eval" / "results.jsonl").exists()  # a refusal touches nothing
    res = pipe(q, run, hash_embedder, force=True).run()
    assert not (run / "bandit_log.jsonl").exists() and not (run / "eval").exists()
    assert res.accounting["records_in"] == 40
    assert any(n.startswith("--force:") and "another input" in n for n in res.notes)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accounting"]["records_in"] == 40 and summary["notes"][0].startswith("--force:")


def test_other_settings_are_refused_then_reuse_matching_stages(tmp_path, two_pools, hash_embedder):
    p, _ = two_pools
    run = tmp_path / "run"
    pipe(p, run, hash_embedder, budget=5).run()
    (run / "eval").mkdir()
    with pytest.raises(CurataError, match="other settings"):
        pipe(p, run, hash_embedder, budget=6).run()
    res = pipe(p, run, hash_embedder, budget=6, force=True).run()
    assert not (run / "eval").exists()
    assert res.timings["length"]["cached"] and not res.timings["select"]["cached"]
    assert res.accounting["selected"] == 6


def test_the_same_run_resumes_without_force(tmp_path, two_pools, hash_embedder):
    p, _ = two_pools
    run = tmp_path / "run"
    first = pipe(p, run, hash_embedder).run()
    (run / "eval").mkdir()
    again = pipe(p, run, hash_embedder).run()
    assert again.timings["select"]["cached"] and again.selected_ids == first.selected_ids
    assert (run / "eval").exists() and not any(n.startswith("--force") for n in again.notes)


def test_a_directory_of_other_files_is_never_written_into(tmp_path, two_pools, hash_embedder):
    p, _ = two_pools
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    for force in (False, True):
        with pytest.raises(CurataError, match="not a curata run directory.*thesis.tex"):
            pipe(p, mine, hash_embedder, force=force).run()
    assert (mine / "thesis.tex").read_text() == "precious" and sorted(os.listdir(mine)) == ["thesis.tex"]


def test_a_run_without_a_record_needs_force(tmp_path, two_pools, hash_embedder):
    p, _ = two_pools
    run = tmp_path / "run"
    pipe(p, run, hash_embedder).run()
    (run / "run.json").unlink()  # as left by an older curata
    with pytest.raises(CurataError, match="not recorded"):
        pipe(p, run, hash_embedder).run()
    assert pipe(p, run, hash_embedder, force=True).run().accounting["records_in"] == 30


@pytest.mark.parametrize("make", ["file", "under_file"])
def test_out_that_cannot_be_a_directory(tmp_path, two_pools, hash_embedder, make):
    p, _ = two_pools
    f = tmp_path / "taken"
    f.write_text("x")
    out = f if make == "file" else f / "run"
    with pytest.raises(CurataError, match="is a file|cannot create the run directory"):
        pipe(p, out, hash_embedder).run()


HOLDER = textwrap.dedent("""
    import sys, time
    from curata.engine.lock import run_lock
    with run_lock(sys.argv[1], "test"):
        open(sys.argv[2], "w").write("held")
        time.sleep(60)
""")


def _hold(run, tmp_path):
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run), str(ready)])
    for _ in range(300):
        if ready.exists():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the lock holder did not start")


def test_a_second_process_is_refused_and_a_killed_holder_is_taken_over(tmp_path, two_pools, hash_embedder,
                                                                       caplog):
    p, _ = two_pools
    run = tmp_path / "run"
    run.mkdir()
    proc = _hold(run, tmp_path)
    try:
        with pytest.raises(CurataError, match=rf"in use by another curata process \(pid {proc.pid}"):
            pipe(p, run, hash_embedder).run()
    finally:
        proc.kill()
        proc.wait()
    with caplog.at_level("INFO", logger="curata"):
        res = pipe(p, run, hash_embedder).run()
    assert res.accounting["records_in"] == 30
    assert f"taking over the lock left by a killed run (pid {proc.pid})" in caplog.text
    assert (run / ".lock").read_text() == ""  # released: nobody holds it


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    with run_lock(tmp_path, "outer"):
        with run_lock(tmp_path, "inner"):
            pass
        assert json.loads((tmp_path / ".lock").read_text())["what"] == "outer"


def test_evaluate_refuses_a_run_whose_input_changed(tmp_path, two_pools, hash_embedder):
    from curata.engine.ownership import check_inputs

    p, _ = two_pools
    run = tmp_path / "run"
    pl = pipe(p, run, hash_embedder, selector=TopKSelector(by="length"))
    pl.run()
    check_inputs(run, pl.identity()[0])  # unchanged: fine
    with open(p, "a") as fh:
        fh.write(json.dumps({"id": "late", "text": "added after the run", "label": "billing"}) + "\n")
    with pytest.raises(CurataError, match="input changed since it was made"):
        check_inputs(run, pipe(p, run, hash_embedder).identity()[0])
