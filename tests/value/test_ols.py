"""OLS with inference: known coefficients recovered within their standard errors, scipy agreement, selection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from curata.value.ols import backward_select, ols


def synthetic(n: int = 400, seed: int = 0, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = 1.0 + 2.0 * X[:, 0] - 0.5 * X[:, 1] + 0.0 * X[:, 2] + noise * rng.standard_normal(n)
    return X, y


def test_known_coefficients_are_recovered_within_their_standard_errors():
    X, y = synthetic()
    fit = ols(X, y, ["a", "b", "c"])
    truth = np.array([1.0, 2.0, -0.5, 0.0])
    assert fit.names == ["intercept", "a", "b", "c"]
    assert (np.abs(fit.coef - truth) < 3 * fit.se).all()
    # SE of a slope ≈ σ / (sqrt(n) · sd(x)) = 0.3 / 20 for unit-variance regressors
    assert fit.se[1:] == pytest.approx(np.full(3, 0.015), rel=0.15)
    assert fit.sigma == pytest.approx(0.3, rel=0.1) and fit.df_resid == 396
    assert fit.p[1] < 1e-12 and fit.p[2] < 1e-12 and fit.p[3] > 0.01
    assert fit.t[1] == pytest.approx(fit.coef[1] / fit.se[1])
    assert 0.95 < fit.r2 < 1 and fit.adj_r2 < fit.r2 and fit.f_pvalue < 1e-12


def test_single_regressor_matches_scipy_linregress():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 5, 30)
    y = 0.7 - 0.2 * x + rng.normal(0, 0.4, 30)
    fit = ols(x, y, ["x"])
    ref = stats.linregress(x, y)
    assert fit.coef == pytest.approx([ref.intercept, ref.slope])
    assert fit.se == pytest.approx([ref.intercept_stderr, ref.stderr])
    assert fit.p[1] == pytest.approx(ref.pvalue)
    assert fit.r2 == pytest.approx(ref.rvalue ** 2)


def test_backward_selection_drops_the_insignificant_regressor():
    X, y = synthetic(n=60, seed=1)
    fit = backward_select(X, y, ["a", "b", "c"], alpha=0.05)
    assert fit.names == ["intercept", "a", "b"]
    assert [d["name"] for d in fit.dropped] == ["c"] and fit.dropped[0]["p"] > 0.05
    assert (fit.p[1:] <= 0.05).all()


def test_selection_keeps_the_best_regressor_when_none_is_significant_and_respects_the_observations():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((12, 4)), rng.standard_normal(12)
    fit = backward_select(X, y, ["a", "b", "c", "d"], alpha=1e-6)
    assert len(fit.names) == 2 and len(fit.dropped) == 3
    assert fit.names[1] in "abcd" and fit.p[1] > 1e-6  # kept so the rule can still rank, though not significant
    assert [d["step"] for d in fit.dropped] == [1, 2, 3] and all(d["p"] > 1e-6 for d in fit.dropped)
    tight = backward_select(rng.standard_normal((5, 4)), rng.standard_normal(5), ["a", "b", "c", "d"], alpha=1.0)
    assert len(tight.names) - 1 < 5 - 1 and any("too many" in d["why"] for d in tight.dropped)
    with pytest.raises(ValueError, match="more observations"):
        ols(np.ones((2, 2)), np.ones(2), ["a", "b"])
