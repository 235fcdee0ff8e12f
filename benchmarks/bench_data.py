"""Benchmark datasets read from ../shared/data (never copied into the repository), as curata JSONL files.

Each loader returns (train, test) lists of dicts with curata's field names (text/label or left/right/label).
``materialise`` writes them under benchmarks/out/data/ (git-ignored) so the CLI and Pipeline read real files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("CURATA_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
OUT = Path(__file__).resolve().parent / "out"


def require_shared() -> None:
    if not SHARED.exists():
        sys.exit(f"benchmark data not found at {SHARED}: clone the project with ../shared beside it "
                 "(or set CURATA_SHARED)")


def _label_text(path: Path, encoding: str = "utf-8") -> list[dict]:
    out = []
    with open(path, encoding=encoding, errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line:
                label, _, text = line.partition(" ")
                out.append({"text": text, "label": label})
    return out


def _split(rows: list[dict], test_frac: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    idx = np.random.default_rng(seed).permutation(len(rows))
    cut = int(len(rows) * (1 - test_frac))
    return [rows[i] for i in idx[:cut]], [rows[i] for i in idx[cut:]]


def sst2():
    d = SHARED / "text-cls-harvardnlp" / "data"
    return _label_text(d / "stsa.binary.train"), _label_text(d / "stsa.binary.test")


def trec6():
    d = SHARED / "text-cls-harvardnlp" / "data"
    return _label_text(d / "TREC.train.all", "latin-1"), _label_text(d / "TREC.test.all", "latin-1")


def mr():
    """MR has no official split: a seeded 80/20 split."""
    return _split(_label_text(SHARED / "text-cls-harvardnlp" / "data" / "rt-polarity.all", "latin-1"))


def sms():
    """SMS spam has no official split: a seeded 80/20 split (ham/spam)."""
    rows = []
    with open(SHARED / "sms-spam" / "SMSSpamCollection.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            label, _, text = line.rstrip("\n").partition("\t")
            if text.strip():
                rows.append({"text": text, "label": label})
    return _split(rows)


def _ditto(task: str):
    d = SHARED / "entity-matching-ditto" / "data" / "er_magellan" / task

    def read(name):
        rows = []
        for line in open(d / name, encoding="utf-8"):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rows.append({"left": parts[0], "right": parts[1], "label": parts[2]})
        return rows
    return read("train.txt"), read("test.txt")


def amazon_google():
    return _ditto("Structured/Amazon-Google")


def dblp_acm():
    return _ditto("Structured/DBLP-ACM")


DATASETS = {"sst2": sst2, "trec6": trec6, "mr": mr, "sms": sms, "amazon_google": amazon_google,
            "dblp_acm": dblp_acm}


def inject_noise(rows: list[dict], rate: float, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Symmetric noise: ``rate`` of the records get a label drawn uniformly from the *other* classes."""
    labels = sorted({r["label"] for r in rows})
    rng = np.random.default_rng(seed)
    flip = rng.random(len(rows)) < rate
    out = []
    for r, f in zip(rows, flip):
        r = dict(r)
        if f:
            r["label"] = str(rng.choice([x for x in labels if x != r["label"]]))
        out.append(r)
    return out, flip


def inject_asymmetric_noise(rows: list[dict], rate: float, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Class-conditional (pair-flip) noise: each record of class c becomes class c+1 (mod K) with probability
    ``rate``; with two classes only the second class is flipped (to the first), so noise is one-directional."""
    labels = sorted({r["label"] for r in rows}, key=lambda v: (len(v), v))
    rng = np.random.default_rng(seed)
    draw = rng.random(len(rows))
    out, flip = [], np.zeros(len(rows), dtype=bool)
    for i, r in enumerate(rows):
        r = dict(r)
        k = labels.index(r["label"])
        if draw[i] < rate and (len(labels) > 2 or k == 1):
            r["label"] = labels[(k + 1) % len(labels)]
            flip[i] = True
        out.append(r)
    return out, flip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            fh.write(json.dumps({"id": str(i), **r}, ensure_ascii=False) + "\n")
    return path


def materialise(name: str, noise: float = 0.0, seed: int = 0, kind: str = "symmetric"
                ) -> tuple[Path, Path, np.ndarray]:
    """(pool path, test path, flipped mask) for dataset ``name`` with ``noise`` label noise on the pool."""
    require_shared()
    train, test = DATASETS[name]()
    flip = np.zeros(len(train), dtype=bool)
    if noise > 0:
        inject = inject_noise if kind == "symmetric" else inject_asymmetric_noise
        train, flip = inject(train, noise, seed)
    tag = f"{name}-noise{int(noise * 100)}-s{seed}" + ("" if kind == "symmetric" else f"-{kind}")
    return (write_jsonl(OUT / "data" / f"{tag}.pool.jsonl", train),
            write_jsonl(OUT / "data" / f"{name}.test.jsonl", test), flip)
