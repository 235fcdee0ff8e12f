"""The transformers backend on the shipped SmolLM2-135M-Instruct with short texts: log-likelihoods equal a
manual forward pass, batching does not change numbers or order, truncation is reported, chat uses the
template, greedy generation is deterministic, bad inputs get a reason instead of crashing the batch."""

from __future__ import annotations

import numpy as np
import pytest

from curata.lm.transformers_backend import TransformersLM

REQUESTS = [
    ("The capital of France is", " Paris."),
    ("The capital of France is", " London."),
    ("", "Hello there, how are you today?"),
    ("Q: What is 2+2?\nA:", " 4"),
    ("Write a haiku about the sea.\n", "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."),
    ("Translate to French: cat", " chat"),
    ("A much longer instruction that goes on and on about many different things, to make padding matter.",
     " Short."),
]


def manual(lm: TransformersLM, prompt_ids: list[int], cont_ids: list[int]) -> np.ndarray:
    """Log-probs of ``cont_ids`` from one unpadded full forward pass with a float32 log_softmax."""
    import torch

    model, _ = lm.load()
    ids = torch.tensor([prompt_ids + cont_ids])
    with torch.inference_mode():
        lp = torch.log_softmax(model(ids).logits[0].float(), -1)
    p = len(prompt_ids)
    return np.array([lp[p - 1 + j, t].item() for j, t in enumerate(cont_ids)])


def test_loglikelihood_equals_a_manual_forward_pass(smol):
    tok = smol.load()[1]
    prompt, cont = REQUESTS[0]
    res = smol.loglikelihood([(prompt, cont)])[0]
    p_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    c_ids = tok(cont, add_special_tokens=False)["input_ids"]
    assert p_ids[0] == tok.bos_token_id and res.n_prompt_tokens == len(p_ids)
    assert res.n_tokens == len(c_ids) == 2 and not res.truncated and res.error is None
    np.testing.assert_allclose(res.token_logprobs, manual(smol, p_ids, c_ids), atol=1e-4)
    assert res.mean_nll == pytest.approx(-manual(smol, p_ids, c_ids).mean(), abs=1e-4)
    london = smol.loglikelihood([REQUESTS[1]])[0]
    assert london.token_logprobs.sum() < res.token_logprobs.sum() - 3  # Paris is far likelier than London


def test_empty_prompt_conditions_on_bos_alone(smol):
    tok = smol.load()[1]
    res = smol.loglikelihood([("", "Hello there")])[0]
    c_ids = tok("Hello there", add_special_tokens=False)["input_ids"]
    assert res.n_prompt_tokens == 1 and res.n_tokens == len(c_ids)
    np.testing.assert_allclose(res.token_logprobs, manual(smol, [tok.bos_token_id], c_ids), atol=1e-4)


def test_batched_equals_one_by_one_and_keeps_order(smol):
    batched = smol.loglikelihood(REQUESTS)
    single = [smol.loglikelihood([r])[0] for r in REQUESTS]
    shuffled_order = [4, 0, 6, 2, 1, 5, 3]
    shuffled = smol.loglikelihood([REQUESTS[i] for i in shuffled_order])
    for i, (b, s) in enumerate(zip(batched, single)):
        assert b.n_tokens == s.n_tokens == len(smol.load()[1](REQUESTS[i][1], add_special_tokens=False)["input_ids"])
        np.testing.assert_allclose(b.token_logprobs, s.token_logprobs, atol=1e-4)
    for j, i in enumerate(shuffled_order):
        np.testing.assert_allclose(shuffled[j].token_logprobs, batched[i].token_logprobs, atol=1e-4)


def test_truncation_cuts_prompt_left_then_continuation_right_and_says_so(smol):
    tok = smol.load()[1]
    short = TransformersLM(max_length=16, num_threads=1)
    short.load()
    prompt = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    p_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    c_ids = tok(" seventeen eighteen", add_special_tokens=False)["input_ids"]
    res = short.loglikelihood([(prompt, " seventeen eighteen")])[0]
    kept = [p_ids[0]] + p_ids[len(p_ids) - (16 - len(c_ids) - 1):]  # BOS + the prompt's last tokens
    assert res.truncated and res.dropped == len(p_ids) + len(c_ids) - 16
    assert res.n_prompt_tokens == len(kept) and res.n_tokens == len(c_ids)
    np.testing.assert_allclose(res.token_logprobs, manual(smol, kept, c_ids), atol=1e-4)

    long_cont = " ".join(["word"] * 30)
    n_cont = len(tok(long_cont, add_special_tokens=False)["input_ids"])
    res = short.loglikelihood([("Say word.", long_cont)])[0]
    assert res.truncated and res.n_prompt_tokens == 1 and res.n_tokens == 15
    assert res.dropped == len(tok("Say word.")["input_ids"]) + n_cont - 16
    fits = short.loglikelihood([("Hi", " there")])[0]
    assert not fits.truncated and fits.dropped == 0


def test_max_length_is_clipped_to_the_model(smol):
    lm = TransformersLM(max_length=10**6, num_threads=1)
    lm.load()
    assert lm.max_length == smol.load()[0].config.max_position_embeddings == 8192


def test_bad_inputs_get_a_reason_and_never_crash_the_batch(smol):
    res = smol.loglikelihood([("Hello", ""), ("Caf\udce9 is", " open"), ("Café is", " open"), (None, "x")])
    assert res[0].error == "empty continuation" and res[0].n_tokens == 0 and np.isnan(res[0].mean_nll)
    assert res[1].error is None and "lone surrogates" in res[1].note
    fixed = smol.loglikelihood([("Caf\ufffd is", " open")])[0]
    np.testing.assert_allclose(res[1].token_logprobs, fixed.token_logprobs, atol=1e-5)
    assert res[2].note is None and res[3].n_prompt_tokens == 1


def test_greedy_generation_is_deterministic_and_batch_invariant(smol):
    prompts = ["The capital of France is", "Once upon a time", "1, 2, 3,"]
    a = smol.generate(prompts, max_new_tokens=6)
    b = [smol.generate([p], max_new_tokens=6)[0] for p in prompts]
    assert [g.text for g in a] == [g.text for g in b]
    assert a[0].text.startswith(" Paris") and a[2].text.startswith(" 4, 5")
    assert all(g.n_tokens == 6 and g.finish_reason == "length" for g in a)
    assert a[0].n_prompt_tokens == len(smol.load()[1](prompts[0])["input_ids"])
    stopped = smol.generate(["1, 2, 3,"], max_new_tokens=10, stop=[" 6"])[0]
    assert stopped.text == " 4, 5," and stopped.finish_reason == "stop"


def test_sampling_is_seeded_per_prompt(smol):
    one = smol.generate(["Write a word:"], max_new_tokens=5, temperature=1.0)[0]
    again = smol.generate(["Tell me a story:", "Write a word:"], max_new_tokens=5, temperature=1.0)[1]
    assert one.text == again.text
    other_seed = TransformersLM(seed=1, num_threads=1)
    texts = {other_seed.generate(["Write a word:"], max_new_tokens=5, temperature=1.0)[0].text, one.text}
    assert len(texts) == 2


def test_chat_uses_the_chat_template(smol):
    tok = smol.load()[1]
    conv = [{"role": "user", "content": "What is 2+2?"}]
    reply = smol.chat([conv], max_new_tokens=16)[0]
    templated = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    assert templated.startswith("<|im_start|>system") and templated.endswith("<|im_start|>assistant\n")
    assert smol.apply_chat_template(conv) == templated and smol.tokenizer is tok
    assert reply.n_prompt_tokens == len(tok(templated, add_special_tokens=False)["input_ids"])  # no second BOS
    assert "4" in reply.text and reply.finish_reason == "stop" and reply.n_tokens < 16  # stopped at <|im_end|>
    assert reply.text == smol.generate([templated], max_new_tokens=16)[0].text
    bad = smol.chat([[{"content": "no role"}], conv], max_new_tokens=4)
    assert bad[0].finish_reason == "error" and "bad conversation" in bad[0].error and bad[1].error is None


def test_count_tokens_counts_content_tokens(smol):
    tok = smol.load()[1]
    texts = ["Hello world", "", "A longer sentence with more tokens in it."]
    assert smol.count_tokens(texts) == [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert smol.count_tokens(texts)[1] == 0


def test_bfloat16_autocast_stays_close_to_float32(smol):
    bf16 = TransformersLM(dtype="bfloat16", num_threads=1)
    a = [r.mean_nll for r in smol.loglikelihood(REQUESTS[3:6])]
    b = [r.mean_nll for r in bf16.loglikelihood(REQUESTS[3:6])]
    assert bf16.model_key != smol.model_key
    np.testing.assert_allclose(b, a, rtol=0.05)
