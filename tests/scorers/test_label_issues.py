import numpy as np
import pandas as pd
import pytest

from curata.engine import registry
from curata.errors import ConfigError, CurataError, InputError
from curata.scorers.label_issues import LabelIssueScorer
from curata.scorers.proxy import ProxyModelScorer

NAMES = ["ant", "bee", "cat"]
# the hand-worked example of tests/label/test_prune.py: PBNR flags record 3 (→ bee), PBC record 2
P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.05, 0.5, 0.45], [0.1, 0.9, 0.0],
              [0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1],
              [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8]])
Y = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def hand_pool(make_pool, column="my_probs", extra_rows=()):
    labels = [NAMES[i] for i in Y] + [None for _ in extra_rows]
    probs = P.tolist() + [list(r) for r in extra_rows]
    return make_pool(texts=[f"t{i}" for i in range(len(labels))], labels=labels,
                     **{column: pd.Series(probs, dtype=object)})


def test_columns_from_a_probability_column(make_pool, ctx):
    out = LabelIssueScorer(probs="my_probs").score(hand_pool(make_pool), ctx)
    assert list(out.columns) == ["label_issue_score", "is_label_issue", "suggested_label", "label_noise_rate",
                                 "label_noise_in_label"]
    assert np.flatnonzero(out["is_label_issue"]).tolist() == [3]
    assert out["label_noise_rate"].tolist() == pytest.approx([0.1] * 10)  # 1 estimated error in 10
    # the one estimated error is given the first label: 1 of its 4 records (joint row [0.3, 0.1, 0] → 0.25)
    assert out["label_noise_in_label"].tolist() == pytest.approx([0.25 if y == 0 else 0.0 for y in Y])
    assert out["label_issue_score"].tolist() == pytest.approx(P[np.arange(10), Y])  # self-confidence
    assert out["suggested_label"].tolist() == [None, None, None, "bee"] + [None] * 6
    assert ctx.notes == ["label_issues: 1 of 10 records flagged (10.0%), estimated noise 10.0%"]
    summary = ctx.artifacts["label_issues_summary"]
    assert summary["labels"] == NAMES and summary["probs_source"] == "column my_probs"
    assert summary["n_issues"] == 1 and summary["estimated_errors"] == 1
    assert summary["noise_matrix"] == pytest.approx(np.array([[1, 0.25, 0], [0, 0.75, 0], [0, 0, 1]]))
    assert summary["prior"] == pytest.approx([0.3, 0.4, 0.3])
    assert summary["per_class"]["ant"] == {"given": 4, "flagged": 1, "suggested_for_flagged": 0}
    assert summary["per_class"]["bee"]["suggested_for_flagged"] == 1


def test_rule_and_ranking_params(make_pool, ctx):
    out = LabelIssueScorer(probs="my_probs", filter_by="predicted_neq_given", rank_by="normalized_margin") \
        .score(hand_pool(make_pool), ctx)
    assert np.flatnonzero(out["is_label_issue"]).tolist() == [2, 3]
    assert out["label_issue_score"][3] == pytest.approx(0.1)  # (.1 − .9 + 1) / 2
    assert out["suggested_label"][2] == "bee"


def test_unlabelled_rows_take_no_part(make_pool, ctx):
    pool = hand_pool(make_pool, extra_rows=[(0.1, 0.1, 0.8), (0.3, 0.3, 0.4)])
    out = LabelIssueScorer(probs="my_probs", filter_by="prune_by_class").score(pool, ctx)
    assert np.flatnonzero(out["is_label_issue"]).tolist() == [2]
    assert np.isnan(out["label_issue_score"][10:]).all()
    assert out["suggested_label"][10:].isna().all()
    assert ctx.artifacts["label_issues_summary"]["n_labelled"] == 10


def test_uses_proxy_probs_from_an_earlier_scorer(make_pool, ctx):
    pool = hand_pool(make_pool, column="proxy_probs")
    pool.embeddings = pool.features = None  # it must not try to compute probabilities
    out = LabelIssueScorer(filter_by="prune_by_class").score(pool, ctx)
    assert np.flatnonzero(out["is_label_issue"]).tolist() == [2]
    assert ctx.artifacts["label_issues_summary"]["probs_source"] == "column proxy_probs"


def test_npy_probabilities(make_pool, ctx, tmp_path):
    path = tmp_path / "pyx.npy"
    np.save(path, P)
    scorer = LabelIssueScorer(probs=str(path))
    assert scorer.needs_embeddings is False and LabelIssueScorer().needs_embeddings is True
    out = scorer.score(hand_pool(make_pool), ctx)
    assert np.flatnonzero(out["is_label_issue"]).tolist() == [3]
    first = scorer.fingerprint()
    np.save(path, P[::-1])
    assert LabelIssueScorer(probs=str(path)).fingerprint() != first  # the file's content is in the cache key
    with pytest.raises(InputError, match=r"shape \(9, 3\), expected \(10, 3\)"):
        np.save(path, P[:9])
        scorer.score(hand_pool(make_pool), ctx)
    with pytest.raises(InputError, match="not found"):
        LabelIssueScorer(probs=str(tmp_path / "missing.npy")).score(hand_pool(make_pool), ctx)


def test_bad_probability_sources(make_pool, ctx):
    with pytest.raises(ConfigError, match="no column 'nope'"):
        LabelIssueScorer(probs="nope").score(hand_pool(make_pool), ctx)
    pool = hand_pool(make_pool)
    pool.df.at[4, "my_probs"] = [0.5, 0.5]
    with pytest.raises(ConfigError, match="row 4 holds"):
        LabelIssueScorer(probs="my_probs").score(pool, ctx)
    pool.df.at[4, "my_probs"] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="row 4 sums to 1.5"):
        LabelIssueScorer(probs="my_probs").score(pool, ctx)
    pool = hand_pool(make_pool)
    pool.label_names = NAMES + ["dog"]
    pool.df["my_probs"] = pd.Series([r + [0.0] for r in P.tolist()], dtype=object)
    with pytest.raises(CurataError, match=r"label\(s\) \['dog'\] have no labelled record"):
        LabelIssueScorer(probs="my_probs").score(pool, ctx)
    with pytest.raises(ConfigError, match="filter_by"):
        LabelIssueScorer(filter_by="prune")
    with pytest.raises(ConfigError, match="frac_noise"):
        registry.build("scorer", "label_issues", {"frac_noise": 1.5})


def clusters(seed=0, per=50, dim=8):
    rng = np.random.default_rng(seed)
    x = np.vstack([4.0 * np.eye(dim)[j] + 0.4 * rng.normal(size=(per, dim)) for j in range(3)])
    return x.astype(np.float32), np.repeat(np.arange(3), per)


def test_computes_out_of_fold_probabilities_like_the_proxy(make_pool, ctx):
    x, y = clusters()
    flipped = np.array([5, 60, 120])
    given = y.copy()
    given[flipped] = (y[flipped] + 1) % 3
    pool = make_pool(embeddings=x, features=x, labels=[NAMES[i] for i in given])
    own = LabelIssueScorer().score(pool, ctx)
    assert set(np.flatnonzero(own["is_label_issue"])) == set(flipped)
    assert own["suggested_label"][flipped].tolist() == [NAMES[i] for i in y[flipped]]
    source = ctx.artifacts["label_issues_summary"]["probs_source"]
    assert source.startswith("out-of-fold logistic regression (5 folds")
    # with the proxy's column present (same folds and seed) the answer is the same
    pool.df["proxy_probs"] = ProxyModelScorer().score(pool, ctx)["proxy_probs"]
    via_proxy = registry.build("scorer", "label_issues").score(pool, ctx)
    pd.testing.assert_frame_equal(own, via_proxy)
