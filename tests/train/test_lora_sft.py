"""LoRA SFT on the shipped SmolLM2-135M: response-only labels, counted truncation, weights that move, records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.errors import ConfigError
from curata.pool import Pool
from curata.train.gsm8k import normalise_number, predicted_number, reference_number
from curata.train.sft_data import (collate, encode, fit_window, format_pair, grouped_batches, instruction_records,
                                   records_sha256)

RECORDS = [{"instruction": "Name a primary colour.", "input": "", "output": "Red."},
           {"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 + 3 = 5.\n#### 5"},
           {"instruction": "Say hello in French.", "input": "", "output": "Bonjour."},
           {"instruction": "What is the capital of Italy?", "input": "", "output": "Rome is the capital of Italy."},
           {"instruction": "Give the opposite of hot.", "input": "", "output": "Cold."},
           {"instruction": "Count to three.", "input": "", "output": "One, two, three."}]


@pytest.fixture(scope="module")
def smol():
    """(model, tokenizer) of the shipped SmolLM2, reusing the user's converted copy (no 20 s GGUF conversion)."""
    from curata.lm.models import converted_dir, curata_home, load_causal_lm, smollm2_gguf_path

    mine = Path(os.environ.get("HOME", "~")) / ".cache" / "curata" / "models"
    target = converted_dir(smollm2_gguf_path())
    if (mine / target.name / "config.json").exists() and not target.exists() and curata_home() != mine.parent:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(mine / target.name, target_is_directory=True)
    return load_causal_lm("smollm2")


def test_prompt_tokens_are_masked_and_the_response_is_the_template_tail(smol):
    _, tok = smol
    prompt, response = format_pair(tok, "Add the numbers.", "2 and 3", "2 + 3 = 5.")
    assert prompt.endswith("<|im_start|>assistant\n") and "Add the numbers.\n\n2 and 3" in prompt
    assert response == "2 + 3 = 5.<|im_end|>\n"  # the end-of-turn marker is learned too
    enc = encode(tok, instruction_records(RECORDS[:3]), max_length=512)
    assert enc.truncated.sum() == 0 and not enc.skipped
    ids, mask, labels = collate(enc, [0, 1, 2], pad_id=tok.pad_token_id)
    for r in range(3):
        n, p = len(enc.ids[r]), enc.n_prompt[r]
        assert (labels[r, :p] == -100).all() and (labels[r, n:] == -100).all() and mask[r, n:].sum() == 0
        assert (labels[r, p:n] == ids[r, p:n]).all()
        assert tok.decode(enc.ids[r][:p]) == format_pair(tok, *instruction_records(RECORDS[r:r + 1])[0])[0]
    assert tok.decode(labels[1][labels[1] != -100].tolist()) == "2 + 3 = 5.\n#### 5<|im_end|>\n"


def test_truncation_is_counted_and_keeps_the_generation_prompt(smol):
    _, tok = smol
    long = {"instruction": "Repeat: " + "word " * 80, "input": "", "output": "answer " * 60}
    enc = encode(tok, instruction_records([RECORDS[0], long, {"instruction": "x", "output": "  "}]), max_length=48)
    assert enc.summary()["truncated"] == 1 and enc.skipped == {2: "empty response"}
    assert list(enc.rows) == [0, 1] and enc.lengths[1] == 48 and enc.dropped_tokens[1] > 0
    assert enc.n_response[1] == 24  # the response keeps half the window
    assert tok.decode(enc.ids[1][:enc.n_prompt[1]]).endswith("<|im_start|>assistant\n")
    assert fit_window(10, 100, 48) == (10, 38) and fit_window(100, 10, 48) == (38, 10)
    assert fit_window(100, 100, 48) == (24, 24) and fit_window(5, 5, 48) == (5, 5)


def test_grouped_batches_cover_every_record_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=403)
    batches = grouped_batches(lengths, 8, np.random.default_rng(1), group=True, window=10)
    assert sorted(np.concatenate(batches).tolist()) == list(range(403))
    plain = grouped_batches(lengths, 8, np.random.default_rng(1), group=False)
    waste = lambda bs: 1 - sum(lengths[b].sum() for b in bs) / sum(lengths[b].max() * len(b) for b in bs)  # noqa: E731
    assert waste(batches) < 0.5 * waste(plain)
    again = grouped_batches(lengths, 8, np.random.default_rng(1), group=True, window=10)
    assert all((a == b).all() for a, b in zip(batches, again))


def test_instruction_records_from_pool_frame_and_dicts():
    df = pd.DataFrame({"id": ["a", "b"], "instruction": ["i1", "i2"], "input": [None, "x"], "output": ["o1", "o2"]})
    assert instruction_records(df) == [("i1", "", "o1"), ("i2", "x", "o2")]
    assert instruction_records(Pool(df=df, task="instruction")) == instruction_records(df)
    assert instruction_records([{"instruction": "i", "output": "o"}]) == [("i", "", "o")]
    assert records_sha256(df) != records_sha256(df.iloc[::-1])
    with pytest.raises(ConfigError, match="instruction pool"):
        instruction_records(Pool(df=df.assign(text="t"), task="text"))


def test_gsm8k_numbers():
    assert reference_number("so 48 + 24 = 72\n#### 1,072") == "1072"
    assert reference_number("The answer is B") is None and reference_number("  12.50 ") == "12.5"
    assert predicted_number("She pays $18.00 in total. #### 18") == "18"
    assert predicted_number("first 3, then 4, so 7 apples") == "7" and predicted_number("none") is None
    assert normalise_number("-0.5") == "-0.5" and normalise_number("$2,000") == "2000"


def test_fit_moves_the_lora_weights_lowers_the_loss_and_records_the_run(smol, tmp_path):
    import torch

    from curata.train.lora_sft import LoRASFTTrainer, eval_loss

    base, tok = smol
    before = eval_loss(base, tok, RECORDS)
    assert np.isfinite(before["loss"]) and before["response_tokens"] > 0 and before["truncated"] == 0
    t = LoRASFTTrainer(max_steps=3, epochs=2, batch_size=3, lr=3e-3, max_length=64, num_threads=1, seed=0)
    t.fit(RECORDS, progress=False, run_dir=tmp_path)
    assert len(t.losses_) == 3 and np.isfinite(t.losses_).all()
    lora_b = [p for n, p in t.model_.named_parameters() if "lora_B" in n]
    assert len(lora_b) == 4 * base.config.num_hidden_layers  # q, k, v, o in every layer
    assert all(float(p.detach().abs().sum()) > 0 for p in lora_b)  # B starts at zero: every adapter was updated
    after = t.eval_loss(RECORDS, name="train")
    assert after < before["loss"] - 0.05
    assert not any(isinstance(m, torch.nn.Module) and "lora" in n.lower() for n, m in base.named_modules())
    s = t.stats_
    assert s["steps"] == 3 and s["tokens"] == s["padded_tokens"] * (1 - s["padding_waste"]) and s["tokens_per_s"] > 0
    files = list((tmp_path / "finetunes").glob("*.json"))
    assert len(files) == 1
    rec = json.loads(files[0].read_text())
    assert rec["config"]["r"] == 16 and rec["config"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert rec["data"]["sha256"] == records_sha256(RECORDS) and rec["data"]["used"] == 6
    assert rec["steps"] == 3 and rec["evals"]["train"]["loss"] == pytest.approx(after)


def test_bfloat16_loss_stays_close_to_float32(smol):
    from curata.train.lora_sft import eval_loss

    base, tok = smol
    f32 = eval_loss(base, tok, RECORDS[:3])["loss"]
    bf16 = eval_loss(base, tok, RECORDS[:3], dtype="bfloat16")["loss"]
    assert abs(bf16 - f32) / f32 < 0.02


def test_seeded_fits_repeat_and_an_empty_training_set_fails(smol):
    from curata.train.lora_sft import LoRASFTTrainer

    kw = dict(max_steps=2, batch_size=1, max_length=32, num_threads=1)
    a = LoRASFTTrainer(**kw).fit(RECORDS[:2], seed=3, progress=False)
    b = LoRASFTTrainer(**kw).fit(RECORDS[:2], seed=3, progress=False)
    assert a.losses_ == pytest.approx(b.losses_)
    with pytest.raises(ConfigError, match="none of the 1 training records"):
        LoRASFTTrainer(**kw).fit([{"instruction": "x", "output": " "}], progress=False)
    with pytest.raises(RuntimeError, match="call fit first"):
        LoRASFTTrainer().eval_loss(RECORDS)
