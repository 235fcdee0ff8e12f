import numpy as np

from curata.dedup.exact import ExactDuplicateScorer, normalise_text


def test_normalise_text():
    assert normalise_text("  Ｈｅｌｌｏ\t\n  WORLD ") == "hello world"
    assert normalise_text("ﬁne") == "fine"  # NFKC ligature


def test_first_occurrence_kept(make_pool, ctx):
    texts = ["Hello  World", "hello world", "Ｈｅｌｌｏ world", " hello\tworld\n", "other", "Other ",
             "hello worlds"]
    out = ExactDuplicateScorer().score(make_pool(texts), ctx)
    assert list(out.columns) == ["exact_dup_score", "exact_dup_of"]
    assert out["exact_dup_score"].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    assert out["exact_dup_of"].tolist() == [None, "r0", "r0", "r0", None, "r4", None]


def test_pairs_use_joined_text(make_pool, ctx):
    texts = ["Apple iPhone [SEP] iphone by apple", "apple iphone [SEP] IPHONE by Apple",
             "iphone by apple [SEP] Apple iPhone"]
    pool = make_pool(texts, task="pair", left=[t.split(" [SEP] ")[0] for t in texts],
                     right=[t.split(" [SEP] ")[1] for t in texts])
    out = ExactDuplicateScorer().score(pool, ctx)
    assert out["exact_dup_of"].tolist() == [None, "r0", None]  # order of the sides matters


def test_no_duplicates_and_empty(make_pool, ctx):
    out = ExactDuplicateScorer().score(make_pool(["a", "b", "", None]), ctx)
    assert out["exact_dup_score"].tolist() == [0.0, 0.0, 0.0, 1.0]  # missing text normalises to ""
    assert out["exact_dup_of"].tolist() == [None, None, None, "r2"]
    empty = ExactDuplicateScorer().score(make_pool([]), ctx)
    assert len(empty) == 0 and list(empty.columns) == ["exact_dup_score", "exact_dup_of"]
    assert np.asarray(empty["exact_dup_score"]).dtype == np.float64
