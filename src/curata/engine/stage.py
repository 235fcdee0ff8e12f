"""The base of every operator: typed parameters, declared dependencies, a fingerprint for caching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from curata._deps import require
from curata.errors import ConfigError


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Params(BaseModel):
    """Base for operator parameters: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def format_validation_error(prefix: str, err: ValidationError) -> ConfigError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    key = f"{prefix}.{loc}" if loc else prefix
    return ConfigError(key, first["msg"], f"{len(err.errors()) - 1} more problem(s)" if len(err.errors()) > 1 else "")


class Stage:
    """One step of a pipeline. Subclasses set ``name``, ``role``, ``Params`` and implement their verb.

    ``requires`` lists importable modules the operator needs; they are checked when it is built,
    so a missing extra fails before any work starts.
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = ""
    version: ClassVar[str] = "1"  # bump when the output of the same params changes, to invalidate caches
    Params: ClassVar[type[BaseModel]] = NoParams
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    def __init__(self, **params: Any):
        try:
            self.params = self.Params(**params)
        except ValidationError as e:
            raise format_validation_error(f"{self.role}.{self.name}", e) from None
        if self.requires:
            require(type(self).__name__, *self.requires, extra=self.extra)

    def fingerprint(self) -> str:
        blob = json.dumps({"name": self.name, "role": self.role, "version": self.version,
                           "params": self.params.model_dump(mode="json")}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class Scorer(Stage):
    """Adds columns (``<name>_score`` and helpers) to the pool. Reads, never selects."""

    role = "scorer"
    needs_embeddings: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    needs_target: ClassVar[bool] = False
    #: the columns ``score`` adds (None: not declared, so rules naming columns are checked only when they run)
    outputs: ClassVar[tuple[str, ...] | None] = None

    def score(self, pool, ctx) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def artifacts(self) -> dict[str, Any]:
        """Extra outputs (arrays, summaries) to store beside the columns; see ``ctx.save_artifact``."""
        return {}


@dataclass
class SelectorResult:
    """A selector's answer: candidate positions in priority order, and why.

    ``order`` indexes pool rows; the engine takes the longest prefix that fits the budget.
    ``reasons`` maps a pool row to the reason it was chosen (or not) when the selector knows better
    than the generic text; ``columns`` are extra per-row outputs (e.g. ``bandit_arm``); ``log`` is a
    replayable trace (bandit pulls) written to the run directory.
    """

    order: np.ndarray
    describe: str
    reasons: dict[int, str] = field(default_factory=dict)
    skipped_reasons: dict[int, str] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


class Selector(Stage):
    """Reads columns plus a budget and returns candidate rows in priority order, with reasons."""

    role = "selector"
    #: columns read besides those named by parameters (``by``, ``reward``, ``stratify``, ``column``)
    needs_columns: ClassVar[tuple[str, ...]] = ()

    def check(self, columns: set[str] | None, has_labels: bool) -> None:
        """Fail before any slow stage when a column the selector reads will not exist.

        ``columns`` is what the pool and the pipeline's scorers will hold (None: unknown — a scorer does not
        declare its outputs). Reads the parameters ``by``/``reward`` (expressions), ``stratify``/``column``
        (a column) and ``stratify_label``."""
        from curata.selectors.expr import parse_terms, producer_fix

        p = self.params.model_dump()
        for key in ("stratify", "column", "stratify_label"):
            wants = p.get(key) == "label" if key != "stratify_label" else bool(p.get(key))
            if wants and not has_labels:
                raise ConfigError(f"select.selector.{key}", "the pool has no labels to stratify by",
                                  "give the input a label field (--label-field), or use a recipe that needs "
                                  "none (e.g. --recipe diverse)")
        if columns is None:
            return
        wanted: list[tuple[str, str]] = [(k, str(p[k])) for k in ("stratify", "column")
                                         if p.get(k) and p.get(k) != "label"]
        wanted += [(k, name) for k in ("by", "reward") if p.get(k) for name, _ in parse_terms(p[k])]
        wanted += [("name", c) for c in self.needs_columns]
        for key, name in wanted:
            if name not in columns and f"{name}_score" not in columns:
                raise ConfigError(f"select.selector.{key}", f"needs the column {name!r}, which no scorer in this "
                                  "pipeline writes", producer_fix(name))

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:  # pragma: no cover
        raise NotImplementedError
