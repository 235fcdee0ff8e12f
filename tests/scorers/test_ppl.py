import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.errors import ConfigError
from curata.scorers._lm import plain_prompt
from curata.scorers.ppl import PerplexityScorer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: the sibling test helper
from _fake_lm import CALLS, instruction_pool  # noqa: E402

FAKE = {"name": "fake"}


def test_perplexity_is_exp_mean_nll_of_the_response_given_the_plain_prompt(make_pool, ctx):
    pool = instruction_pool(make_pool, [("say hello", "", "hello world"), ("add", "2 3", "five")])
    out = PerplexityScorer(lm=FAKE).score(pool, ctx)
    # "hello" is in the prompt: −3/4; "world" is not: −3 → mean NLL 1.875. "five": −(1 + 4 % 3) = −2.
    assert out["ppl_score"].tolist() == pytest.approx([math.exp(1.875), math.exp(2.0)])
    assert out["ppl_tokens"].tolist() == [2, 1]
    assert out["ppl_issue"].isna().all()


def test_prompt_formats():
    assert plain_prompt("add", "2 3") == "### Instruction:\nadd\n\n### Input:\n2 3\n\n### Response:\n"
    assert plain_prompt("say hi", "  ") == "### Instruction:\nsay hi\n\n### Response:\n"


def test_auto_format_uses_the_chat_template_when_the_backend_has_one(make_pool, ctx):
    pool = instruction_pool(make_pool, [("say hello", "", "<assistant> there")])
    chat = PerplexityScorer(lm={"name": "fake_chat"}).score(pool, ctx)
    plain = PerplexityScorer(lm={"name": "fake_chat"}, prompt_format="plain").score(pool, ctx)
    # the chat prompt "<user> say hello <assistant>" contains "<assistant>" (−3 → −3/4); the plain one does not
    assert chat["ppl_score"].iloc[0] == pytest.approx(math.exp(1.875))
    assert plain["ppl_score"].iloc[0] == pytest.approx(math.exp(3.0))
    with pytest.raises(ConfigError, match="no chat template"):
        PerplexityScorer(lm=FAKE, prompt_format="chat").score(pool, ctx)


def test_bad_records_get_nan_and_a_reason(make_pool, ctx):
    long_out = " ".join(["word"] * 80)
    pool = instruction_pool(make_pool, [
        ("say hello", "", "hello world"),
        ("empty", "", "   "),
        ("long", "", long_out),
        ("fail", "", "this will FAIL"),
        ("surrogate", "", "caf\udce9 ok"),
    ])
    out = PerplexityScorer(lm={"name": "fake", "max_length": 64}).score(pool, ctx)
    score, issue = out["ppl_score"].to_numpy(), out["ppl_issue"].tolist()
    assert np.isfinite(score[0]) and issue[0] is None
    assert np.isnan(score[1]) and issue[1] == "empty response"
    assert np.isnan(score[2]) and issue[2].startswith("truncated: ")
    assert "dropped" in issue[2]
    assert np.isnan(score[3]) and issue[3] == "error: backend failure (fake)"
    # lone surrogates are replaced (the fake raises on them) and the record is still scored
    assert np.isfinite(score[4]) and "lone surrogate" in issue[4]
    assert ctx.notes == ["ppl: prompts in the plain format (see docs/lm.md)",
                         ("ppl: 3 of 5 records not scored (empty response ×1, truncated ×1, error ×1); "
                          "1 scored with a remark; see ppl_issue")]


def test_identical_requests_are_sent_once(make_pool, ctx):
    CALLS.clear()
    pool = instruction_pool(make_pool, [("a", "", "bb c")] * 4 + [("a", "", "d")])
    out = PerplexityScorer(lm=FAKE).score(pool, ctx)
    assert CALLS["requests"] == 2
    assert out["ppl_score"].nunique() == 2


def test_text_pools_score_the_whole_text_without_prompt(make_pool, ctx):
    pool = make_pool(texts=["hello world", "ab"])
    out = PerplexityScorer(lm=FAKE).score(pool, ctx)
    assert out["ppl_score"].tolist() == pytest.approx([math.exp(3.0), math.exp(3.0)])


def test_one_backend_per_spec_per_run(make_pool):
    ctx = RunContext(progress=False)
    pool = instruction_pool(make_pool, [("say hello", "", "hello world")])
    PerplexityScorer(lm=FAKE).score(pool, ctx)
    PerplexityScorer(lm=FAKE).score(pool, ctx)
    assert len(ctx.artifacts["_lm_backends"]) == 1


def test_lm_spec_must_name_a_known_backend():
    with pytest.raises(ConfigError, match="lm"):
        PerplexityScorer(lm={"model": "smollm2"})
    with pytest.raises(ConfigError, match="unknown lm backend 'gpt'"):
        PerplexityScorer(lm={"name": "gpt"})


def test_real_smollm2_finds_the_right_answer_less_perplexing(make_pool, ctx):
    from _fake_lm import real_lm_spec

    pool = instruction_pool(make_pool, [("What is the capital of France?", "", "The capital of France is Paris."),
                                        ("What is the capital of France?", "", "Purple engine quickly of the banana.")])
    out = PerplexityScorer(lm=real_lm_spec()).score(pool, ctx)
    assert out["ppl_issue"].isna().all()
    assert (out["ppl_tokens"] > 3).all()
    assert 1.0 < out["ppl_score"].iloc[0] < out["ppl_score"].iloc[1]


def test_scores_are_cached_in_the_run_directory_but_errors_are_not(make_pool, tmp_path):
    from curata.engine.run_dir import RunDir

    pool = instruction_pool(make_pool, [("say hello", "", "hello world"), ("fail", "", "will FAIL")])
    CALLS.clear()
    first = PerplexityScorer(lm=FAKE).score(pool, RunContext(run_dir=RunDir(tmp_path / "run"), progress=False))
    assert CALLS["requests"] == 2
    second = PerplexityScorer(lm=FAKE).score(pool, RunContext(run_dir=RunDir(tmp_path / "run"), progress=False))
    assert CALLS["requests"] == 2 + 1  # only the failed request is sent again
    assert first.equals(second)


def test_through_the_pipeline_into_records_parquet(make_pool, tmp_path):
    from curata.engine.pipeline import Pipeline
    from curata.scorers.ifd import IFDScorer

    pool = instruction_pool(make_pool, [("say hello", "", "hello world"), ("empty", "", "")])
    Pipeline([PerplexityScorer(lm=FAKE), IFDScorer(lm=FAKE)], run_dir=tmp_path / "run", progress=False).run(pool)
    records = pd.read_parquet(tmp_path / "run" / "records.parquet")
    assert records["ppl_score"].iloc[0] == pytest.approx(math.exp(1.875))
    assert records["ifd_score"].iloc[0] == pytest.approx(0.625)
    for col in ("ppl_issue", "ifd_issue"):
        assert records[col].isna().iloc[0] and records[col].iloc[1] == "empty response"
