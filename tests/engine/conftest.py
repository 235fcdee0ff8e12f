"""Engine test helpers: a model-free embedder, small synthetic pools on disk, a scorer that logs its calls."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.embed.base import Embedder, normalise
from curata.engine.stage import Scorer

TOPICS = {
    "billing": "invoice refund charge card payment plan price receipt tax subscription".split(),
    "shipping": "parcel courier delivery tracking address box carrier package late arrived".split(),
    "technical": "crash error app update screen login bug firmware reboot wifi".split(),
}
FILLER = "please help my the with since today again still now".split()


class HashEmbedder(Embedder):
    """Bag-of-words hashed into 32 dims: texts sharing words are close; deterministic, no model to load."""

    name = "hash"

    def __init__(self, **params):
        super().__init__(**params)
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        out = np.full((len(texts), 32), 1e-3, dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 32] += 1.0
        return normalise(out)


class CallRecorder(Scorer):
    """Adds ``probe_score`` (= row position) and remembers that it ran."""

    name = "probe"
    calls: list[int] = []

    def score(self, pool, ctx) -> pd.DataFrame:
        CallRecorder.calls.append(len(pool))
        return pd.DataFrame({"probe_score": np.arange(len(pool), dtype=np.float64)})


def make_records(n: int = 90, seed: int = 0, labelled: bool = True, dups: int = 3) -> list[dict]:
    """``n`` records over three topics (ids r000…), then ``dups`` exact copies of the first records."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    recs = []
    for i in range(n):
        label = names[i % 3]
        words = rng.sample(TOPICS[label], rng.randint(3, 7)) + rng.sample(FILLER, rng.randint(1, 4))
        rng.shuffle(words)
        rec = {"id": f"r{i:03d}", "text": " ".join(words)}
        if labelled:
            rec["label"] = label
        recs.append(rec)
    for j in range(dups):
        recs.append({**recs[j], "id": f"d{j:03d}"})
    return recs


def write_jsonl(path: Path, records: list[dict], bad_lines: dict[int, str] | None = None) -> Path:
    """Write records one per line (``ensure_ascii=False``), inserting ``bad_lines`` {1-based line: text}."""
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    for at, text in sorted((bad_lines or {}).items()):
        lines.insert(at - 1, text)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


@pytest.fixture
def hash_embedder():
    return HashEmbedder


@pytest.fixture
def call_recorder():
    CallRecorder.calls = []
    return CallRecorder


@pytest.fixture
def records():
    return make_records


@pytest.fixture
def pool_file(tmp_path):
    """A labelled 93-record JSONL pool (3 exact duplicates) with two bad lines (5 and 40): 95 lines."""
    return write_jsonl(tmp_path / "pool.jsonl", make_records(),
                       bad_lines={5: '{"id": "bad1", "text": ', 40: '["not", "an", "object"]'})
