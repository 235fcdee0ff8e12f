"""Helpers every LM backend shares: text repair, truncation, stop strings, error results."""

from __future__ import annotations

import re

import numpy as np

from curata.lm.base import Generation, LogLikelihood

_BAD = re.compile("[\ud800-\udfff]")
EMPTY_CONTINUATION = "empty continuation"


def clean_text(text) -> tuple[str, str | None]:
    """(valid UTF-8 text, note). Lone surrogates and undecodable bytes become U+FFFD; the note counts them."""
    if isinstance(text, bytes | bytearray):
        fixed = bytes(text).decode("utf-8", "replace")
        n = fixed.count("\ufffd") - bytes(text).count("\ufffd".encode())
        return fixed, (f"replaced {n} invalid UTF-8 byte(s) with U+FFFD" if n else None)
    if text is None:
        return "", None
    text = str(text)
    if not _BAD.search(text):
        return text, None
    fixed, n = _BAD.subn("\ufffd", text)
    return fixed, f"replaced {n} invalid character(s) (lone surrogates) with U+FFFD"


def clean_messages(conv) -> tuple[list[dict], str | None]:
    """(messages with valid text, note); raises ValueError/KeyError/TypeError on a malformed conversation."""
    if not isinstance(conv, list | tuple) or not conv:
        raise ValueError("a conversation is a non-empty list of {'role', 'content'} messages")
    msgs, notes = [], []
    for m in conv:
        content, note = clean_text(m["content"])
        msgs.append({"role": str(m["role"]), "content": content})
        notes.append(note)
    return msgs, join_notes(*notes)


BAD_CONVERSATION = (TypeError, KeyError, ValueError, AttributeError)


def join_notes(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(dict.fromkeys(kept)) if kept else None


def truncate_pair(prompt: list[int], cont: list[int], max_length: int, n_special: int = 0):
    """Fit prompt + continuation into ``max_length`` tokens: cut the prompt from the left (keeping its first
    ``n_special`` tokens, e.g. BOS, and at least one token to condition on), then the continuation from
    the right. Returns (prompt, continuation, tokens dropped)."""
    total = len(prompt) + len(cont)
    if total <= max_length:
        return prompt, cont, 0
    keep_p = max(1, max_length - len(cont))
    if keep_p < len(prompt):
        head = prompt[:n_special] if keep_p > n_special else []
        tail = keep_p - len(head)
        prompt = head + prompt[len(prompt) - tail:]
    cont = cont[:max(0, max_length - len(prompt))]
    return prompt, cont, total - len(prompt) - len(cont)


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """Text up to (not including) the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in (stop or []) if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def failed_ll(error: str, n_prompt_tokens: int = 0, note: str | None = None) -> LogLikelihood:
    return LogLikelihood(np.zeros(0, np.float32), n_prompt_tokens, error=error, note=note)


def failed_generation(error: str, note: str | None = None) -> Generation:
    return Generation(text="", finish_reason="error", error=error, note=note)


def length_order(lengths) -> np.ndarray:
    """Positions sorted longest first (stable), so batches hold similar lengths and waste little padding."""
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def pack(order: np.ndarray, lengths, batch_size: int, max_batch_tokens: int | None) -> list[list[int]]:
    """Consecutive runs of ``order`` with at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens."""
    batches: list[list[int]] = []
    cur: list[int] = []
    width = 0
    for i in order:
        w = max(width, int(lengths[i]))
        if cur and (len(cur) >= batch_size or (max_batch_tokens and w * (len(cur) + 1) > max_batch_tokens)):
            batches.append(cur)
            cur, w = [], int(lengths[i])
        cur.append(int(i))
        width = w
    if cur:
        batches.append(cur)
    return batches
