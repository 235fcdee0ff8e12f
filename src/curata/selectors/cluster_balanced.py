"""Cluster-balanced selection: an equal share per k-means cluster, so no region of the pool dominates."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import field_validator

from curata.engine.stage import Params, Selector, SelectorResult
from curata.selectors.expr import ExprSpec, validate_spec
from curata.selectors.groups import allocate, group_codes, in_group_key, interleave, ordinal, rank_in_groups


class ClusterBalancedParams(Params):
    by: ExprSpec | None = None  # in-cluster order; None: seeded random
    stratify_label: bool = False
    #: cluster shares: equal, proportional to size, or to its square root (small clusters get more than
    #: their size but not a full share: tiny outlier clusters — junk, boilerplate — do not take a full quota)
    allocation: Literal["equal", "proportional", "sqrt"] = "equal"
    seed: int | None = None  # None: the run's seed

    _check_by = field_validator("by")(validate_spec)


class ClusterBalancedSelector(Selector):
    """Round-robin over clusters, each walked best-first by ``by`` (or in seeded random order).

    Any prefix of the order is the water-filled equal quota: clusters smaller than the share are taken
    whole and the rest share their surplus. ``stratify_label`` alternates labels inside each cluster in
    the proportions of the pool's labels.
    """

    name = "cluster_balanced"
    needs_columns = ("cluster",)
    Params = ClusterBalancedParams

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        rows = np.asarray(candidates, dtype=np.int64)
        codes, clusters = group_codes(pool, rows, "cluster", "select.selector")
        rng = np.random.default_rng(seed)
        key, how = in_group_key(pool, rows, p.by, rng)
        labels = None
        if p.stratify_label:
            key, labels = self._label_alternation(pool, rows, codes, key)
        rank = rank_in_groups(codes, key, rows)
        sizes = np.bincount(codes, minlength=len(clusters))
        priority = rng.permutation(len(clusters))
        weights = {"equal": np.ones(len(sizes)), "proportional": sizes.astype(np.float64),
                   "sqrt": np.sqrt(sizes)}[p.allocation]
        quota = allocate(sizes, n_target, weights, priority)
        if p.allocation == "equal":
            order_idx = np.lexsort((priority[codes], rank))
        else:
            order_idx = interleave(codes, rank, weights / weights.sum(), priority)

        walk = f"by {how}" if p.by is not None else f"random order (seed {seed})"
        reasons, skipped = {}, {}
        for i in order_idx.tolist():
            r, c, k = int(rows[i]), int(codes[i]), int(rank[i])
            name = f"cluster {clusters[c]}" + (f" ({labels[i]})" if labels is not None else "")
            nth = f"{ordinal(k + 1)} of {sizes[c]}" if p.by is not None else \
                f"random pick {k + 1} of {sizes[c]}"
            if k < quota[c]:
                reasons[r] = f"{name}: {nth} (quota {quota[c]})"
            else:
                reasons[r] = f"{name}: {nth}, past its quota of {quota[c]} (budget had room)"
                skipped[r] = f"cluster {clusters[c]} quota of {quota[c]} filled ({nth})"
        label_note = ", labels alternated as in the pool" if p.stratify_label else ""
        share = {"equal": "equal shares", "proportional": "shares ∝ cluster size",
                 "sqrt": "shares ∝ √cluster size"}[p.allocation]
        describe = f"cluster-balanced ({share}) over {len(clusters)} clusters, " \
                   f"within cluster {walk}{label_note}"
        filled = int((quota == sizes).sum())
        summary = {"clusters": len(clusters), "within": walk, "stratify_label": p.stratify_label,
                   "quota_min": int(quota.min()) if len(quota) else 0,
                   "quota_max": int(quota.max()) if len(quota) else 0, "clusters_taken_whole": filled}
        return SelectorResult(order=rows[order_idx], describe=describe, reasons=reasons,
                              skipped_reasons=skipped, summary=summary)

    @staticmethod
    def _label_alternation(pool, rows, codes, key):
        """New in-cluster key: the j-th record of label l comes at (j + ½)/share(l), share from the pool."""
        lab_codes, labels = group_codes(pool, rows, "label", "select.selector.stratify_label")
        all_labels = pool.df["label"]
        share = np.array([all_labels.isna().mean() if g is None else (all_labels == g).mean()
                          for g in labels])
        joint = codes * len(labels) + lab_codes
        sub_rank = rank_in_groups(joint, key, rows)
        t = (sub_rank + 0.5) / np.maximum(share[lab_codes], 1e-12)
        names = np.array([f"label {g!r}" if g is not None else "no label" for g in labels], dtype=object)
        return -t, names[lab_codes]
