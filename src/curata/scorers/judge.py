"""LLM-judge rating of each instruction–response pair (AlpaGasus-style), with robust parsing of the reply.

The exact prompt (also in docs/lm.md): a system message ``SYSTEM`` and one user message ``TEMPLATE`` filled
with the record and one of ``QUESTIONS`` (``overall`` always; ``naturalness``, ``coherence`` and
``understandability`` when asked for in ``aspects``). Each aspect is a separate conversation, so a reply only
ever carries one rating.

Parsing (``parse_rating``), first rule that yields a value inside the scale wins:
1. a number (digits or an English number word) after ``score``/``rating``/``grade`` (e.g. ``Score: 4``,
   ``Rating - **five**``, ``score of 3/5``);
2. the first number written in digits anywhere (``I'd give it 4 out of 5``);
3. the first number word anywhere (``two`` … ``ten``; ``zero`` and ``one`` only after a label, since they
   are too often not numbers).
A fraction ``N/D`` or ``N out of D`` (N ≤ D) is rescaled to the scale's top when D differs from it and clipped
into the scale (``8/10`` → 4 and ``1 out of 10`` → 1 on 1–5); other values outside the scale are skipped.
Nothing found: the record is ``unparsed``.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from curata.engine.stage import Params, Scorer
from curata.scorers._lm import (chat_replies, check_lm_spec, lm_field, prepare_records_for_judge,
                                shared_backend)

SYSTEM = "You are a careful, impartial grader of answers written by AI assistants."
TEMPLATE = (
    "Rate the response to the instruction below.\n\n"
    "Instruction:\n{instruction}\n\n"
    "{input_block}"
    "Response:\n{response}\n\n"
    "{question} Give a score from {lo} ({lo_word}) to {hi} (excellent).\n"
    'Reply with one line in the form "Score: <number>", then one sentence explaining why.'
)
QUESTIONS = {
    "overall": "How accurate, helpful and complete is the response to the instruction{and_input}?",
    "naturalness": "How natural is the response: does it read like something a knowledgeable person would "
                   "write in reply?",
    "coherence": "How coherent is the response: does it stay on topic and follow logically from the "
                 "instruction?",
    "understandability": "How understandable is the response: is it clear and easy to follow?",
}
SCALES = {"1-5": (1, 5, "very poor"), "0-10": (0, 10, "useless")}
Aspect = Literal["naturalness", "coherence", "understandability"]

WORDS = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                     "nine", "ten"])}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(WORDS) + r")"
_FRAC = r"(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?"
_LABELLED = re.compile(r"\b(?:score|rating|rated|grade)\b[^0-9a-z\n]{0,8}(?:(?:is|of|as|=)\s+)?" + _NUM + _FRAC,
                       re.IGNORECASE)
_DIGITS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])" + _FRAC)
_WORD = re.compile(r"\b(" + "|".join(w for w in WORDS if w not in ("zero", "one")) + r")\b" + _FRAC, re.IGNORECASE)


def _value(num: str, den: str | None, lo: float, hi: float) -> float | None:
    v = float(WORDS.get(num.lower(), num)) if not num[0].isdigit() else float(num)
    if den is not None:
        d = float(den)
        if d <= 0 or v > d:
            return None
        return v if d == hi else min(max(v / d * hi, lo), hi)
    return v if lo <= v <= hi else None


def parse_rating(text: str, lo: float = 1, hi: float = 5) -> float | None:
    """The rating in a judge's free-text reply, or None (rules in the module docstring)."""
    for pattern in (_LABELLED, _DIGITS, _WORD):
        for m in pattern.finditer(text or ""):
            v = _value(m.group(1), m.group(2), lo, hi)
            if v is not None:
                return v
    return None


class JudgeParams(Params):
    lm: dict = lm_field()  # the judge; a served model: {"name": "openai", "base_url": ..., "model": ...}
    scale: Literal["1-5", "0-10"] = "1-5"
    aspects: list[Aspect] = Field(default_factory=list)  # InstructMining's UniEval indicators, emulated
    max_new_tokens: int = Field(32, ge=1)
    max_response_chars: int = Field(4000, ge=100)  # longer responses are cut (judge_truncated) before judging
    raw_chars: int = Field(200, ge=0)

    _check_lm = field_validator("lm")(check_lm_spec)


class JudgeScorer(Scorer):
    """``judge_score``: an LLM judge's rating of the response (NaN with ``judge_status`` when it could not rate).

    ``judge_status`` is ``ok``, ``partial`` (overall rated, an aspect not), ``unparsed`` (no rating in the
    reply), ``error`` (the backend failed) or ``empty_response`` (nothing to judge); ``judge_raw`` keeps the
    reply, cut to ``raw_chars``; ``judge_truncated`` marks responses cut to ``max_response_chars`` (or prompts
    the backend had to cut). With ``aspects`` the judge also rates naturalness, coherence and
    understandability (``judge_<aspect>``): InstructMining takes these from UniEval-dialog, which is not
    available offline here, so the judge emulates it with one question per aspect.
    """

    name = "judge"
    outputs = ('judge_score', 'judge_raw', 'judge_status', 'judge_truncated')
    Params = JudgeParams

    def _conversation(self, ins: str, inp: str, resp: str, aspect: str) -> list[dict]:
        lo, hi, lo_word = SCALES[self.params.scale]
        has_input = bool(inp.strip())
        question = QUESTIONS[aspect].format(and_input=" and the input" if has_input else "")
        user = TEMPLATE.format(instruction=ins, input_block=f"Input:\n{inp}\n\n" if has_input else "",
                               response=resp, question=question, lo=lo, hi=hi, lo_word=lo_word)
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        lo, hi, _ = SCALES[p.scale]
        backend = shared_backend(ctx, p.lm, key="scorers.judge.lm")
        rows = prepare_records_for_judge(pool, self.name)
        aspects = ["overall", *dict.fromkeys(p.aspects)]
        n = len(pool)
        truncated = np.zeros(n, dtype=bool)
        todo, convs = [], []
        for i, (ins, inp, out) in enumerate(rows):
            if not out.strip():
                continue
            if len(out) > p.max_response_chars:
                out, truncated[i] = out[:p.max_response_chars] + " …", True
            for a in aspects:
                todo.append((i, a))
                convs.append(self._conversation(ins, inp, out, a))
        gens = chat_replies(backend, convs, ctx, p.max_new_tokens)
        ratings = {a: np.full(n, np.nan) for a in aspects}
        status = np.array(["empty_response"] * n, dtype=object)
        raw = np.full(n, None, dtype=object)
        failed: dict[int, list[str]] = {}
        for (i, a), g in zip(todo, gens):
            truncated[i] |= bool(getattr(g, "truncated", False))
            text = g.error if g.error else g.text
            v = None if g.error else parse_rating(g.text, lo, hi)
            if v is not None:
                ratings[a][i] = v
            if a == "overall":
                raw[i] = (f"error: {text}" if g.error else text)[:p.raw_chars]
                status[i] = "error" if g.error else ("ok" if v is not None else "unparsed")
            elif v is None:
                failed.setdefault(i, []).append(f"[{a}] {'error: ' if g.error else ''}{text}"[:p.raw_chars])
        for i, msgs in failed.items():
            if status[i] == "ok":
                status[i] = "partial"
                raw[i] = " | ".join([raw[i] or "", *msgs])
        counts = pd.Series(status).value_counts()
        bad = {k: int(v) for k, v in counts.items() if k != "ok"}
        if bad:
            ctx.notes.append(f"judge: {sum(bad.values()):,} of {n:,} records not fully rated "
                             f"({', '.join(f'{k} ×{v}' for k, v in bad.items())}); see judge_status")
        out = pd.DataFrame({"judge_score": ratings["overall"], "judge_status": status,
                            "judge_raw": pd.Series(raw, dtype=object), "judge_truncated": truncated})
        for a in aspects[1:]:
            out[f"judge_{a}"] = ratings[a]
        return out
