import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curata.label.dawid_skene import dawid_skene, encode_votes, infer_truth, majority_vote, one_coin


def flipped_case():
    """A and B are reliable but each errs once (items 0 and 1); C always answers the other class."""
    truth = np.array([0, 1] * 5)
    rows = []
    for i, t in enumerate(truth):
        rows += [(i, "A", 1 - t if i == 0 else t), (i, "B", 1 - t if i == 1 else t), (i, "C", 1 - t)]
    return pd.DataFrame(rows, columns=["item", "annotator", "label"]), truth


def simulate(n_items, confusions, per_item, seed, priors=None):
    """Sparse votes: ``per_item`` distinct annotators per item, answers drawn from their confusion rows."""
    rng = np.random.default_rng(seed)
    conf = np.asarray(confusions)
    w, k, _ = conf.shape
    truth = rng.choice(k, size=n_items, p=priors)
    ann = np.argsort(rng.random((n_items, w)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    cum = conf[ann, truth[item]].cumsum(axis=1)
    label = (rng.random(len(item))[:, None] > cum).sum(axis=1)
    return (item, ann, np.minimum(label, conf.shape[2] - 1)), truth


def heterogeneous(k=3):
    eye = np.eye(k)
    good = [0.9 * eye + 0.1 / k for _ in range(4)]
    spam = [np.full((k, k), 1 / k) for _ in range(3)]
    adversarial = [0.85 * np.roll(eye, 1, axis=1) + 0.15 / k for _ in range(2)]
    biased = [0.5 * eye + 0.5 * np.eye(k)[[0] * k] for _ in range(3)]  # says class 0 half the time
    return np.array(good + spam + adversarial + biased)


def reference_em(item, ann, label, k, alpha, iters, one_coin=False):
    """Dawid–Skene written plainly with loops over votes, to check the vectorised version against."""
    n, w = item.max() + 1, ann.max() + 1
    t = np.zeros((n, k))
    for i in range(n):
        c = np.bincount(label[item == i], minlength=k)
        t[i] = (c == c.max()) / (c == c.max()).sum()
    for _ in range(iters):
        priors = (t.sum(0) + alpha) / (n + alpha * k)
        num = np.zeros((w, k, k))
        for i, a, lab in zip(item, ann, label):
            num[a, :, lab] += t[i]
        conf = (num + alpha) / (num.sum(2, keepdims=True) + alpha * k)
        if one_coin:
            for a in range(w):
                acc = (np.trace(num[a]) + alpha) / (num[a].sum() + 2 * alpha)
                conf[a] = np.where(np.eye(k) == 1, acc, (1 - acc) / (k - 1))
        logt = np.tile(np.log(priors), (n, 1))
        for i, a, lab in zip(item, ann, label):
            logt[i] += np.log(conf[a, :, lab])
        t = np.exp(logt - logt.max(1, keepdims=True))
        t /= t.sum(1, keepdims=True)
    return t, conf


# --------------------------------------------------------------------------------------------- hand-checked
def test_flipped_annotator_is_learned_and_inverted():
    votes, truth = flipped_case()
    mv = majority_vote(votes, 2)
    # item 0: A=1, B=0, C=1 → 1 (wrong); item 1: A=1, B=0, C=0 → 0 (wrong); all others right
    assert mv.labels.tolist() == [1, 0] + truth[2:].tolist()
    assert mv.iterations == 0 and mv.converged
    ds = dawid_skene(votes, 2)
    assert ds.labels.tolist() == truth.tolist()
    assert ds.converged and ds.iterations < 100
    c = dict(zip(ds.annotator_ids, ds.confusion))
    assert c["C"][0, 1] > 0.99 and c["C"][1, 0] > 0.99  # learned: C always says the other class
    # A erred once on the five class-0 items: row 0 ≈ (4/5, 1/5), row 1 ≈ (0, 1)
    np.testing.assert_allclose(c["A"], [[0.8, 0.2], [0.0, 1.0]], atol=0.01)
    np.testing.assert_allclose(c["B"], [[1.0, 0.0], [0.2, 0.8]], atol=0.01)
    acc = dict(zip(ds.annotator_ids, ds.annotator_accuracy))
    assert acc["A"] == pytest.approx(0.9, abs=0.01) and acc["C"] < 0.01
    np.testing.assert_allclose(ds.priors, [0.5, 0.5], atol=1e-6)
    oc = one_coin(votes, 2)
    assert oc.labels.tolist() == truth.tolist()
    assert dict(zip(oc.annotator_ids, oc.annotator_accuracy))["C"] < 0.01


def test_majority_vote_splits_ties_and_fits_one_m_step():
    votes = (np.array([0, 0, 1, 1, 1]), np.array(["a", "b", "a", "b", "c"]), np.array([0, 1, 1, 1, 0]))
    mv = majority_vote(votes, 2)
    np.testing.assert_allclose(mv.posteriors, [[0.5, 0.5], [0.0, 1.0]])
    # annotator a: expected counts true0: (0.5 → said 0), true1: (0.5 → said 0, 1 → said 1); smoothing 0.01
    a = mv.confusion[list(mv.annotator_ids).index("a")]
    np.testing.assert_allclose(a, [[0.51 / 0.52, 0.01 / 0.52], [0.51 / 1.52, 1.01 / 1.52]])
    np.testing.assert_allclose(mv.priors, [0.51 / 2.02, 1.51 / 2.02])


@pytest.mark.parametrize("method", ["dawid_skene", "one_coin"])
def test_matches_loop_reference(method):
    (item, ann, label), _ = simulate(60, heterogeneous(3), 4, seed=3)
    for iters in (1, 5):
        res = infer_truth((item, ann, label), method, 3, max_iter=iters, tol=0)
        t, _ = reference_em(item, ann, label, 3, 0.01, iters, one_coin=method == "one_coin")
        np.testing.assert_allclose(res.posteriors, t, atol=1e-10)
        assert res.iterations == iters


def test_extra_answers_beyond_the_classes():
    """Answer 2 ("neither") is never a true class: confusion is K × R and majority vote ignores it."""
    votes = (np.array([0, 0, 0, 1, 1, 2]), np.zeros(6, dtype=int), np.array([0, 0, 2, 1, 2, 2]))
    res = dawid_skene(votes, 2, n_responses=3)
    assert res.confusion.shape == (1, 2, 3)
    mv = majority_vote(votes, 2, n_responses=3)
    np.testing.assert_allclose(mv.posteriors, [[1, 0], [0, 1], [0.5, 0.5]])
    np.testing.assert_allclose(res.posteriors.sum(1), 1)


# --------------------------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4))
def test_permuting_items_and_classes_permutes_outputs(seed, k):
    rng = np.random.default_rng(seed)
    (item, ann, label), _ = simulate(30, heterogeneous(k), 3, seed=seed)
    base = dawid_skene((item, ann, label), k)
    np.testing.assert_allclose(base.posteriors.sum(axis=1), 1, atol=1e-12)
    assert np.all(base.posteriors >= 0)

    order = rng.permutation(30)  # output rows follow `items`, and the table's row order does not matter
    rows = rng.permutation(len(item))
    perm = dawid_skene((item[rows], ann[rows], label[rows]), k, items=order)
    np.testing.assert_allclose(perm.posteriors, base.posteriors[order], atol=1e-9)

    sigma = rng.permutation(k)  # class c becomes sigma[c] everywhere
    relab = dawid_skene((item, ann, sigma[label]), k)
    inv = np.argsort(sigma)
    np.testing.assert_allclose(relab.posteriors[:, sigma], base.posteriors, atol=1e-9)
    np.testing.assert_allclose(relab.confusion[:, sigma][:, :, sigma], base.confusion, atol=1e-9)
    np.testing.assert_allclose(relab.priors[sigma], base.priors, atol=1e-12)
    clear = np.sort(base.posteriors, axis=1)[:, -1] - np.sort(base.posteriors, axis=1)[:, -2] > 1e-6
    assert (inv[relab.labels] == base.labels)[clear].all()


def test_many_annotators_do_not_underflow():
    k, w = 3, 400
    conf = np.repeat((0.6 * np.eye(k) + 0.4 / k)[None], w, axis=0)
    (item, ann, label), truth = simulate(20, conf, w, seed=1)  # every item labelled by all 400
    res = dawid_skene((item, ann, label), k)
    assert np.isfinite(res.posteriors).all() and np.isfinite(res.log_likelihood).all()
    assert res.log_likelihood[-1] < -1000  # far below what a product of probabilities could hold
    assert (res.labels == truth).all()


def test_simulation_converges_and_beats_majority_vote():
    conf = heterogeneous(3)
    (item, ann, label), truth = simulate(1500, conf, 5, seed=0)
    mv, ds, oc = (f((item, ann, label), 3) for f in (majority_vote, dawid_skene, one_coin))
    acc = {r.method: (r.labels == truth).mean() for r in (mv, ds, oc)}
    assert acc["dawid_skene"] > acc["majority_vote"] + 0.1
    assert acc["dawid_skene"] > acc["one_coin"]  # the class-biased annotators need full matrices
    assert ds.converged and ds.iterations < 100
    ll = ds.log_likelihood
    assert np.all(np.diff(ll) > -1e-6 * abs(ll[-1]))  # EM does not go downhill (up to the smoothing prior)
    err = np.abs(ds.confusion - conf).mean(axis=(1, 2))
    assert err.max() < 0.05, err  # ≈ 625 labels per annotator: the matrices are recovered


# --------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("votes, kwargs, match", [
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, 2])), {"n_classes": 2},
     "label 2 at row 1 is out of range"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, -1])), {}, "out of range"),
    ((np.array([]), np.array([]), np.array([])), {"n_classes": 2}, "empty"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, 1])), {"n_classes": 2, "items": [0, 1, 2]},
     "1 item\\(s\\) have no labels \\(first: 2\\)"),
    ((np.array([0, 5]), np.array([0, 0]), np.array([0, 1])), {"items": [0, 1]},
     "item 5 has votes but is not in"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0.0, np.nan])), {}, "label at row 1 is nan"),
    ((np.array([0, 1]), np.array([0, 0]), np.array(["pos", "neg"])), {}, "integer class codes"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, 1, 1])), {}, "differ in length"),
    ((np.array([0, 1]), np.array([0, 0]), pd.array([0, None], dtype="Int64")), {},
     "label at row 1 is (nan|<NA>)"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, 1.5])), {}, "label at row 1 is 1.5"),
    ((np.array([0, 1]), np.array(["a", None], dtype=object), np.array([0, 1])), {},
     "missing annotator id at row 1"),
    ((np.array([0, 1]), np.array([0, 0]), np.array([0, 0])), {"n_classes": 1}, "n_classes ≥ 2"),
])
def test_bad_inputs(votes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dawid_skene(votes, **kwargs)


def test_bad_table_and_method():
    with pytest.raises(ValueError, match="no column"):
        encode_votes(pd.DataFrame({"item": [0], "worker": [0], "label": [0]}))
    with pytest.raises(ValueError, match="three arrays"):
        dawid_skene({"item": [0], "annotator": [0], "label": [0]})
    with pytest.raises(ValueError, match="unknown method"):
        infer_truth(flipped_case()[0], "glad")
