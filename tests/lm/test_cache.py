"""The LM result cache: each distinct request goes to the model once per model key, across calls and runs;
chunks are written as they finish so a killed run resumes; errors are never cached."""

from __future__ import annotations

import numpy as np
import pytest

from curata.engine.context import RunContext
from curata.engine.run_dir import RunDir
from curata.engine.stage import Params
from curata.lm.base import Generation, LMBackend, LogLikelihood
from curata.lm.cache import CachedLM, LMCache, cached_chat, cached_generate, cached_loglikelihood


class FakeParams(Params):
    tag: str = "a"
    fail_on: str = "FAIL"  # a continuation containing this gets an error result


class FakeLM(LMBackend):
    """Log-probs derived from the text; remembers every request it was sent."""

    name = "fake"
    Params = FakeParams

    def __init__(self, **params):
        super().__init__(**params)
        self.seen: list = []
        self.calls = 0
        self.crash_after: int | None = None  # raise on the call after this many, as if the run were killed

    def loglikelihood(self, requests, progress=False):
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise KeyboardInterrupt
        self.seen += requests
        out = []
        for p, c in requests:
            if self.params.fail_on in c:
                out.append(LogLikelihood(np.zeros(0, np.float32), 1, error="server said no"))
            else:
                out.append(LogLikelihood(-np.arange(1, len(c) + 1, dtype=np.float32) / (1 + len(p)), len(p) + 1,
                                         truncated=len(c) > 5, dropped=max(0, len(c) - 5), note="n" if "\ufffd" in c
                                         else None, usage={"prompt_tokens": len(p)}))
        return out

    def generate(self, prompts, max_new_tokens=128, temperature=0.0, stop=None, progress=False):
        self.seen += prompts
        return [Generation(text=f"{p}|{max_new_tokens}|{temperature}", n_prompt_tokens=len(p), n_tokens=3)
                for p in prompts]

    def chat(self, conversations, max_new_tokens=128, temperature=0.0, progress=False, stop=None):
        self.seen += conversations
        return [Generation(text=c[-1]["content"].upper(), finish_reason="length") for c in conversations]


REQS = [("p1", "hello"), ("p2", "a long continuation"), ("p1", "hello"), ("", "x\udce9"), ("p3", "bye")]


def same(a: LogLikelihood, b: LogLikelihood) -> bool:
    return (np.array_equal(a.token_logprobs, b.token_logprobs) and a.token_logprobs.dtype == np.float32
            and (a.n_prompt_tokens, a.truncated, a.dropped, a.error, a.note, a.usage)
            == (b.n_prompt_tokens, b.truncated, b.dropped, b.error, b.note, b.usage))


def test_each_distinct_request_is_scored_once_across_calls_and_instances(tmp_path):
    lm = FakeLM()
    cache = LMCache(tmp_path, lm.model_key)
    first = cached_loglikelihood(lm, cache, REQS)
    assert lm.seen == [REQS[0], REQS[1], REQS[3], REQS[4]]  # the repeated ("p1", "hello") once
    assert all(same(a, b) for a, b in zip(first, FakeLM().loglikelihood(REQS)))
    assert (cache.hits, cache.misses) == (1, 4)
    again = FakeLM()
    second = cached_loglikelihood(again, LMCache(tmp_path, again.model_key), REQS[::-1])
    assert again.seen == [] and all(same(a, b) for a, b in zip(second, first[::-1]))
    assert (tmp_path / "lm" / lm.model_key).is_dir() and not list(tmp_path.rglob("*.tmp"))


def test_model_key_separates_caches(tmp_path):
    a, b = FakeLM(tag="a"), FakeLM(tag="b")
    cached_loglikelihood(a, LMCache(tmp_path, a.model_key), REQS)
    cached_loglikelihood(b, LMCache(tmp_path, b.model_key), REQS)
    assert a.model_key != b.model_key and len(b.seen) == 4


def test_errors_are_not_cached(tmp_path):
    lm = FakeLM()
    cache = LMCache(tmp_path, lm.model_key)
    reqs = [("p", "ok"), ("p", "FAIL now")]
    out = cached_loglikelihood(lm, cache, reqs)
    assert out[1].error == "server said no" and out[0].error is None
    lm.seen.clear()
    cached_loglikelihood(lm, LMCache(tmp_path, lm.model_key), reqs)
    assert lm.seen == [("p", "FAIL now")]


def test_a_killed_run_resumes_from_the_chunks_it_finished(tmp_path):
    reqs = [(f"prompt {i}", f"continuation {i}") for i in range(10)]
    dying = FakeLM()
    dying.crash_after = 2
    with pytest.raises(KeyboardInterrupt):
        cached_loglikelihood(dying, LMCache(tmp_path, dying.model_key), reqs, chunk=3)
    assert len(dying.seen) == 6 and len(list((tmp_path / "lm" / dying.model_key).glob("ll-*.npz"))) == 2
    fresh = FakeLM()
    out = cached_loglikelihood(fresh, LMCache(tmp_path, fresh.model_key), reqs, chunk=3)
    assert fresh.seen == reqs[6:]
    assert all(same(a, b) for a, b in zip(out, FakeLM().loglikelihood(reqs)))


def test_a_damaged_chunk_is_ignored_and_recomputed(tmp_path):
    lm = FakeLM()
    cached_loglikelihood(lm, LMCache(tmp_path, lm.model_key), REQS[:2])
    (chunk,) = (tmp_path / "lm" / lm.model_key).glob("ll-*.npz")
    chunk.write_bytes(b"not a zip file")
    lm.seen.clear()
    out = cached_loglikelihood(lm, LMCache(tmp_path, lm.model_key), REQS[:2])
    assert lm.seen == REQS[:2] and out[1].n_tokens == len("a long continuation")


def test_generations_are_keyed_by_their_parameters(tmp_path):
    lm = FakeLM()
    cache = LMCache(tmp_path, lm.model_key)
    a = cached_generate(lm, cache, ["q1", "q2"], max_new_tokens=8)
    assert [g.text for g in a] == ["q1|8|0.0", "q2|8|0.0"]
    cached_generate(lm, LMCache(tmp_path, lm.model_key), ["q2", "q1"], max_new_tokens=8)
    assert lm.seen == ["q1", "q2"]
    b = cached_generate(lm, cache, ["q1"], max_new_tokens=16)
    c = cached_generate(lm, cache, ["q1"], max_new_tokens=8, temperature=0.7)
    assert b[0].text == "q1|16|0.0" and c[0].text == "q1|8|0.7" and lm.seen == ["q1", "q2", "q1", "q1"]
    conv = [{"role": "user", "content": "shout"}]
    chats = cached_chat(lm, cache, [conv, conv])
    again = cached_chat(lm, LMCache(tmp_path, lm.model_key), [conv])
    assert chats[0].text == again[0].text == "SHOUT" and again[0].finish_reason == "length"
    assert lm.seen.count(conv) == 1


def test_cached_backend_from_a_run_context(tmp_path):
    lm = FakeLM()
    ctx = RunContext(run_dir=RunDir(tmp_path / "run"))
    cached = CachedLM.for_context(lm, ctx)
    assert cached.cache.dir == tmp_path / "run" / "cache" / "lm" / lm.model_key
    assert cached.model_key == lm.model_key
    cached.loglikelihood(REQS)
    cached.generate(["q"], max_new_tokens=4)
    CachedLM.for_context(lm, ctx).loglikelihood(REQS)
    assert len(lm.seen) == 5
    plain = CachedLM.for_context(lm, RunContext())
    assert plain.cache is None and len(plain.loglikelihood(REQS)) == 5 and len(lm.seen) == 10
