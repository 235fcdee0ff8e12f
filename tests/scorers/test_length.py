"""Length: whitespace tokens (what token budgets count) and characters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curata.scorers.length import LengthScorer


def test_tokens_and_characters(make_pool, ctx):
    texts = ["one", "two words", "  leading and   inner\tspaces\nnewline  ", "",
             "caf\u00e9 \u00fcber na\u00efve", "emoji \U0001F600 counts as a token"]
    out = LengthScorer().score(make_pool(texts=texts), ctx)
    assert list(out.columns) == ["length_score", "length_chars"]
    assert out["length_score"].tolist() == [1, 2, 5, 0, 3, 6]
    assert out["length_chars"].tolist() == [3, 9, 38, 0, 15, 25]  # characters are code points
    assert out["length_score"].dtype == np.int64 and out["length_chars"].dtype == np.int64


def test_missing_text_counts_as_empty(make_pool, ctx):
    pool = make_pool(texts=["a b", None])
    out = LengthScorer().score(pool, ctx)
    assert out["length_score"].tolist() == [2, 0] and out["length_chars"].tolist() == [3, 0]


def test_another_field(make_pool, ctx):
    pool = make_pool(texts=["x", "y"], summary=["a b c", "d"])
    out = LengthScorer(field="summary").score(pool, ctx)
    assert out["length_score"].tolist() == [3, 1]


def test_instructions_also_measure_the_response(make_pool, ctx):
    pool = make_pool(texts=["Translate\n\nhola\n\nhello there", "Say hi\n\nhi"], task="instruction",
                     instruction=["Translate", "Say hi"], input=["hola", ""], output=["hello there", "hi"])
    out = LengthScorer().score(pool, ctx)
    assert out["length_score"].tolist() == [4, 3]
    assert out["length_output_score"].tolist() == [2, 1]


def test_pairs_count_both_sides(make_pool, ctx):
    pool = make_pool(texts=["iPhone 12 [SEP] Apple iPhone 12"], task="pair", left=["iPhone 12"],
                     right=["Apple iPhone 12"])
    assert LengthScorer().score(pool, ctx)["length_score"].tolist() == [6]  # the separator is one token


def test_empty_pool(make_pool, ctx):
    pool = make_pool(texts=[])
    pool.df = pd.DataFrame({c: pd.Series(dtype=object) for c in pool.df.columns})
    out = LengthScorer().score(pool, ctx)
    assert len(out) == 0 and "length_score" in out.columns
