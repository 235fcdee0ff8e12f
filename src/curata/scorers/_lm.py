"""Shared plumbing of the LM scorers (ppl, ifd, judge, instructmining).

One backend per ``lm`` spec per run (built through the registry, so any ``lm`` backend works), log-likelihoods
through the content-keyed cache under the run directory, the prompt format, and text cleaning.

Prompt format (``prompt_format``): ``chat`` renders the instruction (plus ``\\n\\n`` + input when there is
one) as a single user turn with the backend's chat template and generation prompt; ``plain`` uses
``### Instruction:\\n{instruction}\\n\\n[### Input:\\n{input}\\n\\n]### Response:\\n``. ``auto`` picks ``chat``
when the backend has a chat template, else ``plain``. The response is always the continuation, unchanged.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from curata.engine import registry
from curata.errors import ConfigError

DEFAULT_LM = {"name": "transformers", "model": "smollm2"}
PromptFormat = Literal["auto", "chat", "plain"]
_SURROGATE = re.compile("[\ud800-\udfff]")


def lm_field():
    """The ``lm`` parameter: an operator spec dict, ``{"name": <lm backend>, **its params}``."""
    return Field(default_factory=lambda: dict(DEFAULT_LM))


def check_lm_spec(spec: dict) -> dict:
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError('lm must name a backend, e.g. {"name": "transformers", "model": "smollm2"}')
    if spec["name"] not in registry.names("lm"):
        raise ValueError(f"unknown lm backend {spec['name']!r}: choose one of {', '.join(registry.names('lm'))}")
    return spec


def shared_backend(ctx, spec: dict, key: str = "lm"):
    """The backend for ``spec``, built once per run and shared by every LM scorer (loading a model is slow)."""
    store = ctx.artifacts.setdefault("_lm_backends", {})
    k = json.dumps(spec, sort_keys=True, default=str)
    if k not in store:
        params = {n: v for n, v in spec.items() if n != "name"}
        store[k] = registry.build("lm", spec["name"], params, key=key)
    return store[k]


def clean_text(text) -> tuple[str, int]:
    """(text with lone surrogates replaced by U+FFFD, how many were replaced); None and NaN become ''."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return "", 0
    text = str(text)
    n = len(_SURROGATE.findall(text))
    return (_SURROGATE.sub("\ufffd", text) if n else text), n


def _chat_renderer(backend):
    """``messages -> prompt text`` with the backend's chat template, or None when it has none.

    Looks for a public ``apply_chat_template(messages)`` on the backend, then for a Hugging Face tokenizer
    with a chat template (``tokenizer``, or the transformers backend's loaded ``_tok``)."""
    fn = getattr(backend, "apply_chat_template", None)
    if callable(fn):
        return fn
    tok = getattr(backend, "tokenizer", None)
    if tok is None and callable(getattr(backend, "load", None)):
        backend.load()
        tok = getattr(backend, "_tok", None)
    if tok is not None and getattr(tok, "chat_template", None):
        return lambda msgs: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return None


def plain_prompt(instruction: str, inp: str) -> str:
    middle = f"### Input:\n{inp}\n\n" if inp.strip() else ""
    return f"### Instruction:\n{instruction}\n\n{middle}### Response:\n"


def user_message(instruction: str, inp: str) -> str:
    return f"{instruction}\n\n{inp}" if inp.strip() else instruction


@dataclass
class Prepared:
    """Per-record prompt and response after cleaning, with what was noticed on the way."""

    prompts: list[str]
    responses: list[str]
    fmt: str
    notes: list[list[str]] = field(default_factory=list)  # non-blocking (still scored)
    blocked: list[str | None] = field(default_factory=list)  # why a record cannot be scored at all

    @property
    def ok(self) -> np.ndarray:
        return np.array([b is None for b in self.blocked], dtype=bool)


def prepare(pool, backend, fmt: str, scorer: str, need_instruction: bool = True) -> Prepared:
    """Prompts and responses of the pool's records. Instruction pools: (instruction, input) → prompt, output →
    response. Other pools (only when ``need_instruction`` is False): empty prompt, ``text`` as the response."""
    if pool.task != "instruction":
        if need_instruction:
            raise ConfigError(f"scorers.{scorer}", f"{scorer} needs an instruction pool (instruction/output "
                              f"fields), this one is a {pool.task} pool", "map the fields with --instruction-field "
                              "and --output-field, or use the ppl scorer")
        instr = inputs = [""] * len(pool)
        outputs = pool.df["text"].tolist()
    else:
        instr, inputs, outputs = (pool.df[c].tolist() for c in ("instruction", "input", "output"))
    render = None
    if pool.task == "instruction":
        render = _chat_renderer(backend) if fmt in ("auto", "chat") else None
        if fmt == "chat" and render is None:
            raise ConfigError(f"scorers.{scorer}.prompt_format", f"the LM backend {backend.name!r} has no chat "
                              "template", "use prompt_format: plain (or auto)")
    used = "chat" if render is not None else ("plain" if pool.task == "instruction" else "none")
    prep = Prepared([], [], used)
    for ins, inp, out in zip(instr, inputs, outputs):
        notes: list[str] = []
        (ins, a), (inp, b), (out, c) = clean_text(ins), clean_text(inp), clean_text(out)
        if a + b + c:
            notes.append(f"non-UTF-8 text: {a + b + c} lone surrogate(s) replaced by U+FFFD")
        if pool.task != "instruction":
            prompt = ""
        elif render is not None:
            prompt = render([{"role": "user", "content": user_message(ins, inp)}])
        else:
            prompt = plain_prompt(ins, inp)
        prep.prompts.append(prompt)
        prep.responses.append(out)
        prep.notes.append(notes)
        prep.blocked.append("empty response" if not out.strip() else None)
    return prep


def _cache(ctx, backend):
    """The run's ``LMCache`` for this backend (one per run, so its chunks are read once), or None."""
    if ctx.cache_dir is None:
        return None
    from curata.lm.cache import LMCache

    caches = ctx.artifacts.setdefault("_lm_caches", {})
    if backend.model_key not in caches:
        caches[backend.model_key] = LMCache(ctx.cache_dir, backend.model_key)
    return caches[backend.model_key]


def loglikelihoods(backend, requests: list[tuple[str, str]], ctx) -> list:
    """``backend.loglikelihood`` on the distinct requests, through the run's LM cache (``cache/lm/``); without a
    run directory answers are remembered for the run, so ppl, ifd and instructmining share common requests."""
    uniq = list(dict.fromkeys(requests))
    if not uniq:
        return []
    cache = _cache(ctx, backend)
    if cache is not None:
        from curata.lm.cache import cached_loglikelihood
        lookup = dict(zip(uniq, cached_loglikelihood(backend, cache, uniq, ctx.progress)))
    else:
        lookup = ctx.artifacts.setdefault("_lm_loglik", {}).setdefault(backend.model_key, {})
        todo = [r for r in uniq if r not in lookup]
        if todo:
            lookup.update(zip(todo, backend.loglikelihood(todo, progress=ctx.progress)))
    return [lookup[r] for r in requests]


def chat_replies(backend, conversations: list[list[dict]], ctx, max_new_tokens: int) -> list:
    """Greedy ``backend.chat`` replies, each distinct conversation asked once, through the run's LM cache (which
    keeps replies, never errors, chunk by chunk: a killed run keeps what it finished)."""
    from curata.lm.cache import cached_chat

    keys = [json.dumps(c, sort_keys=True, ensure_ascii=False) for c in conversations]
    uniq = dict(zip(keys, conversations))
    gens = cached_chat(backend, _cache(ctx, backend), list(uniq.values()), max_new_tokens=max_new_tokens,
                       temperature=0.0, progress=ctx.progress)
    lookup = dict(zip(uniq, gens))
    return [lookup[k] for k in keys]


def take_note(prep: Prepared, i: int, ll) -> None:
    """Keep a backend's remark on a request it still scored (e.g. characters it repaired)."""
    note = getattr(ll, "note", None)
    if note and note not in prep.notes[i]:
        prep.notes[i].append(note)


def ll_problem(ll) -> str | None:
    """Why a log-likelihood cannot be used as a score, or None."""
    if ll.error:
        return f"error: {str(ll.error)[:200]}"
    if ll.truncated:
        return f"truncated: {ll.dropped} token(s) over the LM's max length were dropped"
    if ll.n_tokens == 0:
        return "no response tokens to score"
    return None


def issue_column(prep: Prepared, problems: list[str | None]) -> list[str | None]:
    """One reason string per record (blocking problem first, then notes); None when all is well."""
    out = []
    for blocked, problem, notes in zip(prep.blocked, problems, prep.notes):
        parts = [p for p in (blocked, problem) if p] + notes
        out.append("; ".join(parts) if parts else None)
    return out


def summarise(scorer: str, issues: list[str | None], scored: np.ndarray) -> str | None:
    """One run note: how many records could not be scored and why, and how many were scored with a remark."""
    kinds = Counter(i.split(":")[0].split(";")[0] for i, ok in zip(issues, scored) if i and not ok)
    remarks = sum(1 for i, ok in zip(issues, scored) if i and ok)
    if not kinds and not remarks:
        return None
    parts = []
    if kinds:
        text = ", ".join(f"{k} ×{c}" for k, c in kinds.most_common())
        parts.append(f"{sum(kinds.values()):,} of {len(issues):,} records not scored ({text})")
    if remarks:
        parts.append(f"{remarks:,} scored with a remark")
    return f"{scorer}: {'; '.join(parts)}; see {scorer}_issue"


def prepare_records_for_judge(pool, scorer: str) -> list[tuple[str, str, str]]:
    """(instruction, input, output) per record, lone surrogates replaced; instruction pools only."""
    if pool.task != "instruction":
        raise ConfigError(f"scorers.{scorer}", f"{scorer} needs an instruction pool, this one is a {pool.task} "
                          "pool", "map the fields with --instruction-field and --output-field")
    cols = (pool.df[c].tolist() for c in ("instruction", "input", "output"))
    return [tuple(clean_text(x)[0] for x in row) for row in zip(*cols)]
