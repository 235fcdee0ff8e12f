"""Content-keyed cache of LM results (log-likelihoods, generations) per model, so re-scoring costs nothing.

Results live under ``<cache dir>/lm/<model_key>/`` (in a run: ``<run>/cache/lm/...``) in chunks written
atomically as they are computed, so a killed scoring run resumes where it stopped. Keys are sha1 of the
request text (prompt + continuation, or prompt/conversation + generation parameters). Results with an
``error`` are never stored: a timeout today may succeed tomorrow.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from curata.console import tqdm

from curata.engine.atomic import write_json, write_npz
from curata.lm.base import Generation, LMBackend, LogLikelihood


def request_key(*parts) -> bytes:
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8", "surrogatepass")).digest()


class LMCache:
    """Stores LM results by request key in atomically written chunks; reads every chunk once, lazily."""

    def __init__(self, root: str | os.PathLike, model_key: str):
        self.dir = Path(root) / "lm" / model_key
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ll: dict[bytes, LogLikelihood] | None = None
        self._gen: dict[bytes, Generation] | None = None
        self.hits = self.misses = 0

    def _name(self, kind: str, suffix: str) -> Path:
        return self.dir / f"{kind}-{os.getpid()}-{time.time_ns()}.{suffix}"

    # log-likelihoods ----------------------------------------------------------------------------------
    def _load_ll(self) -> dict[bytes, LogLikelihood]:
        if self._ll is None:
            self._ll = {}
            for f in sorted(self.dir.glob("ll-*.npz")):
                try:
                    with np.load(f) as z:
                        keys, offsets, lps, meta = z["keys"], z["offsets"], z["logprobs"], json.loads(str(z["meta"]))
                except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):  # recomputed
                    continue
                for j, k in enumerate(keys):
                    self._ll[bytes(k)] = LogLikelihood(lps[offsets[j]:offsets[j + 1]], **meta[j])
        return self._ll

    def get_loglikelihood(self, keys: list[bytes]) -> dict[bytes, LogLikelihood]:
        found = self._load_ll()
        return {k: found[k] for k in keys if k in found}

    def put_loglikelihood(self, keys: list[bytes], results: list[LogLikelihood]) -> None:
        keep = [(k, r) for k, r in zip(keys, results) if r is not None and r.error is None]
        if not keep:
            return
        lps = [np.asarray(r.token_logprobs, np.float32) for _, r in keep]
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in lps])]).astype(np.int64)
        meta = [{"n_prompt_tokens": int(r.n_prompt_tokens), "truncated": bool(r.truncated), "dropped": int(r.dropped),
                 "note": r.note, "usage": r.usage} for _, r in keep]
        keys_arr = np.array([np.frombuffer(k, np.uint8) for k, _ in keep], np.uint8)
        write_npz(self._name("ll", "npz"), keys=keys_arr, offsets=offsets, logprobs=np.concatenate(lps),
                  meta=np.array(json.dumps(meta)))
        self._load_ll().update(keep)

    # generations --------------------------------------------------------------------------------------
    def _load_gen(self) -> dict[bytes, Generation]:
        if self._gen is None:
            self._gen = {}
            for f in sorted(self.dir.glob("gen-*.json")):
                try:
                    rows = json.loads(f.read_text(encoding="utf-8"))
                    self._gen.update({bytes.fromhex(k): Generation(**v) for k, v in rows.items()})
                except (OSError, ValueError, KeyError, TypeError):
                    continue
        return self._gen

    def get_generation(self, keys: list[bytes]) -> dict[bytes, Generation]:
        found = self._load_gen()
        return {k: found[k] for k in keys if k in found}

    def put_generation(self, keys: list[bytes], results: list[Generation]) -> None:
        keep = {k: r for k, r in zip(keys, results) if r is not None and r.error is None}
        if keep:
            write_json(self._name("gen", "json"), {k.hex(): asdict(r) for k, r in keep.items()})
            self._load_gen().update(keep)


def _run_cached(cache: LMCache, keys: list[bytes], kind: str, compute, chunk: int, progress: bool) -> list:
    """Results for ``keys``: cached ones read, each distinct missing key computed once, ``chunk`` at a time."""
    lookup, store = ((cache.get_loglikelihood, cache.put_loglikelihood) if kind == "loglikelihood"
                     else (cache.get_generation, cache.put_generation))
    found = lookup(keys)
    first: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        if k not in found:
            first.setdefault(k, i)
    todo = list(first.values())
    cache.hits += len(keys) - len(todo)
    cache.misses += len(todo)
    with tqdm(total=len(todo), desc=kind, unit=" req", disable=not progress or not todo, leave=False) as bar:
        for s in range(0, len(todo), chunk):
            part = todo[s:s + chunk]
            results = compute(part)
            store([keys[i] for i in part], results)
            found.update(zip((keys[i] for i in part), results))
            bar.update(len(part))
    return [found[k] for k in keys]


def cached_loglikelihood(backend: LMBackend, cache: LMCache | None, requests: list[tuple[str, str]],
                         progress: bool = False, chunk: int = 256) -> list[LogLikelihood]:
    """``backend.loglikelihood`` that only sends cache misses, storing each chunk as it finishes."""
    if cache is None:
        return backend.loglikelihood(requests, progress=progress)
    keys = [request_key("ll", p, c) for p, c in requests]
    return _run_cached(cache, keys, "loglikelihood", lambda part: backend.loglikelihood([requests[i] for i in part]),
                       chunk, progress)


def cached_generate(backend: LMBackend, cache: LMCache | None, prompts: list[str], max_new_tokens: int = 128,
                    temperature: float = 0.0, stop: list[str] | None = None, progress: bool = False,
                    chunk: int = 64) -> list[Generation]:
    kw = {"max_new_tokens": max_new_tokens, "temperature": temperature, "stop": stop}
    return _cached_generations(backend.generate, "generate", cache, prompts, kw, progress, chunk)


def cached_chat(backend: LMBackend, cache: LMCache | None, conversations: list[list[dict]],
                max_new_tokens: int = 128, temperature: float = 0.0, progress: bool = False,
                stop: list[str] | None = None, chunk: int = 64) -> list[Generation]:
    kw = {"max_new_tokens": max_new_tokens, "temperature": temperature, "stop": stop}
    return _cached_generations(backend.chat, "chat", cache, conversations, kw, progress, chunk)


def _cached_generations(call, kind: str, cache: LMCache | None, items: list, kw: dict, progress: bool,
                        chunk: int) -> list[Generation]:
    """``call(items, **kw)`` (a backend's generate or chat) for the items not in ``cache``, cached by request."""
    if cache is None:
        return call(items, progress=progress, **kw)
    keys = [request_key(kind, x, kw) for x in items]
    return _run_cached(cache, keys, kind, lambda part: call([items[i] for i in part], **kw), chunk, progress)


class CachedLM:
    """A backend seen through its cache: the same verbs as ``LMBackend``, misses only go to the model."""

    def __init__(self, backend: LMBackend, cache: LMCache | None):
        self.backend, self.cache = backend, cache

    @classmethod
    def for_context(cls, backend: LMBackend, ctx) -> CachedLM:
        """Cache under the run's ``cache/lm/<model_key>/`` (no cache when the run has no directory)."""
        root = getattr(ctx, "cache_dir", None)
        return cls(backend, LMCache(root, backend.model_key) if root is not None else None)

    @property
    def model_key(self) -> str:
        return self.backend.model_key

    def loglikelihood(self, requests: list[tuple[str, str]], progress: bool = False) -> list[LogLikelihood]:
        return cached_loglikelihood(self.backend, self.cache, requests, progress)

    def generate(self, prompts: list[str], max_new_tokens: int = 128, temperature: float = 0.0,
                 stop: list[str] | None = None, progress: bool = False) -> list[Generation]:
        return cached_generate(self.backend, self.cache, prompts, max_new_tokens, temperature, stop, progress)

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 128, temperature: float = 0.0,
             progress: bool = False, stop: list[str] | None = None) -> list[Generation]:
        return cached_chat(self.backend, self.cache, conversations, max_new_tokens, temperature, progress, stop)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self.backend.count_tokens(texts)
