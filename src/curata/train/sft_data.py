"""Instruction records → token ids for supervised fine-tuning, and batches that waste little padding.

Format: the tokenizer's chat template (user = instruction, plus a blank line and the input when there is one;
assistant = output); the response is everything the template adds after the generation prompt (the output and
its end-of-turn marker), so the model also learns to stop. Without a chat template: ``### Instruction`` /
``### Response`` blocks and the EOS token. Prompt and response are tokenised separately, so labels can mask the
prompt exactly (-100) whatever the tokenizer does at the boundary.

Truncation to ``max_length`` (counted per record, never silent): the response keeps at least half the window
(or all of it when shorter) and is cut on the right; the prompt is cut on the left, keeping the generation
prompt at its end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from curata.errors import ConfigError

FIELDS = ("instruction", "input", "output")


def instruction_records(data) -> list[tuple[str, str, str]]:
    """(instruction, input, output) triples from an instruction ``Pool``, a DataFrame or a list of dicts."""
    df = getattr(data, "df", None)
    if df is not None and getattr(data, "task", "instruction") != "instruction":
        raise ConfigError("trainer.lora_sft", f"supervised fine-tuning needs an instruction pool, this one is a "
                          f"{data.task} pool", "map the fields with --instruction-field and --output-field")
    if df is None and hasattr(data, "columns"):
        df = data
    if df is not None:
        cols = [df[c].tolist() if c in df.columns else [""] * len(df) for c in FIELDS]
        rows = zip(*cols)
    else:
        rows = ((r.get("instruction", ""), r.get("input", ""), r.get("output", "")) for r in data)
    return [tuple(_text(v) for v in row) for row in rows]


def _text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    import pandas as pd

    return "" if v is pd.NA else str(v)


def records_sha256(data) -> str:
    """Content hash of the records in order (ids when the data has an ``id`` column)."""
    df = getattr(data, "df", data if hasattr(data, "columns") else None)
    items = df["id"].astype(str).tolist() if df is not None and "id" in df.columns else \
        ["\x1f".join(r) for r in instruction_records(data)]
    return hashlib.sha256("\x1e".join(items).encode("utf-8", "surrogatepass")).hexdigest()


def user_message(instruction: str, inp: str) -> str:
    return f"{instruction}\n\n{inp}" if inp.strip() else instruction


def format_pair(tok, instruction: str, inp: str, output: str) -> tuple[str, str]:
    """(prompt text, response text) under the tokenizer's chat template (or plain blocks)."""
    user = [{"role": "user", "content": user_message(instruction, inp)}]
    if getattr(tok, "chat_template", None):
        prompt = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(user + [{"role": "assistant", "content": output}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        return prompt, output + (tok.eos_token or "")
    middle = f"### Input:\n{inp}\n\n" if inp.strip() else ""
    return f"### Instruction:\n{instruction}\n\n{middle}### Response:\n", output + (tok.eos_token or "")


@dataclass
class Encoded:
    """Token ids per usable record, how many of them are prompt, and what truncation removed."""

    ids: list[list[int]]
    n_prompt: list[int]
    rows: np.ndarray  # position of each encoded record in the input
    truncated: np.ndarray  # per encoded record
    dropped_tokens: np.ndarray
    skipped: dict[int, str] = field(default_factory=dict)  # input position → why it cannot be used

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids], dtype=np.int64)

    @property
    def n_response(self) -> np.ndarray:
        return self.lengths - np.asarray(self.n_prompt, dtype=np.int64)

    def summary(self) -> dict:
        return {"records": int(len(self.ids) + len(self.skipped)), "used": int(len(self.ids)),
                "skipped": len(self.skipped), "truncated": int(self.truncated.sum()),
                "dropped_tokens": int(self.dropped_tokens.sum()), "tokens": int(self.lengths.sum()),
                "response_tokens": int(self.n_response.sum())}


def fit_window(n_prompt: int, n_response: int, max_length: int) -> tuple[int, int]:
    """(prompt tokens kept from the end, response tokens kept from the start) within ``max_length``."""
    keep_r = min(n_response, max(max_length - n_prompt, max_length // 2))
    return min(n_prompt, max_length - keep_r), keep_r


def encode(tok, records: list[tuple[str, str, str]], max_length: int) -> Encoded:
    skipped: dict[int, str] = {}
    prompts, responses, rows = [], [], []
    for i, (ins, inp, out) in enumerate(records):
        if not out.strip():
            skipped[i] = "empty response"
            continue
        p, r = format_pair(tok, ins, inp, out)
        prompts.append(p)
        responses.append(r)
        rows.append(i)
    bos = getattr(tok, "bos_token", None)
    add = [not (bos and p.startswith(bos)) for p in prompts]
    p_ids = [tok(p, add_special_tokens=a)["input_ids"] for p, a in zip(prompts, add)] if prompts else []
    r_ids = tok(responses, add_special_tokens=False)["input_ids"] if responses else []
    ids, n_prompt, trunc, dropped = [], [], [], []
    for p, r in zip(p_ids, r_ids):
        kp, kr = fit_window(len(p), len(r), max_length)
        ids.append(list(p[len(p) - kp:]) + list(r[:kr]))
        n_prompt.append(kp)
        trunc.append(kp < len(p) or kr < len(r))
        dropped.append(len(p) - kp + len(r) - kr)
    return Encoded(ids, n_prompt, np.asarray(rows, dtype=np.int64), np.asarray(trunc, dtype=bool),
                   np.asarray(dropped, dtype=np.int64), skipped)


def grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                    group: bool = True, window: int = 32) -> list[np.ndarray]:
    """One epoch of batches in random order. ``group``: shuffle, sort each window of ``window`` batches by
    length, cut into batches, shuffle the batches (similar lengths share a batch; the order stays random)."""
    order = rng.permutation(len(lengths))
    if group:
        span = batch_size * window
        order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")]
                                for c in np.array_split(order, max(1, -(-len(order) // span)))]) \
            if len(order) else order
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))] if group else batches


def eval_batches(lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None) -> list[list[int]]:
    """Longest first, cut where a batch would exceed ``batch_size`` rows or ``max_batch_tokens`` padded tokens."""
    from curata.lm._common import length_order, pack

    return pack(length_order(lengths), lengths, batch_size, max_batch_tokens)


def collate(enc: Encoded, idx, pad_id: int):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding)."""
    import torch

    seqs = [enc.ids[i] for i in idx]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for r, (s, i) in enumerate(zip(seqs, idx)):
        t = torch.tensor(s, dtype=torch.long)
        ids[r, :len(s)] = t
        mask[r, :len(s)] = 1
        labels[r, enc.n_prompt[i]:len(s)] = t[enc.n_prompt[i]:]
    return ids, mask, labels
