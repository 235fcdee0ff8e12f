"""Weighted sums of z-scored columns: ``"target_sim:1, proxy_prob:0.5, -length:0.2"`` → one score per row."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curata.errors import ConfigError

#: what a config may hold for an expression: a string or a ``{column: weight}`` mapping
ExprSpec = str | dict[str, float]

_TERM = re.compile(r"""^(?P<neg>-)?\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*
                      (?::\s*(?P<w>[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))?$""", re.VERBOSE)
_PRODUCERS = {"cluster": "add the `kmeans` scorer", "cluster_dist": "add the `kmeans` scorer",
              "label": "give the input a label field", "label_issue": "add the `label_issues` scorer",
              "is_label_issue": "add the `label_issues` scorer", "inferred_label": "add the `truth_inference` scorer",
              "label_agreement": "add the `truth_inference` scorer",
              "ido_clean_prob": "add the `wrong_events` scorer"}


def parse_terms(spec: ExprSpec) -> list[tuple[str, float]]:
    """``[(name, weight), ...]`` from a string or a mapping; raises ``ValueError`` on bad syntax."""
    terms: list[tuple[str, float]] = []
    if isinstance(spec, dict):
        for name, w in spec.items():
            name, w = str(name).strip(), float(w)
            terms.append((name[1:].strip(), -w) if name.startswith("-") else (name, w))
    else:
        for part in filter(None, (p.strip() for p in str(spec).split(","))):
            m = _TERM.match(part)
            if m is None:
                raise ValueError(f"cannot read {part!r}: write terms as `column:weight`, "
                                 "e.g. `target_sim:1, -length:0.2`")
            w = float(m["w"]) if m["w"] is not None else 1.0
            terms.append((m["name"], -w if m["neg"] else w))
    if not terms:
        raise ValueError("the expression has no terms")
    for name, w in terms:
        if not name or not np.isfinite(w):
            raise ValueError(f"bad term {name!r}: weight {w}")
    return terms


def producer_fix(column: str) -> str:
    """How to get ``column``: which scorer writes it (best guess from the registry's names)."""
    base = column[:-len("_score")] if column.endswith("_score") else column
    if base in _PRODUCERS:
        return _PRODUCERS[base]
    from curata.engine.registry import names
    hits = [s for s in names("scorer") if base == s or base.startswith(s + "_")]
    return f"add the `{max(hits, key=len)}` scorer" if hits else "add a scorer that writes it"


def missing_column(key: str, column: str, df: pd.DataFrame) -> ConfigError:
    have = ", ".join(sorted(c for c in df.columns if c.endswith("_score") or c == "cluster"))
    return ConfigError(key, f"needs the column {column!r}, which the pool does not have",
                       f"{producer_fix(column)} (score columns present: {have or 'none'})")


def resolve(df: pd.DataFrame, name: str, key: str) -> str:
    """Column for ``name``: ``name_score`` when present, else ``name`` itself."""
    if not name.endswith("_score") and f"{name}_score" in df.columns:
        return f"{name}_score"
    if name in df.columns:
        return name
    raise missing_column(key, name if name.endswith("_score") or name in _PRODUCERS else f"{name}_score", df)


def short(column: str) -> str:
    return column[:-len("_score")] if column.endswith("_score") else column


def zscore(values: np.ndarray) -> np.ndarray:
    """(x − mean)/std over finite values; NaN and constant columns give 0."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    out = np.zeros(len(v), dtype=np.float64)
    if ok.sum() < 2:
        return out
    mu, sd = v[ok].mean(), v[ok].std()
    if not sd > 1e-12 * max(1.0, abs(mu)):
        return out
    out[ok] = (v[ok] - mu) / sd
    return out


def _fmt_weight(w: float, first: bool) -> str:
    mag = f"{abs(w):g}"
    if first:
        return f"{'−' if w < 0 else ''}{mag}"
    return f" {'−' if w < 0 else '+'} {mag}"


@dataclass
class Expression:
    """A parsed expression bound to a key (for errors); ``evaluate`` z-scores over the given rows only."""

    terms: list[tuple[str, float]]
    key: str = "select.selector.by"

    @classmethod
    def parse(cls, spec: ExprSpec, key: str = "select.selector.by") -> "Expression":
        try:
            return cls(parse_terms(spec), key)
        except ValueError as e:
            raise ConfigError(key, str(e)) from None

    def columns(self, df: pd.DataFrame) -> list[str]:
        return [resolve(df, name, self.key) for name, _ in self.terms]

    def describe(self, df: pd.DataFrame | None = None) -> str:
        cols = self.columns(df) if df is not None else [n for n, _ in self.terms]
        return "".join(f"{_fmt_weight(w, i == 0)}·z({short(c)})"
                       for i, (c, (_, w)) in enumerate(zip(cols, self.terms)))

    def evaluate(self, df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Combined score for ``rows`` (aligned with ``rows``), z-scored over those rows."""
        rows = np.asarray(rows, dtype=np.int64)
        total = np.zeros(len(rows), dtype=np.float64)
        for col, (_, w) in zip(self.columns(df), self.terms):
            series = df[col]
            try:
                values = pd.to_numeric(series.iloc[rows], errors="raise")
                values = values.to_numpy(dtype=np.float64, na_value=np.nan)
            except (ValueError, TypeError):
                raise ConfigError(self.key, f"column {col!r} is not numeric",
                                  "use a numeric score column in the expression") from None
            total += w * zscore(values)
        return total


def validate_spec(spec: ExprSpec | None) -> ExprSpec | None:
    """Pydantic validator body: check the syntax when the operator is built."""
    if spec is not None:
        parse_terms(spec)
    return spec
