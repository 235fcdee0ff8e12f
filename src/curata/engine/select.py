"""The select step: exclusion rules, then a selector's priority order cut to the budget."""

from __future__ import annotations

import ast
import hashlib
import json
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curata.engine.budget import Budget
from curata.engine.stage import Selector, SelectorResult
from curata.errors import ConfigError


@dataclass
class ExcludeRule:
    """Records where ``when`` (a pandas expression over columns) is true are not candidates.

    ``reason`` is a template filled from the record's columns, e.g. ``"near-duplicate of {near_dup_of}"``.
    ``optional`` rules whose columns are missing are skipped with a note instead of an error.
    """

    when: str
    reason: str = ""
    optional: bool = False

    def columns(self) -> set[str]:
        try:
            tree = ast.parse(self.when, mode="eval")
        except SyntaxError as e:
            raise ConfigError("select.exclude", f"cannot parse {self.when!r}: {e.msg}") from None
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"True", "False", "None"}

    def template_fields(self) -> set[str]:
        return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(self.reason) if f}

    def reason_for(self, row: pd.Series) -> str:
        if not self.reason:
            return f"excluded: {self.when}"
        fields = {f for _, f, _, _ in string.Formatter().parse(self.reason) if f}
        try:
            return self.reason.format(**{f: row[f] for f in fields})
        except (KeyError, ValueError, TypeError):
            return self.reason


class Select:
    """``Select(selector, budget=0.1, exclude=[ExcludeRule(...)])``: the last stage of a pipeline."""

    def __init__(self, selector: Selector, budget: Budget | str | float | int = 0.1,
                 exclude: list[ExcludeRule] | None = None, token_column: str = "length_score"):
        self.selector = selector
        self.budget = budget if isinstance(budget, Budget) else Budget.parse(budget)
        self.exclude = exclude or []
        self.token_column = token_column

    def fingerprint(self) -> str:
        blob = json.dumps({"sel": self.selector.fingerprint(), "budget": [self.budget.kind, self.budget.value],
                           "exclude": [(r.when, r.reason) for r in self.exclude], "tok": self.token_column})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def apply_exclusions(self, df: pd.DataFrame, notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(excluded mask, reason per row or None, the rule that excluded it or None)."""
        excluded = np.zeros(len(df), dtype=bool)
        reasons = np.full(len(df), None, dtype=object)
        rule_of = np.full(len(df), None, dtype=object)
        for i, rule in enumerate(self.exclude):
            missing = rule.columns() - set(df.columns)
            missing_fields = rule.template_fields() - set(df.columns)
            if missing_fields and not missing:
                raise ConfigError(f"select.exclude[{i}].reason", f"the reason names unknown column(s) "
                                  f"{sorted(missing_fields)}", "use {column} with a column of records.parquet")
            if missing:
                if rule.optional:
                    notes.append(f"exclude rule {rule.when!r} skipped: no column(s) {sorted(missing)}")
                    continue
                raise ConfigError(f"select.exclude[{i}].when", f"unknown column(s) {sorted(missing)}",
                                  f"available: {', '.join(sorted(c for c in df.columns if c != 'raw'))}")
            hit = df.eval(rule.when, engine="python")
            hit = np.asarray(pd.Series(hit).fillna(False).astype(bool))
            new = hit & ~excluded
            for r in np.flatnonzero(new):
                reasons[r] = rule.reason_for(df.iloc[r])
            rule_of[new] = rule.when
            excluded |= hit
        return excluded, reasons, rule_of

    def run(self, pool, ctx, notes: list[str]) -> tuple[pd.DataFrame, SelectorResult]:
        """Columns ``selected``, ``reason``, ``select_rank`` (+ selector columns) aligned with the pool."""
        df = pool.df
        n = len(df)
        excluded, ex_reasons, rule_of = self.apply_exclusions(df, notes)
        candidates = np.flatnonzero(~excluded)
        cap = self.budget.max_records(n, key="select.budget")
        tokens = None
        if self.budget.kind == "tokens":
            if self.token_column not in df.columns:
                raise ConfigError("select.budget", f"a token budget needs the column {self.token_column!r}",
                                  "add the `length` scorer")
            tokens = df[self.token_column].to_numpy(dtype=float)
            mean = max(1.0, float(tokens[candidates].mean())) if len(candidates) else 1.0
            cap = int(min(len(candidates), np.ceil(self.budget.value / mean * 1.5)))
        n_target = min(cap, len(candidates))
        if n_target < cap:
            notes.append(f"only {len(candidates)} candidates remain after exclusions; budget asked for {cap}")
        result = self.selector.order(pool, candidates, n_target, ctx) if len(candidates) else \
            SelectorResult(order=np.array([], dtype=np.int64), describe=self.selector.describe())
        order = np.asarray(result.order, dtype=np.int64)
        if len(np.unique(order)) != len(order) or (len(order) and excluded[order].any()):
            raise RuntimeError(f"selector {self.selector.name} returned duplicate or excluded rows")
        chosen = _cut(order, n_target, tokens, self.budget.value if tokens is not None else None)
        selected = np.zeros(n, dtype=bool)
        selected[chosen] = True
        rank = np.full(n, -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        reason = np.empty(n, dtype=object)
        budget_txt = str(self.budget) + (f" = {n_target} records" if self.budget.kind == "fraction" else "")
        for r in range(n):
            if excluded[r]:
                reason[r] = ex_reasons[r]
            elif selected[r]:
                reason[r] = result.reasons.get(r, f"chosen by {result.describe} (priority {rank[r] + 1})")
            elif r in result.skipped_reasons:
                reason[r] = result.skipped_reasons[r]
            elif rank[r] >= 0:
                reason[r] = f"priority {rank[r] + 1} by {result.describe}: below the budget cut ({budget_txt})"
            else:
                reason[r] = f"not reached by {result.describe} within the budget ({budget_txt})"
        cols = pd.DataFrame({"excluded": excluded, "exclude_rule": rule_of, "selected": selected,
                             "select_rank": rank, "reason": reason})
        for name, values in result.columns.items():
            cols[name] = values
        return cols, result


def _cut(order: np.ndarray, n_target: int, tokens: np.ndarray | None, token_budget: float | None) -> np.ndarray:
    if tokens is None:
        return order[:n_target]
    used, keep = 0.0, []
    for r in order:
        t = tokens[r]
        if used + t <= token_budget:
            keep.append(r)
            used += t
        if used >= token_budget:
            break
    return np.array(keep, dtype=np.int64)
