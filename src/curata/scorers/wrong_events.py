"""Wrong events (IDO, METHODS §7): how often a model in training disagreed with each record's label."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curata.engine.stage import Params, Scorer
from curata.label.wrong_events import BetaMixture, base_epoch

log = logging.getLogger("curata")
MIN_PER_LABEL = 20


class WrongEventsParams(Params):
    trainer: Literal["mlp", "finetune"] = "mlp"  # finetune: count with the MiniLM encoder (slow on CPU)
    epochs: int = Field(10, ge=1)
    bmm_iterations: int = Field(20, ge=1)
    #: fit the beta mixture inside each label (labels with ≥ 20 records; smaller ones share the pool's fit),
    #: so a class the model finds hard as a whole (the rare class of a matching task) is not called noisy
    #: wholesale: a record is judged against the records of its own label
    per_label: bool = True
    trainer_params: dict[str, Any] = Field(default_factory=dict)  # passed on to the trainer
    seed: int | None = None  # None: the run's seed


class WrongEventsScorer(Scorer):
    """IDO Stage 1 on the labelled pool: train once, counting per record the visits that missed its label.

    Columns: ``wrong_events`` (the count), ``wrong_events_score`` (count / visits, the share of training
    visits whose prediction differed from the label: higher = more likely mislabelled) and ``ido_clean_prob`` (the
    posterior of the clean, low-count component of a two-component beta mixture fitted on the counts — inside
    each label with ``per_label``, so records are judged against their own label, not against the majority).
    The trainer is ``mlp`` on the classifier features (the embeddings when there are none) or ``finetune``.
    Counts cover every epoch, as in IDO's Stage 1; the base epoch (§7.3) is reported in the note.
    Unlabelled rows are not trained on: their count is missing and their scores NaN.
    """

    name = "wrong_events"
    version = "2"  # beta mixture per label
    outputs = ('wrong_events', 'wrong_events_score', 'ido_clean_prob')
    Params = WrongEventsParams
    requires = ("torch", "scipy")
    needs_embeddings = True
    needs_labels = True

    def __init__(self, **params):
        super().__init__(**params)
        self._trainer()  # a bad trainer parameter fails when the scorer is built, not after the embedding

    def _trainer(self):
        from curata.train.finetune import FineTuneTrainer
        from curata.train.mlp import MLPTrainer

        p = self.params
        if p.trainer == "finetune":
            return FineTuneTrainer(**{"epochs": p.epochs, **p.trainer_params, "count_wrong_events": True})
        return MLPTrainer(**{"epochs": p.epochs, **p.trainer_params})

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        y = pool.label_indices()
        lab = np.flatnonzero(y >= 0)
        train = pool.take(lab)
        if p.trainer == "mlp" and train.features is None:
            train = dataclasses.replace(train, features=train.embeddings)
        trainer = self._trainer().fit(train, seed, progress=ctx.progress)
        counts = trainer.wrong_events_
        visits = trainer.visits_
        if counts is None:  # one class only: nothing was trained, nothing disagreed
            counts, visits = np.zeros(len(lab), dtype=np.int64), np.zeros(len(lab), dtype=np.int64)
        bmm = BetaMixture().fit(counts, p.bmm_iterations)
        clean = bmm.predict(counts).p_clean
        fits = {}
        if p.per_label:
            y_lab = y[lab]
            for code in np.unique(y_lab):
                mask = y_lab == code
                if mask.sum() >= MIN_PER_LABEL:
                    own = BetaMixture().fit(counts[mask], p.bmm_iterations)
                    pc = own.predict(counts[mask]).p_clean
                    name = pool.label_names[code]
                    if (pc < 0.5).mean() > 0.5:
                        # more than half a label "noisy" breaks the premise that most of a label is right: the
                        # model never learned the label, its counts do not tell clean from noisy. Judged against
                        # the label itself, records at or below its median count are clean.
                        med = np.median(counts[mask])
                        pc = np.where(counts[mask] <= med, 1.0, pc)
                        ctx.notes.append(f"wrong_events: label {name!r}: its own mixture called more than half of "
                                         f"its records noisy (the model rarely predicts {name!r}); records at or "
                                         f"below the label's median count ({med:g}) are treated as clean")
                    clean[mask] = pc
                    fits[name] = own.describe()
        changes = list(trainer.prediction_changes_)
        base = base_epoch(changes)
        n = len(pool)
        we = pd.array(np.full(n, pd.NA), dtype="Int64")
        we[lab] = counts
        score, prob = np.full(n, np.nan), np.full(n, np.nan)
        score[lab] = np.divide(counts, visits, out=np.zeros(len(lab)), where=visits > 0)
        prob[lab] = clean
        n_noisy = int((clean < 0.5).sum())
        fit = bmm.describe()
        where = (f"beta mixtures fitted inside each label ({', '.join(map(repr, fits))})" if fits else
                 f"beta mixture clean Beta({fit['clean']['alpha']:.3g}, {fit['clean']['beta']:.3g}) weight "
                 f"{fit['clean']['weight']:.3f}, noisy Beta({fit['noisy']['alpha']:.3g}, "
                 f"{fit['noisy']['beta']:.3g}) weight {fit['noisy']['weight']:.3f}")
        note = (f"wrong_events: {n_noisy} of {len(lab)} labelled records have ido_clean_prob < 0.5; {where}, "
                f"on counts {fit['range'][0]:g}–{fit['range'][1]:g}; base epoch {base} "
                f"(prediction changes per epoch {changes})")
        log.debug("%s", note)
        ctx.notes.append(note)
        ctx.save_artifact("wrong_events_summary", {
            "trainer": trainer.describe(), "bmm": fit, "bmm_per_label": fits, "n_clean_prob_below_half": n_noisy,
            "prediction_changes": changes, "base_epoch": base, "labelled": int(len(lab))})
        return pd.DataFrame({"wrong_events": we, "wrong_events_score": score, "ido_clean_prob": prob})
