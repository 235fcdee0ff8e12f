import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curata.label import FILTERS, RANKINGS, detect_label_issues, find_label_issues

NO_CLEANLAB = "cleanlab (a benchmark-only dependency) is not installed"

# the hand-worked example of tests/label/test_prune.py
P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.05, 0.5, 0.45], [0.1, 0.9, 0.0],
              [0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1],
              [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8]])
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
HAND = {"prune_by_noise_rate": [3], "prune_by_class": [2], "both": [], "confident_learning": [3],
        "predicted_neq_given": [2, 3]}
PRUNING = ("prune_by_noise_rate", "prune_by_class", "both")


@pytest.mark.parametrize("rule", FILTERS)
def test_mask_per_rule_on_the_hand_example(rule):
    mask = find_label_issues(Y, P, filter_by=rule)
    assert mask.dtype == bool and mask.shape == (10,)
    assert np.flatnonzero(mask).tolist() == HAND[rule]


def test_ranked_indices():
    # predicted_neq_given flags 2 and 3; self-confidence .05 < .10, so 2 first
    assert find_label_issues(Y, P, filter_by="predicted_neq_given",
                             return_indices_ranked_by="self_confidence").tolist() == [2, 3]
    # normalized margin: record 2 (.05 − .5 + 1)/2 = .275, record 3 (.1 − .9 + 1)/2 = .1 → 3 first
    assert find_label_issues(Y, P, filter_by="predicted_neq_given",
                             return_indices_ranked_by="normalized_margin").tolist() == [3, 2]


def test_detect_returns_everything_behind_the_mask():
    res = detect_label_issues(Y, P, filter_by="predicted_neq_given", rank_by="normalized_margin")
    assert res.n_issues == 2 and res.ranked.tolist() == [3, 2]
    assert res.suggested.tolist() == [-1, -1, 1, 1, -1, -1, -1, -1, -1, -1]
    assert res.scores[3] == pytest.approx(0.1)
    s = res.summary()
    assert s["n"] == 10 and s["n_issues"] == 2 and s["estimated_errors"] == 1
    assert s["noise_rate"] == pytest.approx(0.1)
    assert s["per_class"] == {"given": [4, 3, 3], "flagged": [2, 0, 0], "suggested_for_flagged": [0, 2, 0]}
    assert s["settings"]["filter_by"] == "predicted_neq_given" and s["prune_counts"] is None
    assert detect_label_issues(Y, P).summary()["prune_counts"] == [[3, 1, 0], [0, 3, 0], [0, 0, 3]]


def test_small_classes_are_reported_as_protected():
    res = detect_label_issues(Y, P, min_examples_per_class=3)
    assert res.protected_classes == [1, 2]  # 3 examples each: not more than 3
    assert np.flatnonzero(res.mask).tolist() == [3]


def dataset(seed: int, n: int, k: int, alpha: float):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    p = rng.dirichlet(np.full(k, alpha), n)
    p[np.arange(n), y] += rng.random(n) * rng.choice([0.5, 2.0])
    return y, p / p.sum(axis=1, keepdims=True)


datasets = st.builds(dataset, st.integers(0, 2**32 - 1), st.integers(30, 300), st.integers(2, 8),
                     st.sampled_from([0.2, 1.0, 3.0]))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8), st.integers(20, 200), st.booleans())
def test_a_perfectly_predicted_dataset_flags_nothing(seed, k, n, one_hot):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    if one_hot:
        p = np.eye(k)[y]
    else:  # any probabilities whose top class is the given label
        p = rng.dirichlet(np.ones(k), n)
        top = p.argmax(axis=1)
        rows = np.arange(n)
        p[rows, top], p[rows, y] = p[rows, y], p[rows, top].copy()
    for rule in FILTERS:
        assert not find_label_issues(y, p, filter_by=rule).any(), rule
    if one_hot:
        res = detect_label_issues(y, p)
        assert res.noise.estimated_errors == 0 and res.noise.noise_rate == pytest.approx(0.0)


@settings(max_examples=40, deadline=None)
@given(datasets, st.integers(0, 2**32 - 1), st.sampled_from(FILTERS), st.sampled_from(RANKINGS))
def test_permuting_records_permutes_the_output(data, seed, rule, rank_by):
    y, p = data
    perm = np.random.default_rng(seed).permutation(len(y))
    base = detect_label_issues(y, p, filter_by=rule, rank_by=rank_by)
    moved = detect_label_issues(y[perm], p[perm], filter_by=rule, rank_by=rank_by)
    assert np.array_equal(moved.mask, base.mask[perm])
    assert np.array_equal(moved.scores, base.scores[perm])
    assert np.array_equal(moved.suggested, base.suggested[perm])
    assert np.array_equal(moved.noise.calibrated, base.noise.calibrated)


@settings(max_examples=40, deadline=None)
@given(datasets, st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.sampled_from(FILTERS), st.integers(0, 5))
def test_less_frac_noise_never_flags_more(data, a, b, rule, min_examples):
    y, p = data
    lo, hi = sorted((a, b))
    small = find_label_issues(y, p, filter_by=rule, frac_noise=lo, min_examples_per_class=min_examples)
    large = find_label_issues(y, p, filter_by=rule, frac_noise=hi, min_examples_per_class=min_examples)
    assert not (small & ~large).any()  # every record flagged at lo is flagged at hi
    if rule not in PRUNING:
        assert np.array_equal(small, large)


def test_same_answers_as_cleanlab_on_random_dirichlet():
    filt = pytest.importorskip("cleanlab.filter", reason=NO_CLEANLAB)
    rng = np.random.default_rng(11)
    compared = 0
    for trial in range(24):
        y, p = dataset(int(rng.integers(2**32)), int(rng.integers(40, 400)), int(rng.integers(2, 10)),
                       float(rng.choice([0.1, 0.5, 1.0, 3.0])))
        if trial % 3 == 0:  # coarse probabilities: many ties at the cuts
            p = np.round(p, 1) + 1e-3
            p /= p.sum(axis=1, keepdims=True)
        frac = float(rng.choice([1.0, 0.7, 0.3]))
        min_ex = int(rng.choice([1, 3, 30]))
        for rule in FILTERS:
            kw = {"filter_by": rule, "frac_noise": frac, "min_examples_per_class": min_ex}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = filt.find_label_issues(y, p, n_jobs=1, **kw)
                ranked = filt.find_label_issues(y, p, n_jobs=1, return_indices_ranked_by="normalized_margin",
                                                **kw)
            assert np.array_equal(find_label_issues(y, p, **kw), theirs), (trial, rule)
            assert np.array_equal(find_label_issues(y, p, return_indices_ranked_by="normalized_margin", **kw),
                                  ranked), (trial, rule)
            compared += int(theirs.sum())
    assert compared > 100  # the comparison is not vacuous
