"""Ordinary least squares with standard errors, t- and p-values, and backward selection by significance.

Used by the InstructMining rule fit (METHODS §1.3: "select regressors by statistical significance"). Plain
numpy + scipy: ``se = sqrt(diag(σ² (XᵀX)⁻¹))`` with ``σ² = RSS / (n − p)``, two-sided t-test p-values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OLSFit:
    """Coefficients (intercept first) and their inference, in the order of ``names``."""

    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    r2: float
    adj_r2: float
    n: int
    df_resid: int
    sigma: float
    f_pvalue: float
    dropped: list[dict] = field(default_factory=list)  # backward selection: [{name, p, step}]

    def table(self) -> list[dict]:
        return [{"name": n, "coef": float(c), "se": float(s), "t": float(t), "p": float(p)}
                for n, c, s, t, p in zip(self.names, self.coef, self.se, self.t, self.p)]

    def as_dict(self, prefix: str = "") -> dict[str, dict[str, float]]:
        return {part: {f"{prefix}{n}" if n != "intercept" else n: float(v) for n, v in zip(self.names, arr)}
                for part, arr in (("coefficients", self.coef), ("standard_errors", self.se),
                                  ("t_values", self.t), ("p_values", self.p))}


def ols(X: np.ndarray, y: np.ndarray, names: list[str]) -> OLSFit:
    """Fit ``y = β0 + X β``; ``names`` label the columns of X (the intercept is added and named ``intercept``)."""
    from scipy import stats

    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64)
    A = np.column_stack([np.ones(len(y)), X])
    n, k = A.shape
    if n <= k:
        raise ValueError(f"OLS needs more observations ({n}) than coefficients ({k})")
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    df = n - k
    rss = float(resid @ resid)
    tss = float(((y - y.mean()) ** 2).sum())
    sigma2 = rss / df
    cov = sigma2 * np.linalg.pinv(A.T @ A)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, coef / se, np.inf * np.sign(coef))
    p = 2 * stats.t.sf(np.abs(t), df)
    r2 = 1 - rss / tss if tss > 0 else 0.0
    adj = 1 - (1 - r2) * (n - 1) / df if n > 1 else r2
    m = k - 1
    if m > 0 and tss > 0 and rss > 0:
        f = ((tss - rss) / m) / (rss / df)
        f_p = float(stats.f.sf(f, m, df))
    else:
        f_p = float("nan") if m == 0 else 0.0
    return OLSFit(["intercept", *names], coef, se, t, p, float(r2), float(adj), n, df, float(np.sqrt(sigma2)), f_p)


def backward_select(X: np.ndarray, y: np.ndarray, names: list[str], alpha: float = 0.05,
                    keep_one: bool = True) -> OLSFit:
    """Refit, dropping the least significant regressor while its p-value exceeds ``alpha`` (also first while
    there are too many regressors for the observations). ``keep_one`` keeps the most significant regressor
    even when none passes, so the rule still ranks (``dropped`` records every step)."""
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    cols = list(range(X.shape[1]))
    dropped: list[dict] = []
    while True:
        while len(cols) >= len(y) - 1:
            dropped.append({"name": names[cols[-1]], "p": float("nan"), "step": len(dropped) + 1,
                            "why": "too many regressors for the observations"})
            cols.pop()
        fit = ols(X[:, cols], y, [names[c] for c in cols])
        if not cols:
            break
        p = fit.p[1:]
        worst = int(np.argmax(p))
        if p[worst] <= alpha or (keep_one and len(cols) == 1):
            break
        dropped.append({"name": names[cols[worst]], "p": float(p[worst]), "step": len(dropped) + 1,
                        "why": f"p > {alpha}"})
        cols.pop(worst)
    fit.dropped = dropped
    return fit
