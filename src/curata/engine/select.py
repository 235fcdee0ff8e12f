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
    #: at most this share of any label's records may be excluded by the capped rules together (None: no cap):
    #: a number, or a column holding a share per record (e.g. ``label_noise_in_label``, the estimated share of
    #: wrong labels in the record's label), read per label. Records beyond the cap stay candidates; the most
    #: clearly excluded (``worst_first``) go first
    max_share_per_label: float | str | None = None
    #: the protecting rules together never leave a label fewer candidates than ``PROTECT`` × its label-floor
    #: quota (at least one): enough for the floor to be met from records the rules let through. The records
    #: kept back are the least clearly excluded (``worst_first``)
    protect_labels: bool = False
    #: an expression (weighted z-scores, as in ``by``): higher = more clearly excluded; used by caps
    worst_first: str | None = None

    def columns(self) -> set[str]:
        try:
            tree = ast.parse(self.when, mode="eval")
        except SyntaxError as e:
            raise ConfigError("select.exclude", f"cannot parse {self.when!r}: {e.msg}") from None
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"True", "False", "None"}

    def missing(self, columns) -> list[str]:
        """Columns the rule reads (``when`` exactly; ``worst_first`` terms with or without ``_score``) that are
        not in ``columns``."""
        out = [c for c in self.columns() if c not in columns]
        if isinstance(self.max_share_per_label, str) and self.max_share_per_label not in columns:
            out.append(self.max_share_per_label)
        if self.worst_first:
            from curata.selectors.expr import parse_terms
            try:
                terms = [t for t, _ in parse_terms(self.worst_first)]
            except ValueError as e:
                raise ConfigError("select.exclude.worst_first", str(e)) from None
            out += [t for t in terms if t not in columns and f"{t}_score" not in columns]
        return sorted(set(out))

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
                 exclude: list[ExcludeRule] | None = None, token_column: str = "length_score",
                 label_floor: float = 0.25):
        self.selector = selector
        self.budget = budget if isinstance(budget, Budget) else Budget.parse(budget)
        self.exclude = exclude or []
        self.token_column = token_column
        #: every label with candidates keeps at least ⌈label_floor · B / K⌉ selected records (0: off)
        self.label_floor = float(label_floor)

    def fingerprint(self) -> str:
        blob = json.dumps({"sel": self.selector.fingerprint(), "budget": [self.budget.kind, self.budget.value],
                           "exclude": [(r.when, r.reason, r.max_share_per_label, r.worst_first, r.protect_labels)
                                       for r in self.exclude],
                           "tok": self.token_column, "floor": self.label_floor, "v": 2})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def check(self, columns: set[str] | None, has_labels: bool, notes: list[str]) -> None:
        """Before any slow stage: every rule and the selector can find their columns (``columns`` = what the
        pool and the pipeline's scorers will hold; None when a scorer does not declare its outputs)."""
        if columns is not None:
            for i, rule in enumerate(self.exclude):
                missing = rule.missing(columns)
                if not missing:
                    continue
                if rule.optional:
                    notes.append(f"exclude rule {rule.when!r} skipped: no scorer in this pipeline writes "
                                 f"{', '.join(missing)}")
                    continue
                from curata.selectors.expr import producer_fix
                raise ConfigError(f"select.exclude[{i}].when", f"names column(s) {missing} that no scorer in this "
                                  f"pipeline writes", producer_fix(missing[0]))
        self.selector.check(columns, has_labels)

    def _protected_minimum(self, df: pd.DataFrame) -> int:
        """Candidates every label keeps under the protecting rules: ``PROTECT`` × the label-floor quota."""
        from curata.engine.guard import PROTECT, floor_quota, label_codes

        codes, values = label_codes(df)
        if self.budget.kind == "tokens":
            t = df[self.token_column].to_numpy(dtype=float) if self.token_column in df.columns else np.ones(len(df))
            b = int(np.ceil(self.budget.value / max(1.0, float(np.nanmean(t)) if len(t) else 1.0)))
        else:
            b = self.budget.max_records(len(df), key="select.budget")
        return max(1, PROTECT * floor_quota(min(b, len(df)), len(values), self.label_floor))

    def apply_exclusions(self, df: pd.DataFrame, notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(excluded mask, reason per row or None, the rule that excluded it or None)."""
        keep = self._protected_minimum(df) if any(r.protect_labels for r in self.exclude) else 0
        excluded = np.zeros(len(df), dtype=bool)
        by_capped = np.zeros(len(df), dtype=bool)  # what the capped rules have excluded so far: one budget
        reasons = np.full(len(df), None, dtype=object)
        rule_of = np.full(len(df), None, dtype=object)
        for i, rule in enumerate(self.exclude):
            missing = set(rule.missing(set(df.columns)))
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
            if rule.max_share_per_label is not None:
                hit = self._cap(df, rule, i, hit, ~excluded, by_capped, notes)
                by_capped |= hit & ~excluded
            if rule.protect_labels:
                hit = self._protect(df, rule, i, hit, ~excluded, keep, notes)
            new = hit & ~excluded
            for r in np.flatnonzero(new):
                reasons[r] = rule.reason_for(df.iloc[r])
            rule_of[new] = rule.when
            excluded |= hit
        return excluded, reasons, rule_of

    @staticmethod
    def _cap(df: pd.DataFrame, rule: ExcludeRule, i: int, hit: np.ndarray, eligible: np.ndarray,
             by_capped: np.ndarray, notes: list[str]) -> np.ndarray:
        from curata.engine.guard import cap_per_label, label_codes
        from curata.selectors.expr import Expression

        codes, values = label_codes(df)
        if not values:
            return hit
        cap = rule.max_share_per_label
        if isinstance(cap, str):  # a share per label, read from a column (the same on every row of a label)
            col = pd.to_numeric(df[cap], errors="coerce").to_numpy(dtype=np.float64)
            share = np.array([np.nanmax(col[codes == c]) if np.isfinite(col[codes == c]).any() else 0.0
                              for c in range(len(values))])
        else:
            share = np.full(len(values), float(cap))
        severity = None
        if rule.worst_first:
            severity = Expression.parse(rule.worst_first, f"select.exclude[{i}].worst_first").evaluate(
                df, np.arange(len(df)))
        capped, info = cap_per_label(hit, eligible, codes, share, severity, counted=by_capped)
        for code, (would, allowed, size) in info.items():
            order = f", most clearly first by {rule.worst_first}" if rule.worst_first else ""
            what = f"{cap} = {share[code]:.0%}" if isinstance(cap, str) else f"{share[code]:.0%}"
            notes.append(f"exclude rule {rule.when!r} would remove {would} more of the {size} records labelled "
                         f"{values[code]!r}; the label rules may exclude at most {what} of the label: removed "
                         f"{allowed}{order}, the other {would - allowed} stay candidates")
        return capped

    @staticmethod
    def _protect(df: pd.DataFrame, rule: ExcludeRule, i: int, hit: np.ndarray, eligible: np.ndarray, keep: int,
                 notes: list[str]) -> np.ndarray:
        from curata.engine.guard import label_codes, protect_labels
        from curata.selectors.expr import Expression

        codes, values = label_codes(df)
        if not values:
            return hit
        severity = None
        if rule.worst_first:
            severity = Expression.parse(rule.worst_first, f"select.exclude[{i}].worst_first").evaluate(
                df, np.arange(len(df)))
        out, info = protect_labels(hit, eligible, codes, keep, severity)
        for code, (would, spared, size) in info.items():
            order = f" (the least clearly excluded by {rule.worst_first})" if rule.worst_first else ""
            notes.append(f"exclude rule {rule.when!r} would leave label {values[code]!r} fewer than {keep} "
                         f"candidates (it would remove {would} of the {size}); {spared} of them stay "
                         f"candidates{order}")
        return out

    def run(self, pool, ctx, notes: list[str], alerts: list[str] | None = None
            ) -> tuple[pd.DataFrame, SelectorResult]:
        """Columns ``selected``, ``reason``, ``select_rank`` (+ selector columns) aligned with the pool.

        Starved labels, sources and clusters are appended to ``alerts`` (see ``curata.engine.guard``)."""
        from curata.engine.guard import cut_with_floor, label_codes, representation_alerts

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
        codes, labels = label_codes(df)
        unranked = np.setdiff1d(candidates, order)
        unranked = np.random.default_rng(ctx.seed).permutation(unranked) if len(unranked) else unranked
        chosen, promoted, demoted, floor_n = cut_with_floor(
            order, n_target, codes, self.label_floor, tokens, self.budget.value if tokens is not None else None,
            fallback=unranked)
        if promoted:
            took = pd.Series([labels[c] for c in promoted.values()]).value_counts()
            notes.append(f"label floor ({floor_n} records per label = ⌈{self.label_floor:g} · budget / labels⌉): "
                         + ", ".join(f"{v} more record(s) of {k!r}" for k, v in took.items())
                         + f" taken in {result.describe}'s order, in place of {len(demoted)} lower-priority "
                         "record(s) of other labels")
        selected = np.zeros(n, dtype=bool)
        selected[chosen] = True
        if alerts is not None:
            alerts.extend(representation_alerts(df, selected, excluded, rule_of))
        rank = np.full(n, -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        rank_txt = {r: f"priority {rank[r] + 1} by {result.describe}" if rank[r] >= 0 else
                    f"not ranked by {result.describe}; drawn at random among its label's candidates"
                    for r in promoted}
        reason = np.empty(n, dtype=object)
        budget_txt = str(self.budget) + (f" = {n_target} records" if self.budget.kind == "fraction" else "")
        for r in range(n):
            if excluded[r]:
                reason[r] = ex_reasons[r]
            elif r in promoted:
                reason[r] = (f"label floor: kept so that {labels[promoted[r]]!r} has at least {floor_n} selected "
                             f"records ({rank_txt[r]})")
            elif r in demoted:
                reason[r] = (f"priority {rank[r] + 1} by {result.describe}, within the budget, but gave its place "
                             "to a record of an under-represented label (label floor)")
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

