"""GSM8K-style exact match: greedy answers from a causal LM, compared on the final number.

A reference is numeric when it ends with ``#### <number>`` (GSM8K) or is a bare number. The model's answer
is the number after its last ``####`` or, failing that, the last number it wrote. Numbers are compared after
removing thousands separators, currency signs and trailing zeros (``1,000.50`` = ``1000.5``).
"""

from __future__ import annotations

import re

import numpy as np

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_FINAL = re.compile(r"####\s*(.+)")


def normalise_number(text: str) -> str | None:
    m = _NUMBER.findall(text or "")
    if not m:
        return None
    s = m[0].replace(",", "").replace("$", "")
    try:
        v = float(s)
    except ValueError:
        return None
    return str(int(v)) if v == int(v) else repr(v)


def reference_number(answer: str) -> str | None:
    """The reference's final number, or None when the reference is not numeric."""
    m = _FINAL.findall(answer or "")
    if m:
        return normalise_number(m[-1])
    s = (answer or "").strip()
    return normalise_number(s) if _NUMBER.fullmatch(s.replace(" ", "")) else None


def predicted_number(text: str) -> str | None:
    m = _FINAL.findall(text or "")
    if m and (v := normalise_number(m[-1])) is not None:
        return v
    found = _NUMBER.findall(text or "")
    return normalise_number(found[-1]) if found else None


def numeric_share(records: list[tuple[str, str, str]]) -> float:
    """Fraction of records whose reference output is numeric (1.0 for GSM8K)."""
    if not records:
        return 0.0
    return float(np.mean([reference_number(r[2]) is not None for r in records]))


def greedy_answers(model, tok, prompts: list[str], max_new_tokens: int, batch_size: int = 8,
                   autocast: bool = False) -> list[str]:
    """Greedy continuations of ``prompts`` (left-padded batches, longest first), special tokens removed."""
    import torch

    out: list[str] = [""] * len(prompts)
    bos = getattr(tok, "bos_token", None)
    ids = [tok(p, add_special_tokens=not (bos and p.startswith(bos)))["input_ids"] for p in prompts]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    eos = {t for t in (tok.eos_token_id, getattr(model.generation_config, "eos_token_id", None)) if t is not None}
    eos |= {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>") if t in tok.get_vocab()}
    pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos))
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        width = max(len(ids[i]) for i in rows)
        x = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(x)
        for r, i in enumerate(rows):
            x[r, width - len(ids[i]):] = torch.tensor(ids[i])
            mask[r, width - len(ids[i]):] = 1
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            gen = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=sorted(eos), pad_token_id=pad)
        for r, i in enumerate(rows):
            out[i] = tok.decode(gen[r, width:], skip_special_tokens=True)
    return out


def exact_match(model, tok, records: list[tuple[str, str, str]], prompts: list[str], max_new_tokens: int = 256,
                batch_size: int = 8, autocast: bool = False) -> dict:
    """{exact_match, n, answers}: share of numeric-reference records whose final number the model gets right."""
    keep = [i for i, r in enumerate(records) if reference_number(r[2]) is not None]
    if not keep:
        return {"exact_match": float("nan"), "n": 0, "answers": []}
    texts = greedy_answers(model, tok, [prompts[i] for i in keep], max_new_tokens, batch_size, autocast)
    hits = [predicted_number(t) == reference_number(records[i][2]) for t, i in zip(texts, keep)]
    return {"exact_match": float(np.mean(hits)), "n": len(keep),
            "answers": [{"row": int(i), "predicted": predicted_number(t), "reference": reference_number(records[i][2]),
                         "correct": bool(h), "text": t[:500]} for t, i, h in zip(texts, keep, hits)]}
