"""The in-memory pool: one row per accepted record plus the arrays stages attach to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

TaskKind = Literal["text", "pair", "instruction"]
TASK_KINDS: tuple[str, ...] = ("text", "pair", "instruction")

#: columns every pool has, in this order, before any stage adds its own
BASE_COLUMNS = ("id", "source_file", "source_line", "text", "label", "raw")
#: task-specific content columns (``text`` is always there: it is what length/MTLD/ZIP-FIT read)
CONTENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "pair": ("left", "right"),
    "instruction": ("instruction", "input", "output"),
}


@dataclass
class Rejection:
    """A record that could not be used, kept with where it came from and why."""

    file: str
    line: int | None
    reason: str
    raw: str

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason, "raw": self.raw}


@dataclass
class Pool:
    """Accepted records (``df``) and everything derived from them, aligned row by row.

    ``embeddings`` are L2-normalised geometry vectors (similarity, clustering, diversity);
    ``features`` are what classifiers train on (for pairs: ``[u, v, |u-v|, u*v]``).
    """

    df: pd.DataFrame
    task: str = "text"
    label_names: list[str] | None = None
    embeddings: np.ndarray | None = None
    features: np.ndarray | None = None
    rejected: list[Rejection] = field(default_factory=list)
    input_format: str = "jsonl"
    header: str | None = None  # CSV header line, so selected rows can be written back verbatim
    #: pairs only: the L2-normalised vectors of the left and of the right record, each ``n × d``
    sides: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.df)

    @property
    def n_in(self) -> int:
        """Records read: accepted plus rejected."""
        return len(self.df) + len(self.rejected)

    @property
    def ids(self) -> pd.Series:
        return self.df["id"]

    @property
    def has_labels(self) -> bool:
        return self.label_names is not None and self.df["label"].notna().any()

    def label_indices(self, names: list[str] | None = None) -> np.ndarray:
        """Integer label per row (-1 where missing), against ``names`` or the pool's vocabulary."""
        names = names if names is not None else self.label_names
        if not names:
            return np.full(len(self.df), -1, dtype=np.int64)
        lookup = {n: i for i, n in enumerate(names)}
        return self.df["label"].map(lambda v: lookup.get(v, -1)).to_numpy(dtype=np.int64)

    def take(self, mask_or_idx) -> "Pool":
        """A new pool with the given rows (boolean mask or integer positions)."""
        idx = np.flatnonzero(mask_or_idx) if np.asarray(mask_or_idx).dtype == bool else np.asarray(mask_or_idx)
        return Pool(
            df=self.df.iloc[idx].reset_index(drop=True),
            task=self.task,
            label_names=self.label_names,
            embeddings=None if self.embeddings is None else self.embeddings[idx],
            features=None if self.features is None else self.features[idx],
            input_format=self.input_format,
            header=self.header,
            sides=None if self.sides is None else (self.sides[0][idx], self.sides[1][idx]),
        )

    def score_columns(self) -> list[str]:
        return [c for c in self.df.columns if c.endswith("_score")]


def natural_sorted(values) -> list[str]:
    """Sort label names numerically when they all look like integers, else lexically."""
    vals = sorted({str(v) for v in values})
    try:
        return sorted(vals, key=lambda v: int(v))
    except ValueError:
        return vals
