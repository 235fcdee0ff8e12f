"""Any OpenAI-compatible HTTP server (vLLM, llama.cpp server, hosted APIs) as an LM backend, stdlib only.

``chat`` posts to ``<base_url>/chat/completions``, ``generate`` to ``<base_url>/completions``.
``loglikelihood`` posts ``prompt_prefix`` + prompt + continuation to ``/completions`` with ``echo=True,
logprobs=1, max_tokens=echo_max_tokens`` (default 1: llama-cpp-python reads 0 as "no limit"; a server
refusing 0 gets 1) and splits the echoed tokens at the prompt's end by their ``text_offset``.
Assumptions: offsets are character positions in the echoed text, which is the text sent, possibly
without leading special tokens (llama-cpp-python drops a leading BOS; the shift is found by matching the
tokens' text); tokens at or past the end of the text sent were generated and are ignored; a token that
spans the boundary counts as continuation (the result's ``note`` says so); the server tokenises the whole
text at once, so token boundaries can differ from the transformers backend's separate tokenisation; a
token the server gives no log-probability (the first one, so with an empty prompt the continuation's
first token) is not scored and the ``note`` says so. llama-cpp-python's server misaligns echoed
log-probabilities by one token for GGUFs that add no BOS (SmolLM2): set ``prompt_prefix`` to the BOS
text (``<|im_start|>``). Servers without echo/logprobs (most hosted chat APIs) get an ``error`` per
request; so do texts longer than the server's context (nothing is cut silently).

The API key is read from the environment variable ``api_key_env`` at each request; it is never logged,
stored, or included in error messages (any echo of it is masked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from curata.console import tqdm

from curata.engine.stage import Params
from curata.lm._common import (BAD_CONVERSATION, EMPTY_CONTINUATION, clean_messages, clean_text, cut_at_stop,
                               failed_generation, failed_ll, join_notes)
from curata.lm.base import Generation, LMBackend, LogLikelihood

log = logging.getLogger("curata")
NO_LOGPROBS = "the server does not return echoed prompt log-probabilities (echo=True, logprobs on /completions)"


class OpenAIParams(Params):
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "default"
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0  # seconds per HTTP request
    max_retries: int = 4  # on timeouts, connection errors, 429 and 5xx; never on other 4xx
    backoff: float = 1.0  # first wait in seconds; doubles per retry, with ±50% jitter
    max_backoff: float = 30.0
    concurrency: int = 4  # requests in flight at once
    cost_per_1k_prompt_tokens: float = 0.0
    cost_per_1k_completion_tokens: float = 0.0
    seed: int = 0  # sent with sampled (temperature > 0) requests
    prompt_prefix: str = ""  # text put before every log-likelihood prompt, e.g. the model's BOS token text
    echo_max_tokens: int = 1  # max_tokens of log-likelihood requests (0 where the server reads it as none)


class _Failure(Exception):
    pass


class OpenAILM(LMBackend):
    """An OpenAI-compatible endpoint behind the LM interface, with retries, a concurrency limit and cost accounting."""

    name = "openai"
    Params = OpenAIParams

    def __init__(self, **params):
        super().__init__(**params)
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "retries": 0,
                      "errors": 0}
        self._lock = threading.Lock()
        self._min_tokens = self.params.echo_max_tokens
        self._tokenize_route: tuple | None = None
        self._rng = random.Random(self.params.seed)

    @property
    def model_key(self) -> str:
        p = self.params
        blob = f"{self.version}|{p.base_url.rstrip('/')}|{p.model}|{p.seed}|{p.prompt_prefix}"
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    # HTTP ---------------------------------------------------------------------------------------------
    def _secret(self) -> str | None:
        return os.environ.get(self.params.api_key_env) or None

    def _mask(self, text: str) -> str:
        key = self._secret()
        return text.replace(key, "***") if key else text

    def _post(self, path: str, body: dict, root: bool = False) -> dict:
        """POST JSON and return the parsed reply, retrying transient failures; raises ``_Failure``."""
        base = self.params.base_url.rstrip("/")
        url = (base[:-3] if root and base.endswith("/v1") else base) + path
        headers = {"Content-Type": "application/json"}
        if key := self._secret():
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        last, retry_after = "", 0.0
        for attempt in range(self.params.max_retries + 1):
            if attempt:
                with self._lock:
                    self.usage["retries"] += 1
                wait = min(self.params.max_backoff, self.params.backoff * 2 ** (attempt - 1))
                wait = max(wait * (0.5 + self._rng.random()), retry_after)
                log.warning("LM request %s failed (%s); retry %d/%d in %.1fs", path, last, attempt,
                            self.params.max_retries, wait)
                time.sleep(wait)
            retry_after = 0.0
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data, headers, method="POST"),
                                            timeout=self.params.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as e:
                detail = self._mask(e.read(500).decode("utf-8", "replace").strip())
                last = f"HTTP {e.code}: {detail[:300]}"
                if e.code == 429 or e.code >= 500:
                    retry_after = min(_float(e.headers.get("Retry-After")), self.params.max_backoff)
                    continue
                raise _Failure(last) from None
            except (TimeoutError, OSError, ConnectionError) as e:
                last = self._mask(f"{type(e).__name__}: {getattr(e, 'reason', e)}")
                continue
            try:
                reply = json.loads(raw)
            except ValueError:
                raise _Failure(f"malformed JSON from the server: {self._mask(raw[:200].decode('utf-8', 'replace'))!r}")
            if not isinstance(reply, dict):
                raise _Failure("the server's reply is not a JSON object")
            return reply
        n = self.params.max_retries + 1
        raise _Failure(f"gave up after {n} attempt{'s' if n > 1 else ''}: {last}")

    def _account(self, reply: dict) -> dict:
        u = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        pt, ct = int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
        cost = (pt * self.params.cost_per_1k_prompt_tokens + ct * self.params.cost_per_1k_completion_tokens) / 1000
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += pt
            self.usage["completion_tokens"] += ct
            self.usage["cost"] += cost
        return {"prompt_tokens": pt, "completion_tokens": ct, "cost": cost}

    def _map(self, fn, items: list, desc: str, progress: bool, fail) -> list:
        """``fn`` over items, ``concurrency`` at a time, in order; one item's failure never stops the rest."""
        def safe(item):
            try:
                return fn(item)
            except _Failure as e:
                with self._lock:
                    self.usage["errors"] += 1
                return fail(str(e))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
                with self._lock:
                    self.usage["errors"] += 1
                return fail(f"unexpected reply from the server ({type(e).__name__}: {self._mask(str(e))})")

        out = []
        with ThreadPoolExecutor(max_workers=max(1, self.params.concurrency)) as pool, \
                tqdm(total=len(items), desc=desc, unit=" req", disable=not progress, leave=False) as bar:
            for r in pool.map(safe, items):
                out.append(r)
                bar.update(1)
        return out

    # verbs --------------------------------------------------------------------------------------------
    def generate(self, prompts: list[str], max_new_tokens: int = 128, temperature: float = 0.0,
                 stop: list[str] | None = None, progress: bool = False) -> list[Generation]:
        def one(prompt):
            text, note = clean_text(prompt)
            body = self._sampling({"prompt": text}, max_new_tokens, temperature, stop)
            return self._generation(self._post("/completions", body), lambda c: c["text"], stop, note)

        return self._map(one, list(prompts), "generate", progress, failed_generation)

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 128, temperature: float = 0.0,
             progress: bool = False, stop: list[str] | None = None) -> list[Generation]:
        def one(conv):
            try:
                msgs, note = clean_messages(conv)
            except BAD_CONVERSATION as e:
                raise _Failure(f"bad conversation: {type(e).__name__}: {e}") from None
            body = self._sampling({"messages": msgs}, max_new_tokens, temperature, stop)
            return self._generation(self._post("/chat/completions", body),
                                    lambda c: c["message"]["content"] or "", stop, note)

        return self._map(one, list(conversations), "chat", progress, failed_generation)

    def _sampling(self, body: dict, max_new_tokens: int, temperature: float, stop) -> dict:
        body = {"model": self.params.model, **body, "max_tokens": int(max_new_tokens),
                "temperature": float(temperature)}
        if stop:
            body["stop"] = list(stop)
        if temperature > 0:
            body["seed"] = self.params.seed
        return body

    def _generation(self, reply: dict, text_of, stop, note) -> Generation:
        choices = reply.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Failure("the server's reply has no choices")
        usage = self._account(reply)
        text, hit = cut_at_stop(str(text_of(choices[0])), stop)
        finish = "stop" if hit else (choices[0].get("finish_reason") or "stop")
        return Generation(text=text, n_prompt_tokens=usage["prompt_tokens"], n_tokens=usage["completion_tokens"],
                          finish_reason="length" if finish == "length" else "stop", usage=usage, note=note)

    def loglikelihood(self, requests: list[tuple[str, str]], progress: bool = False) -> list[LogLikelihood]:
        return self._map(self._one_loglikelihood, list(requests), "loglikelihood", progress, failed_ll)

    def _one_loglikelihood(self, request: tuple[str, str]) -> LogLikelihood:
        prompt, n1 = clean_text(request[0])
        cont, n2 = clean_text(request[1])
        note = join_notes(n1, n2)
        if not cont:
            return failed_ll(EMPTY_CONTINUATION, note=note)
        prompt = self.params.prompt_prefix + prompt
        body = {"model": self.params.model, "prompt": prompt + cont, "echo": True, "logprobs": 1,
                "temperature": 0.0, "max_tokens": self._min_tokens}
        try:
            reply = self._post("/completions", body)
        except _Failure as e:
            if self._min_tokens or not str(e).startswith("HTTP 4"):
                raise
            reply = self._post("/completions", {**body, "max_tokens": 1})
            self._min_tokens = 1  # the server refuses max_tokens=0; the extra token is cut off by its offset
        choices = reply.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Failure("the server's reply has no choices")
        usage = self._account(reply)
        lp = choices[0].get("logprobs") or {}
        tokens, logprobs, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
        if not tokens or logprobs is None or offsets is None or not len(tokens) == len(logprobs) == len(offsets):
            return failed_ll(NO_LOGPROBS, note=note)
        lps, n_prompt, spans, unscored, shift = _split_at(prompt + cont, len(prompt), tokens, logprobs, offsets)
        if not lps:
            return failed_ll(NO_LOGPROBS if unscored else "no continuation tokens in the server's echo", n_prompt,
                             note)
        if spans:
            note = join_notes(note, "a token spans the prompt/continuation boundary; counted as continuation")
        if unscored:
            note = join_notes(note, f"{unscored} continuation token(s) without a log-probability were not scored")
        if shift is None:
            note = join_notes(note, "the echoed tokens do not spell the text sent; boundary placed by text_offset")
        return LogLikelihood(np.asarray(lps, np.float32), n_prompt, note=note, usage=usage)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens as the server counts them (``/tokenize`` of vLLM / llama.cpp, or llama-cpp-python's
        ``/extras/tokenize/count``); where the server has neither, an estimate of 1 token per 4 characters."""
        routes = [self._tokenize_route] if self._tokenize_route else [
            ("/extras/tokenize/count", lambda t: {"input": t}), ("/tokenize", lambda t: {"model": self.params.model,
                                                                                         "prompt": t}),
            ("/tokenize", lambda t: {"content": t})]
        out = []
        for text in texts:
            text = clean_text(text)[0]
            n = None
            for route in routes:
                try:
                    reply = self._post(route[0], route[1](text), root=True)
                    n = int(reply["count"]) if "count" in reply else len(reply["tokens"])
                    self._tokenize_route, routes = route, [route]
                    break
                except (_Failure, KeyError, TypeError, ValueError):
                    continue
            if n is None:
                if routes:
                    log.warning("the LM server has no tokenize route: token counts are estimated (chars / 4)")
                routes = []
                n = (len(text) + 3) // 4
            out.append(n)
        return out


def _split_at(text: str, n_prompt_chars: int, tokens, logprobs, offsets):
    """(continuation log-probs, prompt tokens, a token spans the boundary?, unscored continuation tokens,
    characters of ``text`` the echo left out at its start, or None when the tokens do not spell ``text``)."""
    echoed = "".join(t or "" for t in tokens)
    shift = next((k for k in range(min(len(text), 64) + 1) if echoed.startswith(text[k:])), None)
    cut, end = n_prompt_chars - (shift or 0), len(text) - (shift or 0)
    lps, n_prompt, spans, unscored = [], 0, False, 0
    for tok, lp, off in zip(tokens, logprobs, offsets):
        off = int(off)
        if off >= end:
            break  # a generated token, not part of the text sent
        if off + len(tok or "") <= cut:
            n_prompt += 1
            continue
        spans = spans or off < cut
        if lp is None:
            unscored += 1
        else:
            lps.append(float(lp))
    return lps, n_prompt, spans, unscored, shift


def _float(value) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0
