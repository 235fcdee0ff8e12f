import numpy as np
import pytest

from curata.scorers.proxy import ProxyModelScorer, confident_suspects

LABELS = ["ant", "bee", "cat"]


def clusters(seed=0, per=60, dim=8, spread=0.6):
    rng = np.random.default_rng(seed)
    x = np.vstack([4.0 * np.eye(dim)[j] + spread * rng.normal(size=(per, dim)) for j in range(3)])
    y = np.repeat(np.arange(3), per)
    return x.astype(np.float32), y


def test_separable_clusters_flag_flipped_labels(make_pool, ctx):
    x, y = clusters()
    flipped = np.array([3, 17, 70, 95, 130, 171])
    given = y.copy()
    given[flipped] = (y[flipped] + 1) % 3
    pool = make_pool(embeddings=x, features=x, labels=[LABELS[i] for i in given])
    out = ProxyModelScorer().score(pool, ctx)
    assert list(out.columns) == ["proxy_probs", "proxy_prob_score", "proxy_margin_score", "proxy_loss_score",
                                 "proxy_pred", "proxy_suspect", "proxy_suspect_label", "proxy_suspect_prob_score"]
    clean = np.setdiff1d(np.arange(len(y)), flipped)
    assert np.median(out["proxy_prob_score"][clean]) > 0.9
    assert out["proxy_prob_score"][flipped].max() < 0.3
    assert (out["proxy_pred"][flipped] == [LABELS[i] for i in y[flipped]]).all()
    flagged = set(np.flatnonzero(out["proxy_suspect"]))
    assert len(flagged & set(flipped)) >= 5
    assert len(flagged - set(flipped)) <= 1
    # the suspected label is the class the record came from, never its given label; unflagged rows have none
    caught = sorted(flagged & set(flipped))
    assert out["proxy_suspect_label"][caught].tolist() == [LABELS[i] for i in y[caught]]
    assert out["proxy_suspect_label"][~out["proxy_suspect"]].isna().all()
    assert (out["proxy_suspect_prob_score"][caught] > out["proxy_prob_score"][caught]).all()

    probs = ctx.artifacts["proxy_probs"]
    assert probs.shape == (180, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.vstack(out["proxy_probs"].to_list()), probs)
    p_given = probs[np.arange(180), given]
    np.testing.assert_allclose(out["proxy_prob_score"], p_given)
    others = probs.copy()
    others[np.arange(180), given] = -1
    np.testing.assert_allclose(out["proxy_margin_score"], p_given - others.max(axis=1))
    np.testing.assert_allclose(out["proxy_loss_score"], -np.log(p_given))
    assert ctx.artifacts["proxy_summary"]["folds"] == 5


def test_out_of_fold_no_label_leak(make_pool, ctx):
    # the flipped record is alone in its own far direction (feature 8): a model that had seen it would learn
    # its label there; out of fold, nothing in that direction was ever seen, so the cluster decides
    x, y = clusters(seed=1, per=40)
    x = np.hstack([x, np.zeros((len(x), 1), np.float32)])
    x[5, 8] = 12.0
    given = y.copy()
    given[5] = 2
    from sklearn.linear_model import LogisticRegression
    in_sample = LogisticRegression(max_iter=1000).fit(x, given).predict_proba(x[5:6])[0, 2]
    assert in_sample > 0.5  # the leak this scorer must avoid
    pool = make_pool(embeddings=x, features=x, labels=[LABELS[i] for i in given])
    out = ProxyModelScorer().score(pool, ctx)
    assert out["proxy_prob_score"][5] < 0.2
    assert bool(out["proxy_suspect"][5])
    assert out["proxy_pred"][5] == "ant"


def test_rare_class_reduces_folds_and_singleton_gets_prior(make_pool, ctx):
    x, y = clusters(seed=2, per=20)
    labels = [LABELS[i] for i in y] + ["dog"]
    x = np.vstack([x, 4.0 * np.eye(8)[5:6]]).astype(np.float32)
    pool = make_pool(embeddings=x, features=x, labels=labels)
    out = ProxyModelScorer(folds=5).score(pool, ctx)
    summary = ctx.artifacts["proxy_summary"]
    assert summary["folds"] == 2 and len(summary["notes"]) == 2
    probs = ctx.artifacts["proxy_probs"]
    assert probs.shape == (61, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    dog = pool.label_names.index("dog")
    assert probs[60, dog] == pytest.approx(1 / 61)  # never trained on: its prior
    assert out["proxy_prob_score"][60] == pytest.approx(1 / 61)


def test_seeded_and_unlabelled_rows(make_pool, ctx):
    x, y = clusters(seed=3, per=15)
    labels = [LABELS[i] for i in y]
    labels[0] = None
    pool = make_pool(embeddings=x, features=x, labels=labels)
    a = ProxyModelScorer(folds=3).score(pool, ctx)
    b = ProxyModelScorer(folds=3).score(pool, ctx)
    np.testing.assert_array_equal(a["proxy_prob_score"], b["proxy_prob_score"])
    assert np.isnan(a["proxy_prob_score"][0]) and not a["proxy_suspect"][0]
    assert a["proxy_pred"][0] == "ant"
    assert sum(a["proxy_probs"][0]) == pytest.approx(1.0)


def test_confident_suspects_rule():
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    y = np.array([0, 0, 1, 1, 1])
    suspect, t, _ = confident_suspects(probs, y)
    np.testing.assert_allclose(t, [0.8, (0.8 + 0.4 + 0.55) / 3])
    # rows 1 and 3 (0.7/0.3, 0.6/0.4) clear neither threshold (0.8, 0.583): not counted, not suspect
    assert suspect.tolist() == [False, False, False, False, False]
    probs[3] = [0.85, 0.15]  # now confidently class 0 while labelled 1
    suspect, _, _ = confident_suspects(probs, y)
    assert suspect.tolist() == [False, False, False, True, False]
