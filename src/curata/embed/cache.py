"""Content-keyed embedding cache: vectors stored in chunks, keyed by sha1 of the text, per model.

Chunks are written atomically as they are computed, so a killed run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
from curata.console import tqdm

from curata.engine.atomic import write_npz


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    def __init__(self, root: str | os.PathLike, model_key: str):
        self.dir = Path(root) / "embeddings" / model_key
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._chunks: list[np.ndarray] = []

    def _load(self) -> None:
        if self._index is not None:
            return
        self._index, self._chunks = {}, []
        for f in sorted(self.dir.glob("chunk-*.npz")):
            try:
                with np.load(f) as z:
                    keys, vecs = z["keys"], z["vecs"]
            except Exception:  # a torn chunk cannot exist (atomic writes), but never trust a cache blindly
                continue
            ci = len(self._chunks)
            self._chunks.append(vecs)
            for row, k in enumerate(keys):
                self._index[bytes(k)] = (ci, row)

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, list[int]]:
        """(found mask, positions missing). Found vectors via ``fetch``."""
        self._load()
        missing = [i for i, k in enumerate(keys) if k not in self._index]
        return np.array([k in self._index for k in keys]), missing

    def fetch(self, key: bytes) -> np.ndarray:
        ci, row = self._index[key]
        return self._chunks[ci][row]

    def put(self, keys: list[bytes], vecs: np.ndarray) -> None:
        self._load()
        n = len(self._chunks)
        name = self.dir / f"chunk-{n:06d}-{os.getpid()}-{time.time_ns()}.npz"
        karr = np.array([np.frombuffer(k, dtype=np.uint8) for k in keys], dtype=np.uint8)
        write_npz(name, keys=karr, vecs=vecs.astype(np.float32))
        self._chunks.append(vecs.astype(np.float32))
        for row, k in enumerate(keys):
            self._index[k] = (n, row)


def embed_texts(texts: list[str], embedder, cache: EmbeddingCache | None, progress: bool = True,
                desc: str = "embed", chunk: int | None = None) -> tuple[np.ndarray, dict]:
    """Vectors for ``texts`` (one row each). Each distinct text is embedded once; cached ones not at all.

    ``chunk`` texts are encoded (and stored) at a time; default ``$CURATA_EMBED_CHUNK`` or 2048.
    """
    t0 = time.perf_counter()
    chunk = chunk or int(os.environ.get("CURATA_EMBED_CHUNK") or 2048)
    keys = [text_key(t) for t in texts]
    first: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    uniq_keys = list(first)
    if cache is not None:
        _, missing = cache.get(uniq_keys)
    else:
        missing = list(range(len(uniq_keys)))
    todo = [uniq_keys[i] for i in missing]
    computed: dict[bytes, np.ndarray] = {}
    encode_seconds = 0.0
    with tqdm(total=len(todo), desc=desc, unit=" text", disable=not progress or not todo, leave=False) as bar:
        for s in range(0, len(todo), chunk):
            part = todo[s:s + chunk]
            t1 = time.perf_counter()
            vecs = embedder.encode([texts[first[k]] for k in part])
            encode_seconds += time.perf_counter() - t1
            if cache is not None:
                cache.put(part, vecs)
            else:
                computed.update(zip(part, vecs))
            bar.update(len(part))
    dim = None
    rows = []
    for k in keys:
        v = cache.fetch(k) if cache is not None else computed[k]
        rows.append(v)
        dim = len(v)
    out = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dim or 0), np.float32)
    stats = {"texts": len(texts), "unique": len(uniq_keys), "encoded": len(todo),
             "encode_seconds": encode_seconds, "seconds": time.perf_counter() - t0}
    return out, stats
