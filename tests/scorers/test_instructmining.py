import json
import sys
from pathlib import Path

import numpy as np
import pytest

from curata.errors import ConfigError
from curata.scorers.instructmining import RECALLED_V3, InstructMiningScorer, load_rule
from curata.scorers.mtld import mtld, tokens
from curata.scorers.ppl import PerplexityScorer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: the sibling test helper
from _fake_lm import CALLS, instruction_pool  # noqa: E402

FAKE = {"name": "fake"}
ROWS = [
    ("say hello", "", "hello world"),
    ("add the numbers", "2 3", "five"),
    ("name a fruit", "", "fruit apple banana apple"),
    ("write a line", "", "the cat sat on the mat"),
    ("count", "to three", "one two three"),
    ("greet", "", "hi there friend"),
    ("list colours", "", "red green blue red"),
    ("explain", "gravity", "things fall down because of mass"),
]


def embeddings(n=8, d=4, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def knn_distance(x, k):
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return 1.0 - np.sort(sims, axis=1)[:, ::-1][:, k - 1]


def zscore(v):
    v = np.asarray(v, dtype=float)
    return (v - v.mean()) / v.std()


def write_rule(tmp_path, rule):
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(rule))
    return str(path)


def test_indicators_and_a_fitted_rule(make_pool, ctx, tmp_path):
    x = embeddings()
    pool = instruction_pool(make_pool, ROWS, embeddings=x)
    rule = write_rule(tmp_path, {"coefficients": {"intercept": 1.0, "im_len_out": 0.5, "ppl": -0.1},
                                 "means": {"len_out": 2.0, "ppl": 10.0}, "stds": {"len_out": 1.0, "ppl": 5.0}})
    CALLS.clear()
    out = InstructMiningScorer(lm=FAKE, rule=rule).score(pool, ctx)
    assert CALLS["chat"] == 0  # the rule has no judge term: the judge is not run
    assert out["im_len_in"].tolist() == [2, 5, 3, 3, 3, 1, 2, 2]  # words of "instruction\n\ninput"
    assert out["im_len_out"].tolist() == [len(r[2].split()) for r in ROWS]
    ppl = PerplexityScorer(lm=FAKE).score(pool, ctx)["ppl_score"].to_numpy()
    assert out["im_ppl"].to_numpy() == pytest.approx(ppl)
    assert out["im_mtld"].tolist() == pytest.approx([mtld(tokens(r[2])) for r in ROWS])
    assert out["im_knn6"].to_numpy() == pytest.approx(knn_distance(pool.embeddings, 6), abs=1e-6)
    assert out["im_reward"].isna().all()
    expected = 1.0 + 0.5 * (out["im_len_out"] - 2.0) - 0.1 * (out["im_ppl"] - 10.0) / 5.0
    assert out["instructmining_score"].to_numpy() == pytest.approx(expected.to_numpy())
    order = np.lexsort((np.arange(len(ROWS)), expected.to_numpy()))
    assert out["instructmining_rank"].to_numpy()[order].tolist() == list(range(1, len(ROWS) + 1))
    assert out["instructmining_issue"].isna().all()
    assert ctx.artifacts["instructmining_rule"]["missing"] == []


def test_recalled_rule_on_judge_columns_already_in_the_pool(make_pool, ctx):
    rng = np.random.default_rng(1)
    judge = {c: rng.integers(1, 6, len(ROWS)).astype(float) for c in
             ("judge_score", "judge_naturalness", "judge_coherence", "judge_understandability")}
    pool = instruction_pool(make_pool, ROWS, embeddings=embeddings(), **judge)
    CALLS.clear()
    out = InstructMiningScorer(lm=FAKE).score(pool, ctx)
    assert CALLS["chat"] == 0
    expected = (RECALLED_V3["intercept"] + RECALLED_V3["rew"] * zscore(judge["judge_score"])
                + RECALLED_V3["nat"] * zscore(judge["judge_naturalness"])
                + RECALLED_V3["coh"] * zscore(judge["judge_coherence"])
                + RECALLED_V3["und"] * zscore(judge["judge_understandability"]))
    assert out["instructmining_score"].to_numpy() == pytest.approx(expected)
    assert out["im_reward"].tolist() == judge["judge_score"].tolist()
    note = next(n for n in ctx.notes if n.startswith("instructmining:"))
    assert "recalled, not verified" in note and "lower is better" in note and "missing" not in note


def test_recalled_rule_runs_the_judge_for_its_terms(make_pool, ctx):
    pool = instruction_pool(make_pool, ROWS[:4], embeddings=embeddings(4))
    lm = {"name": "fake", "replies": [["How natural", "Score: 2"], ["How coherent", "Score: 4"],
                                      ["How understandable", "Score: 5"], ["hello world", "Score: 1"]],
          "default_reply": "Score: 3"}
    CALLS.clear()
    out = InstructMiningScorer(lm=lm).score(pool, ctx)
    assert CALLS["chat"] == 4 * 4  # overall + three aspects per record
    assert out["im_reward"].tolist() == [1, 3, 3, 3]
    assert out["im_naturalness"].tolist() == [2, 2, 2, 2]
    # constant aspects carry no information (z = 0): only the reward term moves the score
    expected = RECALLED_V3["intercept"] + RECALLED_V3["rew"] * zscore([1, 3, 3, 3])
    assert out["instructmining_score"].to_numpy() == pytest.approx(expected)
    assert out["instructmining_rank"].iloc[0] == 4  # the lowest reward predicts the highest loss


def test_without_the_judge_the_recalled_rule_has_nothing_to_use(make_pool, ctx):
    pool = instruction_pool(make_pool, ROWS, embeddings=embeddings())
    with pytest.raises(ConfigError, match="use_judge is false"):
        InstructMiningScorer(lm=FAKE, use_judge=False).score(pool, ctx)


def test_rule_none_writes_the_indicators_alone(make_pool, ctx):
    """What `curata instructmining-fit` needs before any rule exists: indicators, no score, no judge."""
    pool = instruction_pool(make_pool, ROWS, embeddings=embeddings())
    CALLS.clear()
    out = InstructMiningScorer(lm=FAKE, rule="none", use_judge=False).score(pool, ctx)
    assert CALLS["chat"] == 0
    assert out["instructmining_score"].isna().all() and out["instructmining_rank"].isna().all()
    assert out["im_len_out"].tolist() == [len(r[2].split()) for r in ROWS]
    assert np.isfinite(out["im_ppl"]).all() and np.isfinite(out["im_knn6"]).all()
    assert any("no rule (rule: none)" in n for n in ctx.notes)


def test_missing_terms_are_named(make_pool, ctx):
    pool = instruction_pool(make_pool, ROWS, embeddings=embeddings(), judge_score=np.arange(len(ROWS), dtype=float))
    out = InstructMiningScorer(lm=FAKE, use_judge=False).score(pool, ctx)
    expected = RECALLED_V3["intercept"] + RECALLED_V3["rew"] * zscore(np.arange(len(ROWS)))
    assert out["instructmining_score"].to_numpy() == pytest.approx(expected)
    note = next(n for n in ctx.notes if n.startswith("instructmining:"))
    assert "terms used: rew; missing (dropped): und, nat, coh" in note


def test_bad_records_are_imputed_and_explained(make_pool, ctx, tmp_path):
    rows = ROWS[:5] + [("empty", "", " "), ("fail", "", "will FAIL"), ("caf\udce9", "", "ok fine")]
    pool = instruction_pool(make_pool, rows, embeddings=embeddings(),
                            judge_score=[1.0, 2, 3, 4, 5, 3, np.nan, 2])
    rule = write_rule(tmp_path, {"coefficients": {"const": 0.0, "rew": 1.0, "ppl": 1.0}})
    out = InstructMiningScorer(lm=FAKE, rule=rule).score(pool, ctx)
    issue = out["instructmining_issue"].tolist()
    assert np.isfinite(out["instructmining_score"]).all()
    assert issue[5] == "empty response; imputed with the mean: im_ppl"
    assert issue[6] == "error: backend failure (fake); imputed with the mean: im_ppl, im_reward"
    assert "lone surrogate" in issue[7]
    assert all(i is None for i in issue[:5])
    # imputed = z 0: record 6 (no ppl, no reward) sits exactly at the intercept
    assert out["instructmining_score"].iloc[6] == pytest.approx(0.0)


def test_rule_files_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the rule"):
        load_rule(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="unknown InstructMining indicator 'loudness'"):
        load_rule(write_rule(tmp_path, {"coefficients": {"loudness": 1.0}}))
    rule = load_rule(write_rule(tmp_path, {"coefficients": {"Intercept": 0.5, "reward": -1, "im_knn6": 2},
                                           "means": {"im_reward": 3}, "stds": {"reward": 2}}))
    assert rule["intercept"] == 0.5
    assert rule["coefficients"] == {"rew": -1.0, "knn6": 2.0}
    assert rule["means"] == {"rew": 3.0} and rule["stds"] == {"rew": 2.0}


def test_instructmining_needs_an_instruction_pool(make_pool, ctx):
    with pytest.raises(ConfigError, match="instruction pool"):
        InstructMiningScorer(lm=FAKE, use_judge=True).score(make_pool(texts=["a b"], embeddings=embeddings(1)), ctx)


def test_real_smollm2_indicators(make_pool, ctx, tmp_path):
    from _fake_lm import real_lm_spec

    pool = instruction_pool(make_pool, ROWS, embeddings=embeddings())
    rule = write_rule(tmp_path, {"coefficients": {"intercept": 0.0, "len_out": 0.1, "ppl": 0.2, "mtld": -0.1}})
    out = InstructMiningScorer(lm=real_lm_spec(), rule=rule).score(pool, ctx)
    assert (out["im_len_out"] >= [len(r[2].split()) for r in ROWS]).all()  # BPE tokens ≥ words here
    assert (out["im_ppl"] > 1).all() and np.isfinite(out["instructmining_score"]).all()
    assert sorted(out["instructmining_rank"]) == list(range(1, len(ROWS) + 1))


def test_terms_the_judge_never_answered_are_dropped_and_named(make_pool, ctx):
    pool = instruction_pool(make_pool, ROWS[:4], embeddings=embeddings(4))
    lm = {"name": "fake", "replies": [["How natural", "hard to say"], ["hello world", "Score: 1"]],
          "default_reply": "Score: 3"}
    out = InstructMiningScorer(lm=lm).score(pool, ctx)
    assert out["im_naturalness"].isna().all()
    note = next(n for n in ctx.notes if n.startswith("instructmining:"))
    assert note.endswith("terms used: rew, und, coh; no value for any record (dropped): nat; "
                         "score = predicted log eval loss, lower is better")
    assert out["instructmining_issue"].isna().all()  # a dropped term is not imputed per record


def test_bad_judge_parameters_fail_when_built():
    with pytest.raises(ConfigError, match="judge"):
        InstructMiningScorer(lm=FAKE, judge={"scale": "1-7"})
