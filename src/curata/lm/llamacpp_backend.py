"""A GGUF model through llama.cpp (``llama-cpp-python``, an optional extra) as an LM backend.

Log-likelihoods: the model runs with ``logits_all=True``; prompt and continuation are tokenised separately
(BOS only where the GGUF's metadata asks for it; an empty prompt is BOS alone), evaluated in one pass and
the continuation's log-probabilities read from the logits in float32. Requests are evaluated one at a time
in prompt order, reusing the KV cache of a shared prompt prefix (the same instruction with several
responses costs one prompt pass). Generation and chat use the library (chat: the GGUF's chat template).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import weakref
from pathlib import Path

import numpy as np
from curata.console import tqdm

from curata.engine.stage import Params
from curata.lm._common import (BAD_CONVERSATION, EMPTY_CONTINUATION, clean_messages, clean_text, cut_at_stop,
                               failed_generation, failed_ll, join_notes, truncate_pair)
from curata.lm.base import Generation, LMBackend, LogLikelihood
from curata.lm.models import DEFAULT_LM, smollm2_gguf_path


class LlamaCppParams(Params):
    model: str = DEFAULT_LM  # `smollm2` (the shipped GGUF) or a .gguf file
    max_length: int = 2048  # llama.cpp context size (n_ctx)
    batch_size: int = 512  # tokens per llama.cpp decode call (n_batch)
    num_threads: int | None = None  # None: every core this process may use
    seed: int = 0


class LlamaCppLM(LMBackend):
    """A GGUF model run by llama.cpp behind the LM interface: quantised CPU inference without torch."""

    name = "llamacpp"
    Params = LlamaCppParams
    requires = ("llama_cpp",)
    extra = "llamacpp"

    def __init__(self, **params):
        super().__init__(**params)
        self._llm = None

    @property
    def path(self) -> Path:
        return smollm2_gguf_path() if self.params.model == DEFAULT_LM else Path(self.params.model)

    @property
    def model_key(self) -> str:
        st = self.path.stat() if self.path.exists() else None
        ident = f"{self.path.name}:{st.st_size}:{int(st.st_mtime)}" if st else self.params.model
        blob = f"{self.version}|{ident}|{self.params.max_length}|{self.params.seed}"
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def load(self):
        if self._llm is None:
            from llama_cpp import Llama

            from curata.errors import ConfigError

            if not self.path.exists():
                raise ConfigError("lm.model", f"GGUF file {self.path} not found", "give a .gguf path or `smollm2`")
            threads = self.params.num_threads or len(os.sched_getaffinity(0))
            self._llm = Llama(str(self.path), n_ctx=self.params.max_length, logits_all=True, verbose=False,
                              n_batch=min(self.params.batch_size, self.params.max_length), n_threads=threads,
                              n_threads_batch=threads, seed=self.params.seed)
            atexit.register(_close, weakref.ref(self._llm))  # before interpreter teardown breaks its __del__
            self.max_length = min(self.params.max_length, self._llm.n_ctx())
            plain = self._llm.tokenize(b"a", add_bos=False, special=True)
            with_bos = self._llm.tokenize(b"a", add_bos=True, special=True)
            self._prefix = with_bos[:len(with_bos) - len(plain)]
        return self._llm

    @property
    def apply_chat_template(self):
        """``messages -> prompt text`` with the GGUF's chat template and generation prompt; None without one."""
        llm = self.load()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        text = llm._model.token_get_text
        fmt = Jinja2ChatFormatter(template=template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()))
        return lambda msgs: fmt(messages=msgs).prompt

    def _tokens(self, text: str) -> list[int]:
        return self.load().tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []

    def _with_prefix(self, ids: list[int]) -> tuple[list[int], int]:
        if not ids:
            return [self.load().token_bos()], 1
        pre = self._prefix
        return (list(ids), len(pre)) if ids[:len(pre)] == pre else (pre + list(ids), len(pre))

    def loglikelihood(self, requests: list[tuple[str, str]], progress: bool = False) -> list[LogLikelihood]:
        llm = self.load()
        out: list[LogLikelihood | None] = [None] * len(requests)
        cleaned = [(clean_text(p), clean_text(c)) for p, c in requests]
        order = sorted(range(len(requests)), key=lambda i: (cleaned[i][0][0], cleaned[i][1][0]))
        for i in tqdm(order, desc="loglikelihood", unit=" req", disable=not progress, leave=False):
            (prompt, n1), (cont, n2) = cleaned[i]
            note = join_notes(n1, n2)
            p_ids, n_special = self._with_prefix(self._tokens(prompt))
            c_ids = self._tokens(cont)
            if not c_ids:
                out[i] = failed_ll(EMPTY_CONTINUATION, len(p_ids), note)
                continue
            p_ids, c_ids, dropped = truncate_pair(p_ids, c_ids, self.max_length, n_special)
            tokens = p_ids + c_ids
            try:
                self._eval_reusing_prefix(tokens)
            except (RuntimeError, ValueError, OSError) as e:  # a failed decode must not end the batch
                llm.reset()
                out[i] = failed_ll(f"llama.cpp could not evaluate the request: {type(e).__name__}: {e}",
                                   len(p_ids), note)
                continue
            logits = np.asarray(llm.scores[len(p_ids) - 1:len(tokens) - 1], dtype=np.float32)
            top = logits.max(1, keepdims=True)
            lse = (top + np.log(np.exp(logits - top).sum(1, keepdims=True)))[:, 0]
            lp = logits[np.arange(len(c_ids)), c_ids] - lse
            out[i] = LogLikelihood(lp.astype(np.float32), len(p_ids), truncated=dropped > 0, dropped=dropped,
                                   note=note)
        return out

    def _eval_reusing_prefix(self, tokens: list[int]) -> None:
        """Evaluate ``tokens``, keeping the KV cache (and logits) of the prefix shared with the last request."""
        llm = self.load()
        seen = llm.input_ids[:llm.n_tokens]
        common = 0
        limit = min(len(seen), len(tokens) - 1)
        while common < limit and seen[common] == tokens[common]:
            common += 1
        llm.n_tokens = common
        llm.eval(tokens[common:])

    def generate(self, prompts: list[str], max_new_tokens: int = 128, temperature: float = 0.0,
                 stop: list[str] | None = None, progress: bool = False) -> list[Generation]:
        llm = self.load()
        max_new_tokens = max(1, min(max_new_tokens, self.max_length - 1))
        out = []
        for prompt in tqdm(prompts, desc="generate", unit=" prompt", disable=not progress, leave=False):
            text, note = clean_text(prompt)
            ids, n_special = self._with_prefix(self._tokens(text))
            ids, _, dropped = truncate_pair(ids, [], self.max_length - max_new_tokens, n_special)
            if dropped:
                note = join_notes(note, f"prompt cut from the left by {dropped} token(s) to fit max_length")
            try:
                reply = llm.create_completion(ids, max_tokens=max_new_tokens, stop=list(stop or []),
                                              **self._sampling(temperature))
            except (RuntimeError, ValueError, OSError) as e:
                out.append(failed_generation(f"llama.cpp could not generate: {type(e).__name__}: {e}", note))
                continue
            out.append(self._generation(reply, reply["choices"][0]["text"], stop, note, dropped > 0))
        return out

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 128, temperature: float = 0.0,
             progress: bool = False, stop: list[str] | None = None) -> list[Generation]:
        llm = self.load()
        out = []
        for conv in tqdm(conversations, desc="chat", unit=" conv", disable=not progress, leave=False):
            try:
                msgs, note = clean_messages(conv)
            except BAD_CONVERSATION as e:
                out.append(failed_generation(f"bad conversation: {type(e).__name__}: {e}"))
                continue
            try:
                reply = llm.create_chat_completion(msgs, max_tokens=max_new_tokens, stop=list(stop or []),
                                                   **self._sampling(temperature))
            except (RuntimeError, ValueError, OSError) as e:  # e.g. it does not fit the context
                out.append(failed_generation(f"llama.cpp could not chat: {type(e).__name__}: {e}", note))
                continue
            out.append(self._generation(reply, reply["choices"][0]["message"]["content"] or "", stop, note, False))
        return out

    def _sampling(self, temperature: float) -> dict:
        """Plain sampling at ``temperature`` (no top-k/top-p/min-p filtering, no repetition penalty); 0 is greedy."""
        return {"temperature": float(max(0.0, temperature)), "top_k": 0, "top_p": 1.0, "min_p": 0.0,
                "repeat_penalty": 1.0, "seed": self.params.seed}

    @staticmethod
    def _generation(reply: dict, text: str, stop, note, truncated: bool) -> Generation:
        usage = reply.get("usage") or {}
        text, hit = cut_at_stop(text, stop)
        finish = "stop" if hit or reply["choices"][0].get("finish_reason") != "length" else "length"
        return Generation(text=text, n_prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          n_tokens=int(usage.get("completion_tokens", 0)), finish_reason=finish,
                          usage=dict(usage), truncated=truncated, note=note)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Content tokens of each text (no BOS), as the continuation would be tokenised."""
        return [len(self._tokens(clean_text(t)[0])) for t in texts]


def _close(ref) -> None:
    llm = ref()
    if llm is not None:
        llm.close()
