"""A run directory belongs to one input and one pipeline; ``run.json`` says which.

Reusing a directory for another input or another pipeline is refused with a one-line error unless the
caller passes ``force``; then the old run's results are removed first and the caller is told so:

* another **input** (pool or target content, field mapping): everything but the content-keyed embedding
  cache (``cache/``) is removed;
* the same input, another **pipeline** (scorers, parameters, selector, budget, seed): the results are
  removed (records, subset, report, ``eval/``, ``bandit_log.jsonl``, fine-tunes) and the finished stages are
  kept — each is stored under a key that chains everything it depends on, so only stages whose key still
  matches are reused.

The same input and pipeline resume. A directory that holds other files and no run is never written into.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from curata.engine.atomic import write_json
from curata.engine.lock import LOCK_NAME
from curata.errors import CurataError

IDENTITY_FILE = "run.json"
#: what a run produces from its stages; removed when the pipeline changes
RESULT_FILES = ("config.yaml", "manifest.json", "summary.json", "records.parquet", "selected.jsonl",
                "selected.csv", "selected.tsv", "rejected.jsonl", "report.html", "bandit_log.jsonl")
RESULT_DIRS = ("eval", "finetunes", "instructmining")
#: caches whose entries are keyed by everything they depend on
KEYED_DIRS = ("stages", "artifacts")
CONTENT_CACHE = "cache"
RUN_ENTRIES = frozenset(RESULT_FILES + RESULT_DIRS + KEYED_DIRS + (CONTENT_CACHE, IDENTITY_FILE, LOCK_NAME))


def read_identity(root: Path) -> dict | None:
    p = Path(root) / IDENTITY_FILE
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _remove(root: Path, names) -> list[str]:
    gone = []
    for name in names:
        p = root / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            continue
        gone.append(name + ("/" if p.suffix == "" and name in RESULT_DIRS + KEYED_DIRS else ""))
    return gone


def _differs(old: dict, new: dict) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(keys) or "unknown"


def refuse_foreign(root: Path) -> None:
    """A directory holding files that no run writes, and no ``run.json``, is someone else's: never write there."""
    root = Path(root)
    if not root.is_dir() or read_identity(root) is not None:
        return
    foreign = sorted({p.name for p in root.iterdir()} - RUN_ENTRIES)
    if foreign:
        raise CurataError(f"{root} is not empty and is not a curata run directory (it holds "
                          f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}) — choose a new --out")


def claim(root: Path, inputs: dict, pipeline: str, force: bool = False, describe: dict | None = None) -> list[str]:
    """Make ``root`` this run's directory (the caller holds its lock). Returns notes on what was removed."""
    root = Path(root)
    refuse_foreign(root)
    entries = {p.name for p in root.iterdir()} - {LOCK_NAME}
    ident = read_identity(root)
    hint = "pass --force to discard its results and start clean, or choose a new --out"
    notes: list[str] = []
    if ident is None and entries:
        if not force:
            raise CurataError(f"{root} holds a run whose input and settings are not recorded (made by an older "
                              f"curata, or not by `curata select/score/run`) — {hint}")
        gone = _remove(root, sorted(entries - {CONTENT_CACHE}))
        notes.append(f"--force: removed the previous, unrecorded run in {root} ({', '.join(gone)}); "
                     "kept the content-keyed embedding cache")
    elif ident is not None:
        old_inputs, old_pipeline = ident.get("inputs"), ident.get("pipeline")
        if old_inputs != inputs:
            if not force:
                what = _differs(old_inputs or {}, inputs)
                raise CurataError(f"{root} holds a run on another input ({what} differs from this run's) — {hint}")
            gone = _remove(root, sorted(entries - {CONTENT_CACHE}))
            notes.append(f"--force: {root} held a run on another input; removed its results and stages "
                         f"({', '.join(gone)}); kept the content-keyed embedding cache")
        elif old_pipeline != pipeline:
            if not force:
                raise CurataError(f"{root} holds a run of this input with other settings (scorers, selector, "
                                  f"budget or seed) — {hint}")
            gone = _remove(root, RESULT_FILES + RESULT_DIRS)
            notes.append(f"--force: {root} held a run with other settings; removed its results "
                         f"({', '.join(gone) or 'none written yet'}); finished stages whose keys still match "
                         "are reused")
    write_json(root / IDENTITY_FILE, {"inputs": inputs, "pipeline": pipeline,
                                       "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                       **({"describe": describe} if describe else {})})
    return notes


def check_inputs(root: Path, inputs: dict) -> None:
    """``evaluate``/``report`` on a run whose input files changed since would mix two pools: refuse."""
    ident = read_identity(root)
    if not ident or ident.get("inputs") is None:
        return
    if ident["inputs"] != inputs:
        what = _differs(ident["inputs"], inputs)
        raise CurataError(f"{root}: the run's input changed since it was made ({what}: the file's content or "
                          "field mapping differs) — run `curata select` again (with --force) to redo it")


def _h(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def input_key(data, which: str) -> str | None:
    """What an input is, by content: a file's fingerprint (hash + format + field mapping), or a hash of the
    records given in memory."""
    import pandas as pd

    from curata.engine.read import Read
    from curata.pool import Pool

    if data is None:
        return None
    if isinstance(data, (str, Path)):
        data = Read(data)
    if isinstance(data, Read):
        return data.fingerprint()
    if isinstance(data, Pool):
        return _h(which, pd.util.hash_pandas_object(data.df.drop(columns=["raw"]), index=False)
                  .to_numpy().tobytes().hex())
    if isinstance(data, pd.DataFrame):
        data = data.to_dict(orient="records")
    return _h(which, json.dumps(list(data), sort_keys=True, default=str))


def pipeline_key(embedder, scorers, select, unlabelled, seed: int) -> str:
    """Every stage's fingerprint and the seed: the settings a run directory's results were made with."""
    def part(scorers, select):
        return [[s.fingerprint(), bool(getattr(s, "optional", False))] for s in scorers] + \
            [select.fingerprint() if select else None]
    return _h(json.dumps({"embedder": embedder.fingerprint() if embedder else None, "main": part(scorers, select),
                          "unlabelled": part(*unlabelled) if unlabelled else None, "seed": seed}))
