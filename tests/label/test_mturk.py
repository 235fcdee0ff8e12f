import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.label.dawid_skene import dawid_skene, majority_vote
from curata.label.mturk import POOLED, RESPONSES, load_mturk

SHARED = Path(os.environ.get("CURATA_SHARED", Path(__file__).resolve().parents[3] / "shared"))
LABEL_ERRORS = SHARED / "data" / "label-errors"
needs_data = pytest.mark.skipif(not (LABEL_ERRORS / "mturk").exists(),
                                reason=f"shared label-errors data not found at {LABEL_ERRORS}")


def write(tmp_path, entries, name="toy_mturk.json"):
    p = tmp_path / name
    p.write_text(json.dumps(entries))
    return p


def test_counts_become_one_row_per_vote(tmp_path):
    p = write(tmp_path, [
        {"id": 7, "given_original_label": 3, "our_guessed_label": 1,
         "mturk": {"given": 1, "guessed": 2, "neither": 0, "both": 2}},
        {"id": 2, "given_original_label": 0, "our_guessed_label": 0,
         "mturk": {"given": 4, "guessed": 4, "neither": 1}},
    ])
    m = load_mturk(p)
    assert m.dataset == "toy"
    assert (m.votes["annotator"] == POOLED).all()
    got = m.votes.groupby("item")["response"].apply(lambda s: sorted(s.tolist())).to_dict()
    assert got == {7: ["both", "both", "given", "guessed", "guessed"], 2: ["given"] * 4 + ["neither"]}
    assert m.items.set_index("item").loc[2, "same_label"]  # guessed == given: its votes are counted once
    assert (m.votes["label"] == m.votes["response"].map(RESPONSES.index)).all()


def test_sentiment_keys_are_mapped_to_given_and_guessed(tmp_path):
    p = write(tmp_path, [{"id": 5, "given_original_label": "Neutral", "our_guessed_label": "Positive",
                          "mturk": {"positive": 3, "negative": 1, "neutral": 1, "off-topic": 0}}])
    counts = load_mturk(p).items.iloc[0][list(RESPONSES)].tolist()
    assert counts == [1, 3, 1, 0]  # given (neutral), guessed (positive), neither (negative + off-topic), both


@pytest.mark.parametrize("entries, match", [
    ([], "non-empty"),
    ([{"id": 1, "given_original_labels": ["a"], "our_guessed_labels": ["b"], "mturk": {"a": 1}}],
     "multi-label"),
    ([{"id": 1, "mturk": {"given": 5}}], "lacks"),
    ([{"id": 1, "given_original_label": 0, "our_guessed_label": 1, "mturk": {"given": 0, "guessed": 0}}],
     "no votes"),
])
def test_bad_files(tmp_path, entries, match):
    with pytest.raises(ValueError, match=match):
        load_mturk(write(tmp_path, entries))


@needs_data
def test_real_20news_file_matches_the_derived_counts():
    m = load_mturk(LABEL_ERRORS / "mturk" / "20news_mturk.json")
    cand = pd.read_csv(LABEL_ERRORS / "derived" / "20news_candidates.csv")
    assert len(m.items) == 93 and len(m.votes) == 93 * 5
    merged = m.items.merge(cand, left_on="item", right_on="index")
    assert len(merged) == 93
    assert (merged["given"] == merged["given_votes"]).all()
    assert (merged["guessed"] == merged["guessed_votes"]).all()
    # the pooled model: two latent classes (given is right / guessed is right) over the four answers
    res = dawid_skene(m.votes, 2, n_responses=4, items=m.items["item"].tolist())
    assert res.confusion.shape == (1, 2, 4)
    np.testing.assert_allclose(res.posteriors.sum(1), 1)


@needs_data
def test_real_mnist_file_has_five_votes_per_item():
    m = load_mturk(LABEL_ERRORS / "mturk" / "mnist_mturk.json")
    per_item = m.votes.groupby("item").size()
    assert len(per_item) == 100 and (per_item == 5).all()  # given==guessed items are not double-counted
    assert int(m.items["same_label"].sum()) == 13
    mv = majority_vote(m.votes, 2, n_responses=4, items=m.items["item"].tolist())
    # majority vote between given and guessed, other answers ignored: 3+ given votes always wins for given
    assert (mv.labels[m.items["given"].to_numpy() >= 3] == 0).all()
    with pytest.raises(ValueError, match="multi-label"):
        load_mturk(LABEL_ERRORS / "mturk" / "audioset_mturk.json")
