"""Fine-tunes a transformer encoder (MiniLM by default) with a mean-pooled classification head on CPU."""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

import numpy as np
from pydantic import Field
from curata.console import tqdm

from curata.embed.sentence_transformer import DEFAULT_MODEL, resolve_model
from curata.engine.stage import Params
from curata.errors import ConfigError
from curata.label.wrong_events import prediction_changes
from curata.train.base import Trainer


class FineTuneParams(Params):
    model: str = DEFAULT_MODEL  # `minilm` (shipped), a local folder, or a Hub name already in the cache
    lr: float = Field(1e-4, gt=0)  # SST-2, 3 epochs: beat 2e-5 and 5e-5 at 200 examples, tied 5e-5 at 1,000
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(128, ge=8)
    max_steps: int | None = Field(None, ge=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    eval_batch_size: int = Field(64, ge=1)
    num_threads: int | None = Field(None, ge=1)  # None: every core this process may run on
    count_wrong_events: bool = False  # IDO's wrong events (METHODS §7.2), from the training logits


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mean_pool_classifier(encoder, n_labels: int, dropout: float):
    """``encoder`` + attention-masked mean pooling (how MiniLM was trained) + dropout + a linear head."""
    import torch

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, batch):
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(self.dropout(pooled))

    return MeanPoolClassifier()


class FineTuneTrainer(Trainer):
    """Full fine-tuning with AdamW and linear warm-up/decay; pairs are read as a cross-encoder (left, right).

    Seeded (head init, dropout, data order); ``losses_`` holds the training loss per step and ``stats_``
    the throughput. With ``count_wrong_events`` it fills ``wrong_events_``, ``visits_`` and
    ``prediction_changes_`` (see the ``mlp`` trainer) from the logits of each step. Loads offline and writes
    nothing to disk.
    """

    name = "finetune"
    Params = FineTuneParams
    requires = ("torch", "transformers")

    def __init__(self, **params):
        super().__init__(**params)
        self._tokenizer = None
        self.model_ = None
        self.losses_: list[float] = []
        self.stats_: dict[str, float] = {}
        self._progress = True
        self.wrong_events_: np.ndarray | None = None
        self.visits_: np.ndarray | None = None
        self.prediction_changes_: list[int] = []

    def _load_encoder(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = resolve_model(self.params.model)
        local = Path(path).is_dir()
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            if self._tokenizer is None:
                self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
            return AutoModel.from_pretrained(path, local_files_only=local)
        except Exception as e:
            raise ConfigError(f"trainer.{self.name}.model", f"cannot load {self.params.model!r} "
                              f"({type(e).__name__}: {e})",
                              "give a local model folder, or `minilm` for the shipped default") from e
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()

    def _inputs(self, pool) -> tuple[list[str], list[str] | None]:
        if pool.task == "pair":
            return pool.df["left"].astype(str).tolist(), pool.df["right"].astype(str).tolist()
        return pool.df["text"].astype(str).tolist(), None

    def _encode(self, first: list[str], second: list[str] | None, idx: np.ndarray):
        a = [first[i] for i in idx]
        b = None if second is None else [second[i] for i in idx]
        return dict(self._tokenizer(a, b, padding=True, truncation="longest_first",
                                    max_length=self.params.max_length, return_tensors="pt"))

    def _fit(self, train, y: np.ndarray, seed: int, progress: bool) -> None:
        import torch
        from transformers import get_linear_schedule_with_warmup

        p = self.params
        self._progress = progress
        first, second = self._inputs(train)
        n = len(first)
        with torch_threads(p.num_threads or available_cores()):
            encoder = self._load_encoder()
            torch.manual_seed(seed)
            model = mean_pool_classifier(encoder, len(self.classes_), p.dropout)
            no_decay = [prm for nm, prm in model.named_parameters() if nm.endswith("bias") or "LayerNorm" in nm]
            decay = [prm for nm, prm in model.named_parameters() if not (nm.endswith("bias") or "LayerNorm" in nm)]
            opt = torch.optim.AdamW([{"params": decay, "weight_decay": p.weight_decay},
                                     {"params": no_decay, "weight_decay": 0.0}], lr=p.lr)
            total = p.epochs * math.ceil(n / p.batch_size)
            total = min(total, p.max_steps) if p.max_steps else total
            sched = get_linear_schedule_with_warmup(opt, int(p.warmup_ratio * total), total)
            labels = torch.as_tensor(y, dtype=torch.long)
            rng = np.random.default_rng(seed)
            self.losses_, step, seen, start = [], 0, 0, time.perf_counter()
            counting = p.count_wrong_events
            if counting:
                self.wrong_events_, self.visits_ = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
                self.prediction_changes_, last = [], None
            model.train()
            with tqdm(total=total, desc=f"finetune ({n} examples)", unit="step", disable=not progress,
                      leave=False) as bar:
                while step < total:
                    order = rng.permutation(n)
                    current = np.full(n, -1, dtype=np.int64)
                    for s in range(0, n, p.batch_size):
                        if step >= total:
                            break
                        idx = order[s:s + p.batch_size]
                        logits = model(self._encode(first, second, idx))
                        loss = torch.nn.functional.cross_entropy(logits, labels[idx])
                        if counting:
                            current[idx] = logits.detach().argmax(dim=1).numpy()
                            self.wrong_events_[idx] += current[idx] != y[idx]
                            self.visits_[idx] += 1
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                        opt.step()
                        sched.step()
                        self.losses_.append(float(loss.detach()))
                        step, seen = step + 1, seen + len(idx)
                        bar.update(1)
                        bar.set_postfix(loss=f"{self.losses_[-1]:.3f}")
                    if counting:
                        if last is not None:
                            self.prediction_changes_.append(prediction_changes(last, current))
                        last = current
            elapsed = time.perf_counter() - start
        model.eval()
        self.model_ = model
        self.stats_ = {"steps": step, "examples": seen, "seconds": elapsed,
                       "examples_per_s": seen / elapsed if elapsed > 0 else float("nan"),
                       "threads": p.num_threads or available_cores()}

    def _predict_proba(self, test) -> np.ndarray:
        import torch

        first, second = self._inputs(test)
        lengths = np.array([len(a) + (0 if second is None else len(second[i])) for i, a in enumerate(first)])
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(first), len(self.classes_)), dtype=np.float64)
        bs = self.params.eval_batch_size
        with torch_threads(self.params.num_threads or available_cores()), torch.inference_mode():
            for s in tqdm(range(0, len(order), bs), desc="predict", unit="batch", leave=False,
                          disable=not self._progress or len(order) <= bs):
                idx = order[s:s + bs]
                out[idx] = torch.softmax(self.model_(self._encode(first, second, idx)), dim=-1).double().numpy()
        return out
