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

from curata.engine.atomic import atomic_path, write_json, write_lines, write_parquet


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


class RunDir:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

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
            with atomic_path(p) as tmp, open(tmp, "wb") as fh:
                np.save(fh, value)
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
