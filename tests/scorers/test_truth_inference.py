import json

import numpy as np
import pandas as pd
import pytest

from curata.engine import registry
from curata.errors import ConfigError, InputError
from curata.io.fields import load_pool
from curata.scorers.truth_inference import ANONYMOUS, TruthInferenceScorer

TRUTH = ["a", "b"] * 5


def flipped_votes():
    """w1, w2 reliable (each wrong once, on records 0 and 1); w3 always answers the other class."""
    other = {"a": "b", "b": "a"}
    votes = []
    for i, t in enumerate(TRUTH):
        votes.append({"w1": other[t] if i == 0 else t, "w2": other[t] if i == 1 else t, "w3": other[t]})
    return votes


def pool_with(make_pool, votes, labels=None, field="votes"):
    raw = [json.dumps({"text": f"record {i}", field: v}) for i, v in enumerate(votes)]
    return make_pool(texts=[f"record {i}" for i in range(len(votes))], labels=labels, raw=raw)


def test_recovers_truth_against_a_flipped_annotator(make_pool, ctx):
    given = list(TRUTH)
    given[2] = "b"  # record 2 carries a wrong given label
    out = TruthInferenceScorer(votes_field="votes").score(pool_with(make_pool, flipped_votes(), given), ctx)
    assert list(out.columns) == ["truth_inference_score", "inferred_label", "label_agreement",
                                 "truth_inference_votes"]
    assert out["inferred_label"].tolist() == TRUTH
    assert out["truth_inference_score"][2] < 0.01  # the given label of record 2 is not believed
    assert (out["truth_inference_score"].drop(2) > 0.99).all()
    # record 0: votes (w1=b, w2=a, w3=b), inferred a → 1 of 3 agree; record 4: (a, a, b) → 2 of 3
    assert out["label_agreement"][0] == pytest.approx(1 / 3)
    assert out["label_agreement"][4] == pytest.approx(2 / 3)
    assert (out["truth_inference_votes"] == 3).all()
    art = ctx.artifacts["truth_inference"]
    assert art["classes"] == ["a", "b"] and art["converged"]
    w3 = next(a for a in art["annotators"] if a["annotator"] == "w3")
    assert w3["votes"] == 10 and w3["confusion"][0][1] > 0.99 and w3["accuracy"] < 0.01


def test_majority_vote_method_is_fooled(make_pool, ctx):
    out = TruthInferenceScorer(votes_field="votes", method="majority_vote").score(
        pool_with(make_pool, flipped_votes(), TRUTH), ctx)
    assert out["inferred_label"].tolist() == ["b", "a"] + TRUTH[2:]


def test_list_votes_share_one_anonymous_annotator_and_missing_votes(make_pool, ctx):
    votes = [["x", "x", "y"], ["y", "y", "y"], None, [], ["x", "x", "x"], ["y", "x", "y"]]
    out = TruthInferenceScorer(votes_field="votes").score(pool_with(make_pool, votes), ctx)
    assert out["inferred_label"].tolist() == ["x", "y", None, None, "x", "y"]
    assert np.isnan(out["truth_inference_score"][2]) and np.isnan(out["label_agreement"][3])
    assert out["truth_inference_votes"].tolist() == [3, 3, 0, 0, 3, 3]
    # an unlabelled record is scored by the posterior of its inferred label
    voted = out["truth_inference_score"].dropna()
    assert (voted >= 0.5).all() and (voted <= 1).all()
    np.testing.assert_allclose(out["label_agreement"].to_numpy()[[0, 1, 4, 5]], [2 / 3, 1, 1, 2 / 3])
    assert [a["annotator"] for a in ctx.artifacts["truth_inference"]["annotators"]] == [ANONYMOUS]
    assert any("2 of 6 records have no votes" in n for n in ctx.notes)


def test_vote_labels_outside_the_pool_labels_become_classes(make_pool, ctx):
    votes = [{"u": "a"}, {"u": "c", "v": "c"}, {"u": "b", "v": "c"}]
    out = TruthInferenceScorer(votes_field="votes").score(pool_with(make_pool, votes, ["a", "b", "b"]), ctx)
    assert ctx.artifacts["truth_inference"]["classes"] == ["a", "b", "c"]
    assert out["inferred_label"][1] == "c"


def test_csv_pool_reads_the_json_cell(tmp_path, ctx):
    rows = [{"text": f"t{i}", "label": t, "votes": json.dumps(v)}
            for i, (t, v) in enumerate(zip(TRUTH, flipped_votes()))]
    path = tmp_path / "pool.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    pool = load_pool(path, progress=False)
    out = TruthInferenceScorer(votes_field="votes").score(pool, ctx)
    assert out["inferred_label"].tolist() == TRUTH


def test_registered_and_params_checked():
    assert registry.get("scorer", "truth_inference") is TruthInferenceScorer
    with pytest.raises(ConfigError, match="votes_field"):
        registry.build("scorer", "truth_inference", {})
    with pytest.raises(ConfigError, match="method"):
        TruthInferenceScorer(votes_field="v", method="glad")


@pytest.mark.parametrize("votes, error, match", [
    ([None, None], ConfigError, "no record has votes in `votes`"),
    (["a", "b"], InputError, "expected a list of labels or an annotator → label dict"),
    ([[["a"]], ["b"]], InputError, "a vote must be a single label"),
    ([["a"], ["a"]], ConfigError, "nothing to infer"),
])
def test_bad_votes(make_pool, ctx, votes, error, match):
    with pytest.raises(error, match=match):
        TruthInferenceScorer(votes_field="votes").score(pool_with(make_pool, votes), ctx)


def test_unparsable_raw_names_the_record(make_pool, ctx):
    pool = make_pool(texts=["a", "b"], raw=["{not json", "{}"])
    with pytest.raises(InputError, match="synthetic.jsonl:1"):
        TruthInferenceScorer(votes_field="votes").score(pool, ctx)
