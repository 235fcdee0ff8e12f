"""Session-wide setup: offline models, a private CURATA_HOME, and one real run of the shipped example.

The example run (``curata select`` through the console script, MiniLM, the default recipe, ``--target``)
is the expensive fixture: the engine's evaluate tests and the end-to-end CLI tests share it and copy
it before changing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.pool import Pool, natural_sorted

os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported, so set before any test imports it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "support-tickets"
#: the five lines of the example pool that must be rejected (see its README)
EXAMPLE_BAD_LINES = [57, 143, 288, 401, 530]


@pytest.fixture(scope="session", autouse=True)
def _private_curata_home(tmp_path_factory):
    """Distilled static models and other per-user caches go to a temp dir, never the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CURATA_HOME", str(tmp_path_factory.mktemp("curata_home")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()


def curata_command() -> list[str]:
    script = Path(sys.executable).parent / "curata"
    return [str(script)] if script.exists() else [sys.executable, "-m", "curata.cli"]


def run_cli(*args, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real console script; ``check`` asserts exit code 0 and shows stderr otherwise."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([*curata_command(), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check:
        command = " ".join(map(str, args))
        assert proc.returncode == 0, f"curata {command} exited {proc.returncode}:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def example():
    return EXAMPLE


@pytest.fixture(scope="session")
def cli():
    """``cli("select", ..., check=False)`` → CompletedProcess of the real console script."""
    return run_cli


@pytest.fixture(scope="session")
def example_run(tmp_path_factory) -> Path:
    """``curata select pool.jsonl --target target.jsonl --budget 0.1`` on the shipped example. Read-only."""
    out = tmp_path_factory.mktemp("example") / "run"
    proc = run_cli("select", EXAMPLE / "pool.jsonl", "--target", EXAMPLE / "target.jsonl", "--budget", "0.1",
                   "--out", out)
    (out.parent / "stdout.txt").write_text(proc.stdout)
    (out.parent / "stderr.txt").write_text(proc.stderr)
    return out


@pytest.fixture
def copy_run(tmp_path):
    """``copy_run(run)`` → a private copy of a run directory (its caches included) to modify."""

    def _copy(run: Path, name: str = "run") -> Path:
        dest = tmp_path / name
        shutil.copytree(run, dest)
        return dest

    return _copy


# --- synthetic pools for operator tests (scorers, dedup, cluster): built directly, no embedder -----------
def build_pool(texts=None, embeddings=None, labels=None, task="text", features=None, **columns) -> Pool:
    n = len(texts) if texts is not None else len(embeddings)
    texts = list(texts) if texts is not None else [f"record {i}" for i in range(n)]
    df = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "source_file": ["synthetic.jsonl"] * n,
        "source_line": np.arange(1, n + 1),
        "text": texts,
        "label": list(labels) if labels is not None else [None] * n,
        "raw": [""] * n,
        **columns,
    })
    emb = None
    if embeddings is not None:
        emb = np.asarray(embeddings, dtype=np.float32)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    names = natural_sorted([v for v in labels if v is not None]) if labels is not None else None
    return Pool(df=df, task=task, label_names=names, embeddings=emb,
                features=emb if features is None else np.asarray(features, dtype=np.float32))


@pytest.fixture
def make_pool():
    return build_pool


@pytest.fixture
def ctx():
    return RunContext(seed=0, progress=False)
