"""The llama.cpp backend on the shipped SmolLM2 GGUF (skipped when llama-cpp-python is not installed):
log-likelihoods match the transformers backend on the same tokens, prefix reuse does not change numbers,
truncation is reported, chat uses the GGUF's template; a missing extra fails when the backend is built."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from curata.engine import registry
from curata.errors import MissingDependencyError

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed "
                                 "(optional extra, compiles for ~8 min: pip install 'curata[llamacpp]')")

BOS = "<|im_start|>"  # the GGUF adds no BOS and the transformers copy does: spell it out to compare the two
REQUESTS = [(BOS + "The capital of France is", " Paris."), (BOS + "The capital of France is", " London."),
            (BOS + "The capital of France is", " a banana."), (BOS + "Q: What is 2+2?\nA:", " 4"),
            (BOS + "Q: What is 2+2?\nA:", " 17"), (BOS, "Hello there, how are you?")]


@pytest.fixture(scope="module")
def llama():
    from curata.lm.llamacpp_backend import LlamaCppLM

    lm = LlamaCppLM(num_threads=1, max_length=512)
    lm.load()
    return lm


def test_missing_extra_fails_when_built(monkeypatch):
    import curata._deps as deps

    real = deps.importlib.util.find_spec
    monkeypatch.setattr(deps.importlib.util, "find_spec", lambda m, *a: None if m == "llama_cpp" else real(m, *a))
    with pytest.raises(MissingDependencyError, match="llamacpp"):
        registry.build("lm", "llamacpp")


@needs_llama
def test_loglikelihood_matches_transformers_on_the_same_tokens(llama, smol):
    ours = llama.loglikelihood(REQUESTS)
    ref = smol.loglikelihood(REQUESTS)
    for a, b in zip(ours, ref):
        assert a.error is None and a.n_tokens == b.n_tokens and a.n_prompt_tokens == b.n_prompt_tokens
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=0.6)  # Q4_1 vs its float copy
    totals = [r.token_logprobs.sum() for r in ours]
    assert list(np.argsort(totals)) == list(np.argsort([r.token_logprobs.sum() for r in ref]))


@needs_llama
def test_prefix_reuse_and_order_do_not_change_numbers(llama):
    from curata.lm.llamacpp_backend import LlamaCppLM

    together = llama.loglikelihood(REQUESTS)
    fresh = LlamaCppLM(num_threads=1, max_length=512)
    alone = [fresh.loglikelihood([r])[0] for r in REQUESTS[::-1]][::-1]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=1e-4)


@needs_llama
def test_truncation_empty_and_bad_inputs(llama):
    from curata.lm.llamacpp_backend import LlamaCppLM

    short = LlamaCppLM(num_threads=1, max_length=16)
    prompt = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    n_p, n_c = short.count_tokens([prompt, " sixteen seventeen"])
    res = short.loglikelihood([(prompt, " sixteen seventeen"), ("", "Hi"), ("Hi", ""), ("Caf\udce9", " open")])
    assert res[0].truncated and res[0].dropped == n_p + n_c - 16 and res[0].n_tokens == n_c
    assert res[1].n_prompt_tokens == 1 and res[1].n_tokens == 1  # an empty prompt is BOS alone
    assert res[2].error == "empty continuation" and "lone surrogates" in res[3].note


@needs_llama
def test_chat_template_comes_from_the_gguf(llama, smol):
    conv = [{"role": "user", "content": "What is 2+2?"}]
    assert llama.apply_chat_template(conv) == smol.apply_chat_template(conv)
    assert llama.apply_chat_template(conv).endswith("<|im_start|>assistant\n")


@needs_llama
def test_generation_and_chat(llama):
    a = llama.generate(["The capital of France is", "1, 2, 3,"], max_new_tokens=6)
    assert a[0].text.startswith(" Paris") and a[0].finish_reason == "length" and a[0].n_tokens == 6
    assert [g.text for g in llama.generate(["The capital of France is"], max_new_tokens=6)] == [a[0].text]
    stopped = llama.generate(["1, 2, 3,"], max_new_tokens=10, stop=[" 6"])[0]
    assert stopped.text == " 4, 5," and stopped.finish_reason == "stop"
    chat = llama.chat([[{"role": "user", "content": "What is 2+2?"}], [{"content": "no role"}]], max_new_tokens=20)
    assert "4" in chat[0].text and chat[0].finish_reason == "stop" and chat[0].n_prompt_tokens > 20
    assert chat[1].finish_reason == "error" and "bad conversation" in chat[1].error
    assert llama.count_tokens(["Hello world", ""]) == [2, 0]
