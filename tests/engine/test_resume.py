"""A run killed with SIGKILL during embedding resumes: finished chunks and stages are reused, the result
equals an uninterrupted run's, and nothing half-written is left where a reader would take it for output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.engine.atomic import write_json

SCRIPT = textwrap.dedent('''
    import hashlib, os, sys, time
    import numpy as np
    from curata.cluster.kmeans import KMeansClusterer
    from curata.dedup.exact import ExactDuplicateScorer
    from curata.embed.base import Embedder, normalise
    from curata.engine.pipeline import Pipeline
    from curata.engine.read import Read
    from curata.engine.select import ExcludeRule, Select
    from curata.scorers.length import LengthScorer
    from curata.scorers.nn_sim import NearestNeighbourScorer
    from curata.selectors.cluster_balanced import ClusterBalancedSelector

    HANG_AT = int(os.environ.get("HANG_AT_CALL", "0"))

    class SlowHash(Embedder):
        """Hashed bag of words; on call HANG_AT it stops for good (the test kills it there)."""
        name = "slowhash"
        calls = 0

        def encode(self, texts):
            SlowHash.calls += 1
            if SlowHash.calls == HANG_AT:
                time.sleep(600)
            out = np.full((len(texts), 48), 1e-3, dtype=np.float32)
            for i, t in enumerate(texts):
                for w in t.lower().split():
                    out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 48] += 1.0
            return normalise(out)

    pool, out = sys.argv[1], sys.argv[2]
    Pipeline([Read(pool), SlowHash(), LengthScorer(), ExactDuplicateScorer(), NearestNeighbourScorer(k=4),
              KMeansClusterer(k=8),
              Select(ClusterBalancedSelector(by="knn_dist:1"), budget=0.1,
                     exclude=[ExcludeRule("exact_dup_score > 0", "copy of {exact_dup_of}")])],
             run_dir=out, seed=3, progress=False).run()
''')

CHUNK = 100


def start(script: Path, pool: Path, out: Path, hang_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "CURATA_EMBED_CHUNK": str(CHUNK), "HANG_AT_CALL": str(hang_at)}
    return subprocess.Popen([sys.executable, str(script), str(pool), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def chunks(run: Path) -> list[Path]:
    return sorted(run.glob("cache/embeddings/*/chunk-*.npz"))


def leftovers(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if ".tmp" in p.name]


def test_killed_run_resumes_to_the_same_result(tmp_path, example):
    script = tmp_path / "run_pipeline.py"
    script.write_text(SCRIPT)
    pool = example / "pool.jsonl"
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    ref_proc = start(script, pool, reference)  # uninterrupted, in parallel
    proc = start(script, pool, killed, hang_at=3)
    deadline = time.monotonic() + 120
    try:
        while len(chunks(killed)) < 2:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the embedding never got going"
            time.sleep(0.02)
        assert proc.poll() is None  # still embedding (third chunk)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    # what the kill left: two complete chunks, the finished read stage, no outputs, nothing half-written
    done = chunks(killed)
    assert len(done) == 2
    for c in done:
        with np.load(c) as z:
            assert z["keys"].shape == (CHUNK, 20) and z["vecs"].shape == (CHUNK, 48)
    assert json.loads((killed / "stages" / "00-read-pool" / "done.json").read_text())["key"]
    assert sorted(p.name for p in (killed / "stages").iterdir()) == ["00-read-pool"]
    for name in ("records.parquet", "summary.json", "selected.jsonl", "rejected.jsonl"):
        assert not (killed / name).exists()
    assert leftovers(killed) == []

    # resume
    finish(start(script, pool, killed))
    finish(ref_proc)
    summary = json.loads((killed / "summary.json").read_text())
    embed = summary["timings"]["embed"]
    assert embed["unique"] == 588 and embed["encoded"] == 588 - 2 * CHUNK
    assert summary["timings"]["read-pool"]["cached"] is True
    ref_summary = json.loads((reference / "summary.json").read_text())
    assert ref_summary["timings"]["embed"]["encoded"] == 588
    assert summary["accounting"] == ref_summary["accounting"]
    assert summary["accounting"]["selected"] == 60

    got, want = pd.read_parquet(killed / "records.parquet"), pd.read_parquet(reference / "records.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert (killed / "selected.jsonl").read_bytes() == (reference / "selected.jsonl").read_bytes()
    assert leftovers(killed) == [] and leftovers(reference) == []


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "summary.json"
    write_json(target, {"v": 1})

    class Unserialisable:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_json(target, {"v": Unserialisable()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_stage_without_its_marker_is_redone(tmp_path):
    from curata.engine.run_dir import RunDir

    rd = RunDir(tmp_path)
    cols = pd.DataFrame({"x": [1, 2]})
    rd.save_stage(1, "length", "k1", cols, 0.1)
    pd.testing.assert_frame_equal(rd.load_stage(1, "length", "k1"), cols)
    assert rd.load_stage(1, "length", "k2") is None  # another key: stale
    (tmp_path / "stages" / "01-length" / "done.json").unlink()
    assert rd.load_stage(1, "length", "k1") is None  # columns without the marker: redone
    (tmp_path / "stages" / "01-length" / "done.json").write_text('{"key": "k1", "secon')
    assert rd.load_stage(1, "length", "k1") is None  # a torn marker is no marker
