"""KNN-Shapley data value of every labelled record, against the target set or cross-fitted within the pool."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from curata.console import tqdm

from curata.embed.base import normalise
from curata.engine.stage import Params, Scorer
from curata.errors import ConfigError
from curata.value.knn_shapley import knn_shapley

log = logging.getLogger("curata")


class KnnShapleyParams(Params):
    k: int = Field(10, ge=1)
    validation: Literal["target", "crossfit", "auto"] = "auto"
    folds: int = Field(5, ge=2)
    max_validation: int | None = Field(10_000, ge=1)  # validation points per valuation (a seeded sample)
    seed: int | None = None  # None: the run's seed (folds, validation sample)


def target_problem(pool, target) -> str | None:
    """Why the target set cannot validate this pool's labels (None when it can)."""
    if target is None:
        return "no target set was given"
    if target.embeddings is None:
        return "the target set has no embeddings"
    given = target.df["label"].dropna()
    if given.empty:
        return "the target set has no labels"
    unknown = sorted(set(map(str, given)) - set(pool.label_names or []))
    if unknown:
        return f"target labels not in the pool's labels: {', '.join(unknown[:5])}"
    return None


class KnnShapleyScorer(Scorer):
    """``knn_shapley_score``: each labelled record's exact KNN-Shapley value (high = valuable, < 0 = harmful).

    The value is the record's Shapley value for a K-NN classifier (cosine distance on ``pool.embeddings``, the
    L2-normalised geometry vectors; for pairs the vector of left + right) judged by accuracy on a labelled
    validation set (``curata.value.knn_shapley``). A negative value means the record's label disagrees with
    the validation points it is near: a label-noise suspect, or a record from a region where the task is
    ambiguous. Rank by the value rather than trusting its sign alone: a record also earns O(1/rank) credit
    from far-away validation points of its label (the utility counts it in subsets smaller than K), which can
    lift a flipped record above 0 in small or strongly clustered pools while it still ranks lowest.

    ``validation``: ``target`` values the pool against the target set (it must carry the pool's labels);
    ``crossfit`` splits the labelled pool into ``folds`` seeded random folds and values each fold's records
    against the other folds' records. The pool cannot simply validate itself: a record would be its own
    nearest neighbour (distance 0, same label) and so credit itself, a mislabelled one included. Cross-fitted
    values are therefore each record's worth to a K-NN trained on its own fold (≈ n/folds records) for
    predicting the rest of the pool; folds are random and equal-sized, so values from different folds are on
    one scale. ``auto`` = ``target`` when the target set is labelled with the pool's labels, else
    ``crossfit``. At most ``max_validation`` validation points (a seeded sample) are used per valuation;
    values average over them. Unlabelled records get NaN.
    """

    name = "knn_shapley"
    outputs = ('knn_shapley_score',)
    Params = KnnShapleyParams
    needs_embeddings = True
    needs_labels = True

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        rng = np.random.default_rng(seed)
        names = list(pool.label_names or [])
        y = pool.label_indices()
        lab = np.flatnonzero(y >= 0)
        x = normalise(pool.embeddings)
        out = np.full(len(pool), np.nan)

        problem = target_problem(pool, ctx.target)
        mode = p.validation
        if mode == "target" and problem:
            raise ConfigError("scorers.knn_shapley.validation",
                              f"cannot value against the target set: {problem}",
                              "give a target set labelled like the pool, or use validation: crossfit")
        if mode == "auto":
            mode = "crossfit" if problem else "target"

        def sample(rows: np.ndarray) -> np.ndarray:
            if p.max_validation is None or len(rows) <= p.max_validation:
                return rows
            return np.sort(rng.choice(rows, p.max_validation, replace=False))

        n_val, folds = 0, None
        if mode == "target":
            t = ctx.target
            ty = t.label_indices(names)
            vrows = sample(np.flatnonzero(ty >= 0))
            n_val = len(vrows)
            out[lab] = knn_shapley(x[lab], y[lab], normalise(t.embeddings)[vrows], ty[vrows], k=p.k,
                                   progress=ctx.progress, desc="knn_shapley")
            how = f"against {n_val} target records"
        else:
            folds = min(p.folds, len(lab))
            if folds < 2:
                how = "not computed: fewer than two labelled records to cross-fit"
            else:
                parts = np.array_split(rng.permutation(lab), folds)
                for f in tqdm(range(folds), desc="knn_shapley folds", disable=not ctx.progress, leave=False):
                    train = np.sort(parts[f])
                    vrows = sample(np.sort(np.concatenate([parts[g] for g in range(folds) if g != f])))
                    n_val = max(n_val, len(vrows))
                    out[train] = knn_shapley(x[train], y[train], x[vrows], y[vrows], k=p.k, progress=False)
                how = (f"cross-fitted over {folds} folds "
                       f"(each fold against up to {n_val} records of the others)")

        valued = ~np.isnan(out)
        n_neg = int((out[valued] < 0).sum())
        note = (f"knn_shapley: K={p.k}, {how}; {n_neg} of {int(valued.sum())} labelled records have a "
                f"negative value (harmful to a K-NN classifier)")
        if problem and p.validation == "auto" and ctx.target is not None:
            note += f"; target set not used ({problem})"
        log.debug(note)
        ctx.notes.append(note)
        ctx.save_artifact("knn_shapley_summary", {
            "mode": mode, "k": p.k, "folds": folds,
            "validation_points": n_val,
            "n_valued": int(valued.sum()), "n_negative": n_neg,
            "sum": float(np.nansum(out)), "min": float(np.nanmin(out)) if valued.any() else None,
            "max": float(np.nanmax(out)) if valued.any() else None})
        return pd.DataFrame({"knn_shapley_score": out})
