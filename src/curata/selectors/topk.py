"""Top-k by a weighted expression of z-scored columns: the plain "best first" selector."""

from __future__ import annotations

import numpy as np
from pydantic import field_validator

from curata.engine.stage import Params, Selector, SelectorResult
from curata.selectors.expr import Expression, ExprSpec, short, validate_spec


class TopKParams(Params):
    by: ExprSpec  # e.g. "target_sim:1, proxy_prob:0.5, -length:0.2"
    ascending: bool = False

    _check_by = field_validator("by")(validate_spec)


class TopKSelector(Selector):
    """Candidates sorted by ``by`` (z-scored over the candidates), highest first; ties by row position."""

    name = "topk"
    Params = TopKParams

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        candidates = np.asarray(candidates, dtype=np.int64)
        expr = Expression.parse(self.params.by, "select.selector.by")
        score = expr.evaluate(pool.df, candidates)
        asc = self.params.ascending
        idx = np.lexsort((candidates, score if asc else -score))
        order = candidates[idx]
        text = expr.describe(pool.df)
        direction = "lowest" if asc else "highest"
        single = expr.columns(pool.df)[0] if len(expr.terms) == 1 else None
        raw = pool.df[single].to_numpy() if single else None
        total = len(order)
        reasons, skipped = {}, {}
        for i, (r, s) in enumerate(zip(order.tolist(), score[idx].tolist())):
            extra = f" ({short(single)} {float(raw[r]):.4g})" if single else ""
            reasons[r] = f"rank {i + 1} of {total} by {text} = {s:.2f}{extra}"
            if i >= n_target:
                skipped[r] = f"{reasons[r]}: below the budget cut"
        summary = {"by": text, "direction": direction}
        if n_target > 0 and total:
            cut = score[idx][min(n_target, total) - 1]
            summary["score_at_cut"] = round(float(cut), 4)
        return SelectorResult(order=order, describe=f"top-k by {text} ({direction} first)", reasons=reasons,
                              skipped_reasons=skipped, summary=summary)
