"""Keep every label represented, and say loudly when a selection starves a label, a source or a cluster.

Two mechanisms and one check, used by the select step (``curata.engine.select``):

* ``cap_per_label`` — exclusion rules with ``max_share_per_label`` remove together at most that share of any
  label's records (the most clearly excluded first), so a rule that judges records against the majority
  (a proxy model that never predicts the rare class, say) cannot empty a label. The default recipe caps its
  label rules at confident learning's estimate of the label's wrong share (``label_noise_in_label``).
* ``protect_labels`` — rules marked ``protect_labels`` (the default recipes' label rules) never leave a label
  fewer than ``PROTECT`` × its floor quota of candidates: the floor below can then be met from records the
  rules let through, and a rule cannot silently empty a label.
* ``cut_with_floor`` — when the selector's priority order is cut to the budget, every label with candidates
  keeps at least ``⌈floor · B / K⌉`` selected records (B the budget in records, K the labels with
  candidates; ``floor = 0.25`` gives a quarter of an equal share), taking that label's next records in the
  selector's own order and giving back the lowest-priority records of labels above their floor.
* ``representation_alerts`` — after selection: a label with no selected record, or with less than
  ``UNDER`` (half) of its pool share; a source file (when there are several) likewise; a k-means cluster
  holding ≥ ``CLUSTER_SHARE`` (5%) of the pool with nothing selected (budgets of ≥ 20 records); and an
  exclusion rule that removed more than half of a label's records. Each alert is one line, shown in the
  notes, ``summary.json`` (``alerts``) and at the top of the report.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: a group is under-represented when its selected share is below UNDER × its pool share
UNDER = 0.5
#: label rules with ``protect_labels`` leave every label at least PROTECT × its floor quota of candidates
PROTECT = 2
#: smallest expected count (pool share × budget) for the under-representation alert
MIN_EXPECTED = 2.0
#: clusters at least this share of the pool must not be left empty (budgets of MIN_CLUSTER_BUDGET or more)
CLUSTER_SHARE = 0.05
MIN_CLUSTER_BUDGET = 20


def label_codes(df: pd.DataFrame) -> tuple[np.ndarray, list]:
    """(code per row, −1 where unlabelled; label values)."""
    if "label" not in df.columns or df["label"].isna().all():
        return np.full(len(df), -1, dtype=np.int64), []
    codes, uniques = df["label"].factorize(sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), list(uniques)


def cap_per_label(hit: np.ndarray, eligible: np.ndarray, codes: np.ndarray, share, severity: np.ndarray | None,
                  counted: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, tuple[int, int, int]]]:
    """``hit`` limited so that, per label, at most ``floor(share · label size)`` of the label's records are
    excluded by the capped rules together: this one and the ``counted`` exclusions of earlier capped rules
    (default: every earlier exclusion). ``share`` is one number or one per label code.

    ``eligible`` marks rows not yet excluded by an earlier rule; the ``severity`` (higher = more clearly
    excluded) decides who stays hit, ties by position. Returns the capped mask and, per capped label code,
    (would newly exclude, allowed newly, label size).
    """
    out = hit.copy()
    capped: dict[int, tuple[int, int, int]] = {}
    sizes = np.bincount(codes[codes >= 0], minlength=int(codes.max()) + 1 if (codes >= 0).any() else 0)
    shares = np.broadcast_to(np.asarray(share, dtype=np.float64), sizes.shape)
    counted = ~eligible if counted is None else counted
    for code, size in enumerate(sizes):
        rows = np.flatnonzero(hit & eligible & (codes == code))
        already = int((counted & (codes == code)).sum())
        allowed = max(0, int(math.floor(shares[code] * size + 1e-9)) - already)
        if len(rows) <= allowed:
            continue
        sev = np.zeros(len(rows)) if severity is None else np.nan_to_num(severity[rows], nan=-np.inf)
        keep = rows[np.lexsort((rows, -sev))[:allowed]]
        out[rows] = False
        out[keep] = True
        capped[code] = (len(rows), allowed, int(size))
    return out, capped


def protect_labels(hit: np.ndarray, eligible: np.ndarray, codes: np.ndarray, keep: int,
                   severity: np.ndarray | None) -> tuple[np.ndarray, dict[int, tuple[int, int, int]]]:
    """``hit`` limited so that every label keeps at least ``keep`` candidates (rows eligible and not hit);
    the rows spared are the least severe. Returns the mask and, per protected label code, (would newly exclude,
    spared, label size)."""
    out = hit.copy()
    info: dict[int, tuple[int, int, int]] = {}
    for code in np.unique(codes[codes >= 0]):
        label = codes == code
        rows = np.flatnonzero(hit & eligible & label)
        left = int((eligible & label).sum()) - len(rows)
        short = min(len(rows), keep - left)
        if short <= 0:
            continue
        sev = np.zeros(len(rows)) if severity is None else np.nan_to_num(severity[rows], nan=np.inf)
        spare = rows[np.lexsort((rows, sev))[:short]]  # least clearly excluded first
        out[spare] = False
        info[int(code)] = (len(rows), int(short), int(label.sum()))
    return out, info


def floor_quota(n_target: int, n_labels: int, floor: float) -> int:
    """``⌈floor · B / K⌉``, never more than an equal share (so the floors fit in the budget)."""
    if not n_labels or floor <= 0:
        return 0
    return min(int(math.ceil(floor * n_target / n_labels)), n_target // n_labels)


def cut_with_floor(order: np.ndarray, n_target: int, codes: np.ndarray, floor: float,
                   tokens: np.ndarray | None = None, token_budget: float | None = None,
                   fallback: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, int], set[int], int]:
    """(chosen rows, promoted row → label code, demoted rows, floor in records) for the priority ``order``.

    Without labels (all codes −1) or with ``floor = 0`` this is the plain cut: the longest prefix within the
    budget (records, or tokens with a greedy fill). Records promoted for the floor come from ``order`` past
    the cut, then from ``fallback`` (candidates the selector did not rank, in a seeded random order).
    """
    base = _plain_cut(order, n_target, tokens, token_budget)
    full = order if fallback is None or not len(fallback) else np.concatenate([order, fallback])
    in_order = codes[full] if len(full) else np.array([], dtype=np.int64)
    present = np.unique(in_order[in_order >= 0])
    if floor <= 0 or len(present) < 2:
        return base, {}, set(), 0
    n_budget = len(base) if tokens is not None else n_target
    q = floor_quota(n_budget, len(present), floor)
    chosen = set(base.tolist())
    order = full
    rank = {int(r): i for i, r in enumerate(order)}
    count = {int(c): 0 for c in present}
    for r in base:
        if codes[r] >= 0:
            count[int(codes[r])] += 1
    need = {c: min(q, int((in_order == c).sum())) for c in count}
    promoted: dict[int, int] = {}
    for c in sorted(count, key=lambda c: count[c]):
        if count[c] >= need[c]:
            continue
        for r in order[in_order == c]:
            if count[c] >= need[c]:
                break
            if int(r) not in chosen:
                chosen.add(int(r))
                promoted[int(r)] = c
                count[c] += 1
    demoted: set[int] = set()

    def over() -> bool:
        if tokens is not None:
            return float(tokens[list(chosen)].sum()) > token_budget
        return len(chosen) > n_target

    for r in sorted(chosen, key=lambda r: -rank[r]):  # lowest priority first
        if not over():
            break
        c = int(codes[r])
        if r in promoted or (c >= 0 and count[c] <= need[c]):
            continue
        chosen.discard(r)
        demoted.add(r)
        if c >= 0:
            count[c] -= 1
    for r in sorted(promoted, key=lambda r: -rank[r]):  # a token budget the floors do not fit: the budget wins
        if not over():
            break
        chosen.discard(r)
        del promoted[r]
    out = np.array(sorted(chosen, key=lambda r: rank[r]), dtype=np.int64)
    return out, promoted, demoted, q


def _plain_cut(order: np.ndarray, n_target: int, tokens: np.ndarray | None, token_budget: float | None) -> np.ndarray:
    if tokens is None:
        return np.asarray(order[:n_target], dtype=np.int64)
    used, keep = 0.0, []
    for r in order:
        t = tokens[r]
        if used + t <= token_budget:
            keep.append(r)
            used += t
        if used >= token_budget:
            break
    return np.array(keep, dtype=np.int64)


def _share_alerts(kind: str, values: pd.Series, selected: np.ndarray, excluded: np.ndarray) -> list[str]:
    out = []
    n, s = len(values), int(selected.sum())
    if n == 0 or s == 0:
        return out
    for value, count in values.value_counts(sort=False).items():
        mask = (values == value).to_numpy()
        got = int(selected[mask].sum())
        pool_share = count / n
        why = ""
        n_ex = int(excluded[mask].sum())
        if n_ex:
            why = f"; {n_ex} of its {count} were excluded before selection"
        if got == 0:
            out.append(f"{kind} {value!r}: 0 of its {count} pool records selected ({pool_share:.1%} of the "
                       f"pool){why}")
        elif got / s < UNDER * pool_share and pool_share * s >= MIN_EXPECTED:
            out.append(f"{kind} {value!r} is under-represented: {got} selected ({got / s:.1%} of the "
                       f"selection) vs {pool_share:.1%} of the pool{why}")
    return out


def representation_alerts(df: pd.DataFrame, selected: np.ndarray, excluded: np.ndarray,
                          rule_of: np.ndarray | None = None) -> list[str]:
    """One line per starved label, source file or large cluster, and per rule that emptied half a label."""
    alerts: list[str] = []
    if "label" in df.columns and df["label"].notna().any():
        lab = df["label"].notna().to_numpy()
        alerts += _share_alerts("label", df.loc[lab, "label"], selected[lab], excluded[lab])
        if rule_of is not None:
            for value, count in df.loc[lab, "label"].value_counts(sort=False).items():
                mask = (df["label"] == value).to_numpy()
                for rule, hits in pd.Series(rule_of[mask]).dropna().value_counts().items():
                    if hits > count / 2:
                        alerts.append(f"exclusion rule {rule!r} removed {hits} of the {count} records labelled "
                                      f"{value!r}")
    if "source_file" in df.columns and df["source_file"].nunique() > 1:
        alerts += _share_alerts("source", df["source_file"], selected, excluded)
    s = int(selected.sum())
    if "cluster" in df.columns and s >= MIN_CLUSTER_BUDGET:
        cl = df["cluster"]
        for value, count in cl.value_counts().items():
            if count / len(df) >= CLUSTER_SHARE and not selected[(cl == value).to_numpy()].any():
                alerts.append(f"cluster {value!r}: 0 of its {count} records selected ({count / len(df):.1%} "
                              "of the pool)")
    return alerts
