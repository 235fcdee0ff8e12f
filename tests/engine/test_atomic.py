"""Atomic writes: the rename leaves no temporary behind, and every file curata writes honours the umask
(``0o666 & ~umask``, like ``open(path, "w")``), not ``mkstemp``'s fixed 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.embed.cache import EmbeddingCache
from curata.engine import atomic
from curata.engine.pipeline import Pipeline
from curata.engine.read import Read
from curata.engine.run_dir import RunDir
from curata.engine.select import Select
from curata.lm.base import Generation, LogLikelihood
from curata.lm.cache import LMCache
from curata.report import render_report
from curata.scorers.length import LengthScorer
from curata.selectors.random import RandomSelector

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def umask():
    """``umask(0o077)`` sets the process umask for this test; the old one is restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_everything(root: Path) -> None:
    """One file through each writer, cache and artifact kind."""
    atomic.write_text(root / "a.txt", "x")
    atomic.write_bytes(root / "b.bin", b"x")
    atomic.write_json(root / "c.json", {"a": 1})
    atomic.write_lines(root / "d.jsonl", ["{}"])
    atomic.write_parquet(root / "e.parquet", pd.DataFrame({"a": [1]}))
    atomic.write_npy(root / "f.npy", np.zeros(3))
    atomic.write_npz(root / "g.npz", a=np.zeros(3))
    run = RunDir(root / "run")
    run.save_artifact("arr", np.arange(4))
    run.save_artifact("table", pd.DataFrame({"a": [1]}))
    run.save_artifact("rows", [{"a": 1}])
    run.save_artifact("obj", {"a": 1})
    EmbeddingCache(root / "cache", "m").put([b"k" * 20], np.ones((1, 4), np.float32))
    lm = LMCache(root / "cache", "m")
    lm.put_loglikelihood([b"k" * 20], [LogLikelihood(np.zeros(2, np.float32), n_prompt_tokens=1)])
    lm.put_generation([b"k" * 20], [Generation(text="hi")])


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0o000, 0o666)])
def test_every_writer_honours_the_umask(tmp_path, umask, mask, want):
    umask(mask)
    write_everything(tmp_path)
    written = files(tmp_path)
    assert len(written) == 14
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in written} == \
        {str(p.relative_to(tmp_path)): oct(want) for p in written}


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600)])
def test_run_outputs_honour_the_umask(tmp_path, umask, hash_embedder, pool_file, mask, want):
    umask(mask)
    run = tmp_path / "run"
    Pipeline([Read(pool_file), hash_embedder(), LengthScorer(), Select(RandomSelector(), budget=5)],
             run_dir=run, progress=False).run()
    render_report(run)
    written = files(run)
    names = {p.name for p in written}
    assert {"records.parquet", "selected.jsonl", "rejected.jsonl", "summary.json", "manifest.json",
            "report.html", "columns.parquet", "done.json"} <= names
    assert {str(p.relative_to(run)): oct(mode(p)) for p in written} == \
        {str(p.relative_to(run)): oct(want) for p in written}


def test_replacing_a_file_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_numpy_helpers_write_exactly_the_given_name(tmp_path):
    atomic.write_npy(tmp_path / "a.bin", np.arange(3))
    atomic.write_npz(tmp_path / "b.bin", x=np.arange(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]
    assert np.load(tmp_path / "a.bin").tolist() == [0, 1, 2]
    with np.load(tmp_path / "b.bin") as z:
        assert z["x"].tolist() == [0, 1]


def test_the_process_umask_is_never_touched(tmp_path, umask, monkeypatch):
    """Reading the umask with os.umask would race other threads; the kernel applies it at create time."""
    umask(0o027)
    monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("os.umask called"))
    atomic.write_text(tmp_path / "x.txt", "x")
    assert mode(tmp_path / "x.txt") == 0o640
