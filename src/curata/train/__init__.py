"""Trainers for the proof loop: fit on a selection, predict class probabilities on a test split."""

from curata.train.base import Trainer
from curata.train.metrics import classification_metrics

__all__ = ["Trainer", "classification_metrics"]
