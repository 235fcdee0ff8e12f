"""Trainer base: maps labels onto the pool's vocabulary and handles classes a training subset lacks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from curata.engine.stage import Stage
from curata.errors import ConfigError


class Trainer(Stage):
    """Fits a classifier on a pool and returns probabilities over the full label vocabulary.

    Subclasses implement ``_fit(train, y, seed, progress)`` with ``y`` in ``0..k-1`` over the classes
    present in training (at least two) and ``_predict_proba(test)`` returning ``n × k``. The base expands
    that to every label of ``train.label_names`` (zeros for absent classes) and answers a one-class
    training set with that class.
    """

    role = "trainer"
    deterministic: ClassVar[bool] = False  # True when the fitted model does not depend on the seed

    def __init__(self, **params):
        super().__init__(**params)
        self.label_names_: list[str] | None = None
        self.classes_: np.ndarray | None = None
        self.n_train_: int = 0

    def fit(self, train, seed: int, *, progress: bool = True) -> "Trainer":
        if not train.label_names:
            raise ConfigError(f"trainer.{self.name}", "the training pool has no labels",
                              "name the label field (--label-field) of a labelled pool")
        y = train.label_indices()
        labelled = y >= 0
        if not labelled.any():
            raise ConfigError(f"trainer.{self.name}", "no training record has a label in the pool's vocabulary",
                              "check the label field")
        if not labelled.all():
            train, y = train.take(labelled), y[labelled]
        self.label_names_ = list(train.label_names)
        self.classes_ = np.unique(y)
        self.n_train_ = len(y)
        if len(self.classes_) > 1:
            self._fit(train, np.searchsorted(self.classes_, y), int(seed), progress)
        return self

    def predict_proba(self, test) -> np.ndarray:
        """``n_test × n_labels`` probabilities, columns ordered as the training pool's ``label_names``."""
        if self.classes_ is None:
            raise RuntimeError(f"{type(self).__name__}.predict_proba called before fit")
        out = np.zeros((len(test), len(self.label_names_)), dtype=np.float64)
        if len(test) == 0:
            return out
        if len(self.classes_) == 1:
            out[:, self.classes_[0]] = 1.0
        else:
            out[:, self.classes_] = self._predict_proba(test)
        return out

    def predict(self, test) -> list[str]:
        """The most probable label name per test row."""
        return [self.label_names_[i] for i in self.predict_proba(test).argmax(axis=1)]

    def _fit(self, train, y: np.ndarray, seed: int, progress: bool) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _predict_proba(self, test) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError
