import sys
from pathlib import Path

import numpy as np
import pytest

from curata.engine.context import RunContext
from curata.errors import ConfigError
from curata.scorers.ifd import IFDScorer
from curata.scorers.ppl import PerplexityScorer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: the sibling test helper
from _fake_lm import CALLS, instruction_pool  # noqa: E402

FAKE = {"name": "fake"}


def test_ifd_is_conditional_over_unconditional_loss(make_pool, ctx):
    pool = instruction_pool(make_pool, [("say hello", "", "hello world"), ("add", "2 3", "five"),
                                        ("name a fruit", "", "fruit apple")])
    out = IFDScorer(lm=FAKE).score(pool, ctx)
    # record 0: conditional (0.75 + 3) / 2 = 1.875, unconditional 3 → 0.625
    # record 1: the prompt shares no word: 2 / 2 = 1.0 (not > 1, kept)
    # record 2: "fruit" (−3 → −0.75) and "apple" (−3): 1.875 / 3
    assert out["ifd_conditional_loss"].tolist() == pytest.approx([1.875, 2.0, 1.875])
    assert out["ifd_unconditional_loss"].tolist() == pytest.approx([3.0, 2.0, 3.0])
    assert out["ifd_score"].tolist() == pytest.approx([0.625, 1.0, 0.625])
    assert out["ifd_issue"].isna().all()


def test_ifd_above_one_is_set_to_zero_and_counted(make_pool, ctx):
    pool = instruction_pool(make_pool, [("CONFUSE me", "", "hello world"), ("say hello", "", "hello world")])
    out = IFDScorer(lm=FAKE).score(pool, ctx)
    assert out["ifd_conditional_loss"].iloc[0] == pytest.approx(6.0)  # doubled NLL: 6 / 3 = 2 > 1
    assert out["ifd_score"].tolist() == pytest.approx([0.0, 0.625])
    assert out["ifd_issue"].isna().all()
    assert "ifd: 1 of 2 records had IFD > 1 (the prompt did not help): set to 0" in ctx.notes


def test_truncated_records_get_zero_with_the_reason(make_pool, ctx):
    # plain prompt "### Instruction: long ### Response:" = 5 words; max_length 12
    pool = instruction_pool(make_pool, [("long", "", " ".join(["word"] * 9)), ("long", "", " ".join(["word"] * 13)),
                                        ("say hello", "", "hello world")])
    out = IFDScorer(lm={"name": "fake", "max_length": 12}).score(pool, ctx)
    issue = out["ifd_issue"].tolist()
    # 5 + 9 words: the prompt loses 2 words on the left, only the conditional sequence is truncated
    assert out["ifd_score"].iloc[0] == 0.0
    assert issue[0] == "truncated: conditional sequence over the LM's max length (2 token(s) dropped); IFD set to 0"
    # 13 words: both truncated (prompt all gone + 1 response word; alone 1 response word)
    assert out["ifd_score"].iloc[1] == 0.0
    assert issue[1].startswith("truncated: conditional and unconditional sequence")
    assert out["ifd_score"].iloc[2] == pytest.approx(0.625) and issue[2] is None


def test_unscorable_records_get_nan(make_pool, ctx):
    pool = instruction_pool(make_pool, [("empty", "", "\n\t "), ("fail", "", "FAIL here"),
                                        ("sur\udc80rogate", "", "hello world")])
    out = IFDScorer(lm=FAKE).score(pool, ctx)
    assert np.isnan(out["ifd_score"].iloc[0]) and out["ifd_issue"].iloc[0] == "empty response"
    assert np.isnan(out["ifd_score"].iloc[1])
    assert out["ifd_issue"].iloc[1] == ("conditional: error: backend failure (fake); "
                                        "unconditional: error: backend failure (fake)")
    assert out["ifd_score"].iloc[2] == pytest.approx(1.0)  # "sur\ufffdrogate" shares no word with the response
    assert "1 lone surrogate(s) replaced" in out["ifd_issue"].iloc[2]


def test_ifd_shares_the_conditional_request_with_ppl(make_pool):
    """Without a run directory the run remembers answers: ifd asks only for the unconditional loss."""
    CALLS.clear()
    ctx = RunContext(progress=False)
    pool = instruction_pool(make_pool, [("say hello", "", "hello world")])
    ppl = PerplexityScorer(lm=FAKE).score(pool, ctx)
    ifd = IFDScorer(lm=FAKE).score(pool, ctx)
    assert np.log(ppl["ppl_score"].iloc[0]) == pytest.approx(ifd["ifd_conditional_loss"].iloc[0])
    assert CALLS["requests"] == 1 + 1


def test_ifd_needs_an_instruction_pool(make_pool, ctx):
    with pytest.raises(ConfigError, match="instruction pool"):
        IFDScorer(lm=FAKE).score(make_pool(texts=["a b"]), ctx)


def test_real_smollm2_ifd_of_a_fitting_answer_is_below_one(make_pool, ctx):
    from _fake_lm import real_lm_spec

    pool = instruction_pool(make_pool, [("What is the capital of France?", "", "The capital of France is Paris."),
                                        ("Name a colour.", "", " ".join(["blue"] * 300))])
    out = IFDScorer(lm=real_lm_spec(max_length=128)).score(pool, ctx)
    assert 0.0 < out["ifd_score"].iloc[0] < 1.0
    assert out["ifd_conditional_loss"].iloc[0] < out["ifd_unconditional_loss"].iloc[0]
    assert out["ifd_score"].iloc[1] == 0.0 and out["ifd_issue"].iloc[1].startswith("truncated: ")
