"""A local Hugging Face causal LM as an LM backend: batched log-likelihoods, generation and chat on CPU.

Token boundaries: the prompt and the continuation are tokenised *separately* and concatenated, so the
continuation's tokens are the same whatever precedes it (a word split across the boundary is scored as
the continuation tokenises alone). The tokenizer's BOS (if it adds one) starts every prompt, unless the
prompt text already begins with it; an empty prompt is just BOS (or EOS for tokenizers without a BOS).

Batching: requests are sorted by length and packed so batches waste little padding; rows are padded on
the left with explicit position ids, so every row's continuation ends at the last column and only those
positions go through the LM head (``logits_to_keep``). Log-probabilities are taken in float32.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

import numpy as np
from curata.console import tqdm

from curata.engine.stage import Params
from curata.lm._common import (BAD_CONVERSATION, EMPTY_CONTINUATION, clean_messages, clean_text, cut_at_stop,
                               failed_generation, failed_ll, join_notes, length_order, pack, truncate_pair)
from curata.lm.base import Generation, LMBackend, LogLikelihood
from curata.lm.models import DEFAULT_LM, load_causal_lm, smollm2_gguf_path

_LOADED: dict[str, tuple] = {}
_STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>")


class TransformersParams(Params):
    model: str = DEFAULT_LM
    max_length: int = 2048
    batch_size: int = 8
    max_batch_tokens: int | None = 4096  # padded tokens per batch (bounds the float32 logits in memory)
    dtype: Literal["float32", "bfloat16"] = "float32"  # bfloat16 = CPU autocast over float32 weights
    num_threads: int | None = None  # None: every core this process may use
    seed: int = 0  # for sampling at temperature > 0 (each prompt draws from its own seeded generator)


class TransformersLM(LMBackend):
    """A local causal LM (default the shipped SmolLM2-135M-Instruct) behind the LM interface, on CPU."""

    name = "transformers"
    Params = TransformersParams

    def __init__(self, **params):
        super().__init__(**params)
        self._model = self._tok = None

    @property
    def model_key(self) -> str:
        p = self.params
        blob = f"{self.version}|{_model_identity(p.model)}|{p.max_length}|{p.dtype}|{p.seed}"
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def load(self):
        """(model, tokenizer), loaded once per process and shared by backends naming the same model."""
        import torch

        torch.set_num_threads(self.params.num_threads or len(os.sched_getaffinity(0)))
        if self._model is None:
            if self.params.model not in _LOADED:
                _LOADED[self.params.model] = load_causal_lm(self.params.model, "float32")
            self._model, self._tok = _LOADED[self.params.model]
            limit = getattr(self._model.config, "max_position_embeddings", None) or self.params.max_length
            self.max_length = max(2, min(self.params.max_length, int(limit)))
            tok = self._tok
            self._prefix = _special_prefix(tok)
            self._empty = self._prefix or [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
            eos = self._model.generation_config.eos_token_id
            ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
            vocab = tok.get_vocab()
            self._eos = {i for i in ids | {vocab[t] for t in _STOP_TOKENS if t in vocab} if i is not None}
        return self._model, self._tok

    @property
    def tokenizer(self):
        return self.load()[1]

    @property
    def apply_chat_template(self):
        """``messages -> prompt text`` with the tokenizer's chat template and generation prompt; None without one."""
        tok = self.load()[1]
        if not tok.chat_template:
            return None
        return lambda msgs: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    # log-likelihood -----------------------------------------------------------------------------------
    def encode_requests(self, requests: list[tuple[str, str]]) -> tuple[list[dict], list[LogLikelihood | None]]:
        """Tokenised, truncated rows ({i, prompt, cont, dropped, note}) and results already decided (errors)."""
        self.load()
        done: list[LogLikelihood | None] = [None] * len(requests)
        prompts, conts, notes = [], [], []
        for prompt, cont in requests:
            p, n1 = clean_text(prompt)
            c, n2 = clean_text(cont)
            prompts.append(p)
            conts.append(c)
            notes.append(join_notes(n1, n2))
        p_ids = self._ids(prompts)
        c_ids = self._ids(conts)
        rows = []
        for i in range(len(requests)):
            prompt, n_special = self._with_prefix(p_ids[i])
            if not c_ids[i]:
                done[i] = failed_ll(EMPTY_CONTINUATION, len(prompt), notes[i])
                continue
            prompt, cont, dropped = truncate_pair(prompt, c_ids[i], self.max_length, n_special)
            rows.append({"i": i, "prompt": prompt, "cont": cont, "dropped": dropped, "note": notes[i]})
        return rows, done

    def batches(self, rows: list[dict]) -> list[list[int]]:
        lengths = [len(r["prompt"]) + len(r["cont"]) for r in rows]
        return pack(length_order(lengths), lengths, self.params.batch_size, self.params.max_batch_tokens)

    def batch_tensors(self, seqs: list[list[int]]):
        """Left-padded (input_ids, attention_mask, position_ids) for token sequences."""
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[r, width - len(s):] = 1
        return ids, mask, (mask.cumsum(1) - 1).clamp(min=0)

    def loglikelihood(self, requests: list[tuple[str, str]], progress: bool = False) -> list[LogLikelihood]:
        import torch

        model, _ = self.load()
        rows, out = self.encode_requests(requests)
        with tqdm(total=len(rows), desc="loglikelihood", unit=" req", disable=not progress, leave=False) as bar:
            for batch in self.batches(rows):
                part = [rows[b] for b in batch]
                ids, mask, pos = self.batch_tensors([r["prompt"] + r["cont"] for r in part])
                lengths = [len(r["cont"]) for r in part]
                with torch.inference_mode(), self._autocast():
                    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                                   logits_to_keep=max(lengths) + 1).logits
                    lps = _continuation_logprobs(logits, ids, lengths)
                for row, lp in zip(part, lps):
                    out[row["i"]] = LogLikelihood(lp, len(row["prompt"]), truncated=row["dropped"] > 0,
                                                  dropped=row["dropped"], note=row["note"])
                bar.update(len(part))
        return out

    # generation ---------------------------------------------------------------------------------------
    def generate(self, prompts: list[str], max_new_tokens: int = 128, temperature: float = 0.0,
                 stop: list[str] | None = None, progress: bool = False) -> list[Generation]:
        self.load()
        cleaned = [clean_text(p) for p in prompts]
        ids = [self._with_prefix(x)[0] for x in self._ids([c for c, _ in cleaned])]
        return self._generate_ids(ids, [n for _, n in cleaned], max_new_tokens, temperature, stop, progress)

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 128, temperature: float = 0.0,
             progress: bool = False, stop: list[str] | None = None) -> list[Generation]:
        render = self.apply_chat_template
        texts, notes, bad = [], [], {}
        for i, conv in enumerate(conversations):
            try:
                msgs, note = clean_messages(conv)
                if render is not None:
                    text = render(msgs)
                else:
                    text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant:"
                    note = join_notes(note, "the tokenizer has no chat template: plain 'role: content' lines used")
            except BAD_CONVERSATION as e:
                bad[i] = failed_generation(f"bad conversation: {type(e).__name__}: {e}")
                text, note = "", None
            texts.append(text)
            notes.append(note)
        ids = [x or self._empty for x in self._ids(texts)]
        out = self._generate_ids(ids, notes, max_new_tokens, temperature, stop, progress)
        return [bad.get(i, g) for i, g in enumerate(out)]

    def _generate_ids(self, prompts: list[list[int]], notes: list, max_new_tokens: int, temperature: float,
                      stop: list[str] | None, progress: bool) -> list[Generation]:
        self.load()
        max_new_tokens = max(1, min(max_new_tokens, self.max_length - 1))
        room = self.max_length - max_new_tokens
        fitted = []
        for i, p in enumerate(prompts):
            n_special = len(self._prefix) if p[:len(self._prefix)] == self._prefix else 0
            q, _, dropped = truncate_pair(p, [], room, n_special)
            if dropped:
                notes[i] = join_notes(notes[i], f"prompt cut from the left by {dropped} token(s) to fit max_length")
            fitted.append((q, dropped))
        out: list[Generation | None] = [None] * len(prompts)
        lengths = [len(q) for q, _ in fitted]
        with tqdm(total=len(prompts), desc="generate", unit=" prompt", disable=not progress, leave=False) as bar:
            for batch in pack(length_order(lengths), lengths, self.params.batch_size, None):
                decoded = self._decode([fitted[b][0] for b in batch], max_new_tokens, temperature, stop)
                for b, (new, text, finish) in zip(batch, decoded):
                    q, dropped = fitted[b]
                    out[b] = Generation(text=text, n_prompt_tokens=len(q), n_tokens=len(new), finish_reason=finish,
                                        truncated=dropped > 0, note=notes[b])
                bar.update(len(batch))
        return out

    def _decode(self, seqs: list[list[int]], max_new_tokens: int, temperature: float, stop) -> list[tuple]:
        """(new tokens, text, finish reason) per prompt: one left-padded batch decoded with a KV cache."""
        import torch

        model, tok = self.load()
        ids, mask, pos = self.batch_tensors(seqs)
        gens = [self._generator(s) for s in seqs] if temperature > 0 else None
        new: list[list[int]] = [[] for _ in seqs]
        finish: list[str | None] = [None] * len(seqs)
        texts = [""] * len(seqs)
        cache = None
        with torch.inference_mode(), self._autocast():
            for _ in range(max_new_tokens):
                res = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                            use_cache=True, logits_to_keep=1)
                cache = res.past_key_values
                nxt = self._pick(res.logits[:, -1].float(), temperature, gens)
                for r, t in enumerate(nxt):
                    if finish[r]:
                        continue
                    new[r].append(t)
                    if t in self._eos:
                        finish[r] = "stop"
                    elif stop:
                        texts[r], hit = cut_at_stop(tok.decode(new[r], skip_special_tokens=True), stop)
                        finish[r] = "stop" if hit else None
                if all(finish):
                    break
                ids = torch.tensor(nxt, dtype=torch.long).unsqueeze(1)
                mask = torch.cat([mask, torch.ones_like(ids)], 1)
                pos = pos[:, -1:] + 1
        return [(n, texts[r] if finish[r] and stop else tok.decode([t for t in n if t not in self._eos],
                                                                    skip_special_tokens=True), finish[r] or "length")
                for r, n in enumerate(new)]

    def _pick(self, logits, temperature: float, gens) -> list[int]:
        import torch

        if temperature <= 0:
            return logits.argmax(-1).tolist()
        probs = torch.softmax(logits / temperature, -1)
        return [int(torch.multinomial(probs[r], 1, generator=g)) for r, g in enumerate(gens)]

    def _generator(self, prompt: list[int]):
        import torch

        digest = hashlib.sha256(f"{self.params.seed}|{prompt}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))

    # tokens -------------------------------------------------------------------------------------------
    def count_tokens(self, texts: list[str]) -> list[int]:
        """Content tokens of each text (no BOS/EOS added), as the continuation would be tokenised."""
        self.load()
        return [len(x) for x in self._ids([clean_text(t)[0] for t in texts])]

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self._tok(texts, add_special_tokens=False)["input_ids"]

    def _with_prefix(self, ids: list[int]) -> tuple[list[int], int]:
        """(prompt ids starting with the tokenizer's special prefix, its length); empty → BOS alone."""
        if not ids:
            return list(self._empty), len(self._empty)
        pre = self._prefix
        if pre and ids[:len(pre)] == pre:
            return list(ids), len(pre)
        return pre + list(ids), len(pre)

    def _autocast(self):
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.params.dtype == "bfloat16")


def _continuation_logprobs(logits, ids, lengths: list[int], chunk: int = 32) -> list[np.ndarray]:
    """Float32 log-probs of each row's last ``lengths[r]`` tokens from left-padded logits (B, k+1, V) that
    end at the last column; only those positions, ``chunk`` at a time so the float copies stay in cache."""
    import torch

    b, w, v = logits.shape
    k = w - 1
    cols = torch.arange(k).unsqueeze(0)
    keep = (cols >= k - torch.tensor(lengths).unsqueeze(1)).reshape(-1)
    where = (torch.arange(b).unsqueeze(1) * w + cols).reshape(-1)[keep]
    targets = ids[:, ids.shape[1] - k:].reshape(-1)[keep]
    flat = logits.view(-1, v)
    out = torch.empty(len(where), dtype=torch.float32)
    for s in range(0, len(where), chunk):
        x = flat[where[s:s + chunk]].float()
        out[s:s + chunk] = x.gather(-1, targets[s:s + chunk, None]).squeeze(-1) - torch.logsumexp(x, -1)
    return np.split(out.numpy(), np.cumsum(lengths)[:-1])


def _special_prefix(tok) -> list[int]:
    """The ids the tokenizer puts before a text (e.g. BOS), found by comparing with and without specials."""
    with_sp = tok("a", add_special_tokens=True)["input_ids"]
    plain = tok("a", add_special_tokens=False)["input_ids"]
    n = len(with_sp) - len(plain)
    return list(with_sp[:n]) if n > 0 and with_sp[n:n + len(plain)] == plain else []


def _model_identity(model: str) -> str:
    """What the model's outputs depend on, without loading it: file names, sizes and times for local models."""
    path = smollm2_gguf_path() if model == DEFAULT_LM else Path(model)
    if not path.exists():
        return model
    files = [path] if path.is_file() else sorted(f for f in path.iterdir() if f.is_file())
    return "|".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
