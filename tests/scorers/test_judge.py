import sys
from pathlib import Path

import numpy as np
import pytest

from curata.engine.context import RunContext
from curata.engine.run_dir import RunDir
from curata.errors import ConfigError
from curata.scorers.judge import SYSTEM, JudgeScorer, parse_rating

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: the sibling test helper
from _fake_lm import CALLS, instruction_pool  # noqa: E402


@pytest.mark.parametrize("reply, expected", [
    ("Score: 4\nThe answer is correct but terse.", 4),
    ("score:5", 5),
    ("Rating - **five**. Great.", 5),
    ("**Score**: 3/5", 3),
    ("My rating is 2.5 because ...", 2.5),
    ("The response has 12 errors. Score: 2", 2),       # the labelled number wins over an earlier one
    ("I would give it 4 out of 5.", 4),
    ("8/10, nicely done", 4),                          # rescaled to the 1-5 scale
    ("The response is 1 out of 10", 1),                # rescaled (0.5) and clipped into the scale
    ("Out of 10 points: 7", None),                     # 10 and 7 are both outside 1..5
    ("1. The response is good\n2. It is short", 1),    # first number in range: a known limit of rule 2
    ("I'd say three stars.", 3),
    ("No one would find this useful.", None),           # "one" counts only after a label
    ("Score: one", 1),
    ("Score: 7", None),                                 # out of range
    ("Score: 6/5", None),
    ("The response is excellent.", None),
    ("", None),
])
def test_parse_rating_on_a_1_to_5_scale(reply, expected):
    assert parse_rating(reply, 1, 5) == expected


def test_parse_rating_on_a_0_to_10_scale():
    assert parse_rating("Score: 0", 0, 10) == 0
    assert parse_rating("Rating: 4/5", 0, 10) == 8
    assert parse_rating("ten out of ten", 0, 10) == 10
    assert parse_rating("Score: 11", 0, 10) is None


def fake(*replies, default="Score: 3"):
    return {"name": "fake", "replies": [list(r) for r in replies], "default_reply": default}


def test_ratings_statuses_and_raw_replies(make_pool, ctx):
    pool = instruction_pool(make_pool, [
        ("q1", "", "good answer"),
        ("q2", "", "wordy answer"),
        ("q3", "", "odd answer"),
        ("q4", "", "broken answer"),
        ("q5", "", "  "),
    ])
    lm = fake(("good answer", "Score: 5 - correct"), ("wordy answer", "I'd rate it four."),
              ("odd answer", "This response is fine. " * 20), ("broken answer", "ERR"))
    out = JudgeScorer(lm=lm, raw_chars=30).score(pool, ctx)
    assert out["judge_score"].iloc[:2].tolist() == [5, 4]
    assert out["judge_score"].iloc[2:].isna().all()
    assert out["judge_status"].tolist() == ["ok", "ok", "unparsed", "error", "empty_response"]
    assert out["judge_raw"].iloc[0] == "Score: 5 - correct"
    assert out["judge_raw"].iloc[2] == ("This response is fine. " * 2)[:30]
    assert out["judge_raw"].iloc[3] == "error: HTTP 500 (fake)"
    assert out["judge_raw"].iloc[4] is None
    assert ctx.notes == [("judge: 3 of 5 records not fully rated (unparsed ×1, error ×1, empty_response ×1); "
                          "see judge_status")]


def test_the_prompt_carries_the_record_and_the_scale(make_pool, ctx):
    judge = JudgeScorer(lm=fake(), scale="0-10")
    conv = judge._conversation("Translate to French", "cat", "chat", "overall")
    assert conv[0] == {"role": "system", "content": SYSTEM}
    user = conv[1]["content"]
    assert "Instruction:\nTranslate to French\n\nInput:\ncat\n\nResponse:\nchat\n\n" in user
    assert "to the instruction and the input?" in user
    assert "Give a score from 0 (useless) to 10 (excellent)." in user
    assert "Input:" not in judge._conversation("Say hi", "", "hi", "overall")[1]["content"]


def test_aspects_are_rated_separately_and_partial_failures_marked(make_pool, ctx):
    pool = instruction_pool(make_pool, [("q1", "", "alpha"), ("q2", "", "beta")])
    lm = fake(("How natural", "Score: 2"), ("How coherent", "Score: 4"),
              ("beta\n\nHow understandable", "no idea"), ("How understandable", "Score: 5"), default="Score: 3")
    out = JudgeScorer(lm=lm, aspects=["naturalness", "coherence", "understandability"]).score(pool, ctx)
    assert out["judge_score"].tolist() == [3, 3]
    assert out["judge_naturalness"].tolist() == [2, 2]
    assert out["judge_coherence"].tolist() == [4, 4]
    assert out["judge_understandability"].iloc[0] == 5 and np.isnan(out["judge_understandability"].iloc[1])
    assert out["judge_status"].tolist() == ["ok", "partial"]
    assert out["judge_raw"].iloc[1] == "Score: 3 | [understandability] no idea"


def test_long_responses_are_cut_before_judging(make_pool, ctx):
    pool = instruction_pool(make_pool, [("q", "", "x" * 500), ("q", "", "short")])
    out = JudgeScorer(lm=fake(), max_response_chars=100).score(pool, ctx)
    assert out["judge_truncated"].tolist() == [True, False]
    assert out["judge_score"].tolist() == [3, 3]


def test_replies_are_cached_in_the_run_directory(make_pool, tmp_path):
    pool = instruction_pool(make_pool, [("q1", "", "a"), ("q2", "", "b"), ("q2", "", "b"), ("q3", "", "FAILS")])
    lm = fake(("FAILS", "ERR"))
    CALLS.clear()
    first = JudgeScorer(lm=lm).score(pool, RunContext(run_dir=RunDir(tmp_path / "run"), progress=False))
    assert CALLS["chat"] == 3  # the duplicate is asked once
    second = JudgeScorer(lm=lm).score(pool, RunContext(run_dir=RunDir(tmp_path / "run"), progress=False))
    assert CALLS["chat"] == 3 + 1  # only the error is asked again
    assert first.equals(second)
    assert any((tmp_path / "run" / "cache" / "lm").glob("fake-*/gen-*.json"))


def test_surrogates_do_not_break_the_judge(make_pool, ctx):
    pool = instruction_pool(make_pool, [("caf\udce9", "", "ok\udc80")])
    assert JudgeScorer(lm=fake()).score(pool, ctx)["judge_status"].tolist() == ["ok"]


def test_judge_needs_an_instruction_pool(make_pool, ctx):
    with pytest.raises(ConfigError, match="instruction pool"):
        JudgeScorer(lm=fake()).score(make_pool(texts=["a"]), ctx)


def test_real_smollm2_judge_replies_are_kept_and_classified(make_pool, ctx):
    from _fake_lm import real_lm_spec

    pool = instruction_pool(make_pool, [("What is 2 + 2?", "", "4"), ("Name a fruit.", "", "Apple.")])
    out = JudgeScorer(lm=real_lm_spec(max_length=512), max_new_tokens=12).score(pool, ctx)
    assert set(out["judge_status"]) <= {"ok", "unparsed"}
    assert out["judge_raw"].str.len().gt(0).all()
    ok = out["judge_status"] == "ok"
    assert out.loc[ok, "judge_score"].between(1, 5).all() and out.loc[~ok, "judge_score"].isna().all()
