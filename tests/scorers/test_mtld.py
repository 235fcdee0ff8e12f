import numpy as np
import pytest

from curata.scorers.mtld import MTLDScorer, mtld, tokens

HAND = "One two, three; one two four FIVE one five."


def test_tokens_lowercase_word_runs():
    assert tokens(HAND) == ["one", "two", "three", "one", "two", "four", "five", "one", "five"]


def test_hand_worked_example():
    # forward: "one two three one two" drops to TTR 3/5 = 0.6 -> 1 factor; "four five one five" ends at
    #   TTR 3/4 -> partial (1 - 0.75) / 0.28 = 25/28; 9 / (53/28) = 252/53
    # backward: "five one five" (2/3) -> factor; "four two one three two one" (4/6) -> factor; nothing left;
    #   9 / 2 = 4.5
    assert mtld(tokens(HAND)) == pytest.approx((252 / 53 + 4.5) / 2, abs=1e-12)
    assert mtld(tokens(HAND)) == pytest.approx(981 / 212)


def test_edge_cases():
    assert mtld([]) == 0.0
    assert mtld(["alpha", "beta", "gamma"]) == 3.0  # never falls below 1: one factor
    assert mtld(["a"] * 10) == pytest.approx(1.0 * 10 / 5)  # every 2nd token closes a factor


def test_scorer_columns_and_fields(make_pool, ctx):
    pool = make_pool(["", "   ", HAND, "a b c d"])
    out = MTLDScorer().score(pool, ctx)
    assert list(out.columns) == ["mtld_score"] and len(out) == 4
    np.testing.assert_allclose(out["mtld_score"], [0.0, 0.0, 981 / 212, 4.0])

    inst = make_pool(["instruction text ignored"] * 2, task="instruction", instruction=["x", "y"],
                     input=["", ""], output=[HAND, "same same same same"])
    out = MTLDScorer().score(inst, ctx)
    assert out["mtld_score"].iloc[0] == pytest.approx(981 / 212)
    assert out["mtld_score"].iloc[1] == pytest.approx(2.0)
    out = MTLDScorer(field="instruction").score(inst, ctx)
    assert out["mtld_score"].tolist() == [1.0, 1.0]


def test_diverse_text_scores_higher(make_pool, ctx):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(500)]
    diverse = " ".join(rng.choice(vocab, 200))
    repetitive = " ".join(rng.choice(vocab[:8], 200))
    out = MTLDScorer().score(make_pool([diverse, repetitive]), ctx)["mtld_score"]
    assert out[0] > 5 * out[1]


def test_matches_lexicalrichness():
    lr = pytest.importorskip("lexicalrichness")
    rng = np.random.default_rng(1)
    for size, vocab in [(50, 20), (120, 60), (300, 40), (17, 17), (200, 400)]:
        words = [f"w{i}" for i in rng.integers(0, vocab, size)]
        ref = lr.LexicalRichness(words, preprocessor=None, tokenizer=None).mtld(threshold=0.72)
        assert mtld(words) == pytest.approx(ref, rel=1e-12)
    ref = lr.LexicalRichness(tokens(HAND), preprocessor=None, tokenizer=None).mtld(threshold=0.72)
    assert mtld(tokens(HAND)) == pytest.approx(ref)
