"""The run directory: config as run, input hashes, caches, per-stage outputs with completion markers.

Layout (a public interface; see docs/run-directory.md):
    config.yaml  manifest.json  summary.json  records.parquet  selected.jsonl  rejected.jsonl  report.html
    cache/       content-keyed caches (embeddings)
    stages/NN-name/{columns.parquet, done.json}   finished stages; a run resumes from these
    artifacts/   arrays and tables stages keep (e.g. out-of-fold probabilities, bandit log)
    eval/        results of `curata evaluate`
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curata.engine.atomic import write_json, write_lines, write_npy, write_parquet
from curata.errors import CurataError


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def files_sha256(files, root: str | os.PathLike | None = None, chunk: int = 1 << 20) -> str:
    """One hash over several files in the given order (a directory of shards, a glob): each file's name
    (relative to ``root`` when under it) and the hash of its content, so renaming, reordering, adding or
    changing a shard all change it."""
    h = hashlib.sha256()
    for f in map(Path, files):
        try:
            name = f.relative_to(root).as_posix() if root is not None else f.as_posix()
        except ValueError:
            name = f.as_posix()
        h.update(f"{name}\0{file_sha256(f, chunk)}\n".encode())
    return h.hexdigest()


class RunDir:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise CurataError(f"run directory {self.root} is a file, not a directory — choose another --out")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CurataError(f"cannot create the run directory {self.root}: {e.strerror} — choose an --out "
                              "you can write to") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise CurataError(f"run directory {self.root} is not writable — choose an --out you can write to")

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def path(self, name: str) -> Path:
        return self.root / name

    # stages -------------------------------------------------------------------------------------------
    def _stage_dir(self, idx: int, name: str) -> Path:
        return self.root / "stages" / f"{idx:02d}-{name}"

    def load_stage(self, idx: int, name: str, key: str) -> pd.DataFrame | None:
        d = self._stage_dir(idx, name)
        done = d / "done.json"
        if not done.exists():
            return None
        try:
            meta = json.loads(done.read_text())
        except json.JSONDecodeError:
            return None
        if meta.get("key") != key or not (d / "columns.parquet").exists():
            return None
        return pd.read_parquet(d / "columns.parquet")

    def stage_meta(self, idx: int, name: str) -> dict:
        done = self._stage_dir(idx, name) / "done.json"
        return json.loads(done.read_text()) if done.exists() else {}

    def begin_stage(self, idx: int, name: str) -> None:
        """About to compute a stage: drop its old marker first, so a kill midway cannot leave the old marker
        beside new artifacts."""
        done = self._stage_dir(idx, name) / "done.json"
        if done.exists():
            done.unlink()

    def save_stage(self, idx: int, name: str, key: str, columns: pd.DataFrame, seconds: float,
                   extra: dict | None = None) -> None:
        d = self._stage_dir(idx, name)
        write_parquet(d / "columns.parquet", columns)
        # the marker is written last: a stage without it is redone
        write_json(d / "done.json", {"key": key, "seconds": round(seconds, 3), "finished_at": time.time(),
                                     **(extra or {})})

    # artifacts ----------------------------------------------------------------------------------------
    def save_artifact(self, name: str, value: Any) -> Path:
        base = self.root / "artifacts"
        if isinstance(value, np.ndarray):
            p = base / f"{name}.npy"
            write_npy(p, value)
        elif isinstance(value, pd.DataFrame):
            p = base / f"{name}.parquet"
            write_parquet(p, value)
        elif isinstance(value, list) and (not value or isinstance(value[0], dict)):
            p = base / f"{name}.jsonl"
            write_lines(p, (json.dumps(v, default=str) for v in value))
        else:
            p = base / f"{name}.json"
            write_json(p, value)
        return p

    def load_artifact(self, name: str) -> Any:
        base = self.root / "artifacts"
        for ext in (".npy", ".parquet", ".jsonl", ".json"):
            p = base / f"{name}{ext}"
            if p.exists():
                if ext == ".npy":
                    return np.load(p)
                if ext == ".parquet":
                    return pd.read_parquet(p)
                if ext == ".jsonl":
                    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
                return json.loads(p.read_text())
        return None
