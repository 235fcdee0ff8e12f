"""Logistic regression on frozen classifier features: the cheap, deterministic trainer of the proof loop."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from curata.engine.stage import Params
from curata.errors import ConfigError
from curata.train.base import Trainer


class LogRegParams(Params):
    C: float = Field(3.0, gt=0)  # SST-2 + MiniLM: ties the best C from 300 to 3,000 examples, far better below
    max_iter: int = Field(2000, ge=1)
    class_weight: Literal["balanced"] | None = None
    standardise: bool = False


class LogRegTrainer(Trainer):
    """Multinomial logistic regression (lbfgs) on ``Pool.features``; the same pool gives the same model, any seed."""

    name = "logreg"
    deterministic = True
    Params = LogRegParams
    requires = ("sklearn",)

    def _features(self, pool) -> np.ndarray:
        if pool.features is None:
            raise ConfigError(f"trainer.{self.name}", "the pool has no classifier features",
                              "embed the pool first (the logreg trainer reads Pool.features)")
        if len(pool.features) != len(pool):
            raise ValueError(f"{len(pool.features)} feature rows for {len(pool)} records")
        return np.asarray(pool.features, dtype=np.float64)

    def _fit(self, train, y: np.ndarray, seed: int, progress: bool) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        p = self.params
        clf = LogisticRegression(C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, random_state=seed)
        self.model_ = make_pipeline(StandardScaler(), clf) if p.standardise else clf
        self.model_.fit(self._features(train), y)

    def _predict_proba(self, test) -> np.ndarray:
        return self.model_.predict_proba(self._features(test))
