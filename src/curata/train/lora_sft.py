"""LoRA supervised fine-tuning of a causal LM (default the shipped SmolLM2-135M-Instruct) on CPU.

The loss is the mean cross-entropy over response tokens only (prompt and padding are labelled -100), and only
those positions go through the LM head. Batches group records of similar length (``group_by_length``), so
little compute is spent on padding; ``stats_`` reports the padding waste and tokens/s. ``dtype: bfloat16``
runs forward and backward under CPU autocast (LoRA weights and optimizer state stay float32).

Evaluation: ``eval_loss(records)`` is the mean response-token cross-entropy on a target/eval set (lower is
better); ``exact_match(records)`` greedily answers records whose reference is numeric (GSM8K) and compares
the final number. With a run directory every fine-tune is recorded in ``<run>/finetunes/<id>.json``.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from curata.console import tqdm

from curata.engine.stage import Params, Stage
from curata.errors import ConfigError
from curata.lm.models import DEFAULT_LM
from curata.train.finetune import available_cores, torch_threads
from curata.train.sft_data import (collate, encode, eval_batches, format_pair, grouped_batches,
                                   instruction_records, records_sha256)

PRIMARY = "eval_loss"


class LoRASFTParams(Params):
    model: str = DEFAULT_LM  # `smollm2` (shipped), a .gguf file, a local folder or a cached Hub name
    r: int = Field(16, ge=1)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    lr: float = Field(2e-4, gt=0)
    epochs: int = Field(1, ge=1, le=20)
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(512, ge=16)
    max_steps: int | None = Field(None, ge=1)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    seed: int | None = None  # None: the seed given to fit (the evaluation seed)
    num_threads: int | None = Field(None, ge=1)  # None: 1 when the cores are already busy, else all of them
    dtype: Literal["float32", "bfloat16"] = "float32"
    group_by_length: bool = True
    eval_batch_size: int = Field(16, ge=1)
    eval_max_batch_tokens: int | None = Field(4096, ge=16)
    exact_match: int = Field(0, ge=0)  # greedy-answer this many numeric-reference test records (0: off)
    em_max_new_tokens: int = Field(256, ge=1)


def run_root(run_dir) -> Path:
    """The folder of a run directory given as a ``RunDir`` or a path."""
    return Path(run_dir.root if hasattr(run_dir, "cache_dir") else run_dir)


def auto_threads(n: int | None) -> int:
    """``n``, or every core this process may use unless the load average says they are busy (then 1)."""
    if n:
        return n
    cores = available_cores()
    return 1 if os.getloadavg()[0] >= cores else cores


def _autocast(dtype: str):
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16")


def response_nll(model, ids, mask, labels):
    """(per-row sum of response-token NLL, per-row response-token count); the LM head sees only those tokens."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    nll = torch.nn.functional.cross_entropy(logits, target[keep], reduction="none")
    rows = keep.nonzero()[:, 0]
    return (torch.zeros(len(ids), dtype=nll.dtype).index_add(0, rows, nll),
            keep.sum(1))


def eval_loss(model, tok, records, *, max_length: int = 512, batch_size: int = 16,
              max_batch_tokens: int | None = 4096, dtype: str = "float32", progress: bool = False) -> dict:
    """Mean response-token loss of ``model`` on instruction ``records`` (token-weighted ``loss``, and the
    mean of per-record means ``loss_per_record``), with how many records were truncated or skipped."""
    import torch

    enc = encode(tok, instruction_records(records), max_length)
    if not enc.ids:
        return {"loss": float("nan"), "loss_per_record": float("nan"), **enc.summary()}
    sums, counts = np.zeros(len(enc.ids)), np.zeros(len(enc.ids))
    was_training = model.training
    model.eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.inference_mode(), _autocast(dtype):
        for b in tqdm(eval_batches(enc.lengths, batch_size, max_batch_tokens), desc="eval loss", unit="batch",
                      disable=not progress, leave=False):
            s, n = response_nll(model, *collate(enc, b, pad))
            sums[b], counts[b] = s.double().numpy(), n.numpy()
    model.train(was_training)
    return {"loss": float(sums.sum() / counts.sum()), "loss_per_record": float(np.mean(sums / counts)),
            **enc.summary()}


class LoRASFTTrainer(Stage):
    """Fine-tunes LoRA adapters on an instruction selection and measures response loss on a target set."""

    name = "lora_sft"
    role = "trainer"
    Params = LoRASFTParams
    requires = ("torch", "transformers", "peft")
    deterministic: ClassVar[bool] = False
    needs_features: ClassVar[bool] = False
    task_kinds: ClassVar[tuple[str, ...]] = ("instruction",)

    def __init__(self, **params):
        super().__init__(**params)
        self.model_ = self.tokenizer_ = None
        self.losses_: list[float] = []
        self.stats_: dict = {}
        self.record_: dict = {}
        self._record_path: Path | None = None

    def fit(self, train, seed: int | None = None, *, progress: bool = True, run_dir=None) -> "LoRASFTTrainer":
        import torch
        from peft import LoraConfig, get_peft_model

        from curata.lm.models import load_causal_lm

        p = self.params
        seed = int(p.seed if p.seed is not None else (seed or 0))
        records = instruction_records(train)
        threads = auto_threads(p.num_threads)
        with torch_threads(threads):
            model, tok = load_causal_lm(p.model, "float32")
            enc = encode(tok, records, p.max_length)
            if not enc.ids:
                raise ConfigError(f"trainer.{self.name}", f"none of the {len(records)} training records has a "
                                  "response to learn", "check the output field")
            torch.manual_seed(seed)
            model = get_peft_model(model, LoraConfig(r=p.r, lora_alpha=p.alpha, lora_dropout=p.dropout,
                                                     target_modules=list(p.target_modules), task_type="CAUSAL_LM"))
            opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=p.lr,
                                    weight_decay=p.weight_decay)
            total = p.epochs * math.ceil(len(enc.ids) / p.batch_size)
            total = min(total, p.max_steps) if p.max_steps else total
            warm = int(p.warmup_ratio * total)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / (warm + 1) if s < warm
                                                      else max(0.0, (total - s) / max(1, total - warm)))
            rng = np.random.default_rng(seed)
            lengths = enc.lengths
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            self.losses_, step, real, padded, resp, start = [], 0, 0, 0, 0, time.perf_counter()
            model.train()
            with tqdm(total=total, desc=f"lora_sft ({len(enc.ids)} records)", unit="step", disable=not progress,
                      leave=False) as bar:
                while step < total:
                    for b in grouped_batches(lengths, p.batch_size, rng, p.group_by_length):
                        if step >= total:
                            break
                        ids, mask, labels = collate(enc, b, pad)
                        with _autocast(p.dtype):
                            sums, counts = response_nll(model, ids, mask, labels)
                            loss = sums.sum() / counts.sum().clamp(min=1)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_([q for q in model.parameters() if q.requires_grad], 1.0)
                        opt.step()
                        sched.step()
                        self.losses_.append(float(loss.detach()))
                        step, real, padded = step + 1, real + int(mask.sum()), padded + ids.numel()
                        resp += int(counts.sum())
                        bar.update(1)
                        bar.set_postfix(loss=f"{self.losses_[-1]:.3f}")
            seconds = time.perf_counter() - start
        model.eval()
        self.model_, self.tokenizer_ = model, tok
        tail = self.losses_[-max(1, len(self.losses_) // 10):]
        self.stats_ = {"steps": step, "tokens": real, "response_tokens": resp, "padded_tokens": padded,
                       "padding_waste": 1 - real / padded if padded else 0.0, "seconds": round(seconds, 3),
                       "tokens_per_s": real / seconds if seconds > 0 else float("nan"), "threads": threads,
                       "train_loss_first": self.losses_[0], "train_loss_last": float(np.mean(tail)),
                       "data": {"sha256": records_sha256(train), **enc.summary()}}
        self._start_record(seed, run_dir)
        return self

    # evaluation ---------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__}: call fit first")

    def eval_loss(self, records, name: str = "eval", progress: bool = False) -> float:
        """Mean response-token loss on ``records`` (lower is better); details go to ``record_['evals']``."""
        self._check_fitted()
        p = self.params
        with torch_threads(auto_threads(p.num_threads)):
            res = eval_loss(self.model_, self.tokenizer_, records, max_length=p.max_length,
                            batch_size=p.eval_batch_size, max_batch_tokens=p.eval_max_batch_tokens, dtype=p.dtype,
                            progress=progress)
        self._add_eval(name, res)
        return res["loss"]

    def exact_match(self, records, n: int | None = None, name: str = "eval") -> dict:
        """GSM8K-style exact match of the final number on the first ``n`` numeric-reference records."""
        from curata.train.gsm8k import exact_match, reference_number

        self._check_fitted()
        p = self.params
        recs = [r for r in instruction_records(records) if reference_number(r[2]) is not None]
        recs = recs[:n or p.exact_match or len(recs)]
        prompts = [format_pair(self.tokenizer_, r[0], r[1], "")[0] for r in recs]
        with torch_threads(auto_threads(p.num_threads)):
            res = exact_match(self.model_, self.tokenizer_, recs, prompts, p.em_max_new_tokens,
                              p.eval_batch_size, p.dtype == "bfloat16")
        self._add_eval(f"{name}_exact_match", {k: v for k, v in res.items() if k != "answers"})
        return res

    def evaluate(self, test, progress: bool = False) -> dict:
        """The proof loop's metrics on a test set: ``eval_loss`` (primary) and, when asked for and the
        references are numeric, ``exact_match``."""
        from curata.train.gsm8k import numeric_share

        out = {"eval_loss": self.eval_loss(test, name="test", progress=progress), "exact_match": float("nan"),
               "primary": PRIMARY}
        if self.params.exact_match and numeric_share(instruction_records(test)) > 0:
            out["exact_match"] = self.exact_match(test, name="test")["exact_match"]
        return out

    # run-directory record -----------------------------------------------------------------------------
    def _start_record(self, seed: int, run_dir) -> None:
        import torch

        data = self.stats_["data"]["sha256"]
        fid = hashlib.sha256(f"{self.fingerprint()}|{data}|{seed}".encode()).hexdigest()[:16]
        self.record_ = {"id": fid, "trainer": self.name, "config": self.params.model_dump(mode="json"),
                        "seed": seed, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                        "machine": {"platform": platform.platform(), "torch": torch.__version__},
                        **{k: v for k, v in self.stats_.items()}, "evals": {}}
        self._record_path = None
        if run_dir is not None:
            self._record_path = run_root(run_dir) / "finetunes" / f"{fid}.json"
            self._write_record()

    def _add_eval(self, name: str, res: dict) -> None:
        self.record_.setdefault("evals", {})[name] = res
        self._write_record()

    def _write_record(self) -> None:
        if self._record_path is not None:
            from curata.engine.atomic import write_json

            write_json(self._record_path, self.record_)
