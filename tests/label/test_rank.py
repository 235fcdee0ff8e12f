import numpy as np
import pytest

from curata.label import (confidence_weighted_entropy, label_quality_scores, normalized_margin, order_issues,
                          self_confidence)
from curata.label.rank import normalized_entropy

NO_CLEANLAB = "cleanlab (a benchmark-only dependency) is not installed"

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
Y = np.array([0, 2, 1, 1])


def test_self_confidence():
    assert self_confidence(Y, P).tolist() == [0.7, 0.3, 0.5, 0.0]


def test_normalized_margin_maps_margin_to_unit_interval():
    # margins: .7 − .2 = .5, .3 − .6 = −.3, .5 − .5 = 0, 0 − 1 = −1 → (m + 1) / 2
    assert normalized_margin(Y, P) == pytest.approx([0.75, 0.35, 0.5, 0.0])


def test_confidence_weighted_entropy():
    h = normalized_entropy(P)
    assert h[2] == pytest.approx(np.log(2) / np.log(3)) and h[3] == 0.0
    s = h / np.clip(self_confidence(Y, P), 1e-6, None)
    expected = np.log(s + 1) / np.clip(s, 1e-6, None)
    assert confidence_weighted_entropy(Y, P) == pytest.approx(expected)
    # cleanlab's quirk, kept: a one-hot row has zero entropy, so s = 0 and the score is log(1)/1e-6 = 0 (the
    # lowest) even when the label is right, while a nearly one-hot row scores about 1
    one_hot, near = np.array([[1.0, 0.0, 0.0]]), np.array([[0.999, 0.0005, 0.0005]])
    assert confidence_weighted_entropy(np.array([0]), one_hot) == pytest.approx([0.0])
    assert confidence_weighted_entropy(np.array([0]), near) == pytest.approx([1.0], abs=0.01)


def test_lower_scores_mean_more_likely_wrong():
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    y = np.array([0, 0, 0])
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        s = label_quality_scores(y, p, method)
        assert s[0] > s[1] > s[2], method


def test_order_issues():
    mask = np.array([True, False, True, True])
    assert order_issues(mask, np.array([0.3, 0.0, 0.1, 0.2])).tolist() == [2, 3, 0]
    assert order_issues(np.zeros(4, dtype=bool), np.zeros(4)).tolist() == []


def test_agrees_with_cleanlab_rank():
    rank = pytest.importorskip("cleanlab.rank", reason=NO_CLEANLAB)
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.full(6, 0.3), 500)
    p[:20] = np.eye(6)[rng.integers(0, 6, 20)]  # exact zeros and ones
    y = rng.integers(0, 6, 500)
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        ours = label_quality_scores(y, p, method)
        theirs = rank.get_label_quality_scores(y, p, method=method)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
