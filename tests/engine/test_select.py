"""The select step: exclusion rules and their reasons, record/fraction/token budgets, generic reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.engine.select import ExcludeRule, Select
from curata.engine.stage import Selector, SelectorResult
from curata.errors import ConfigError
from curata.pool import Pool
from curata.selectors.kcenter import KCenterSelector
from curata.selectors.random import RandomSelector
from curata.selectors.topk import TopKSelector


def make_pool(n: int, seed: int = 0, **columns) -> Pool:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source_file": "p.jsonl",
                       "source_line": np.arange(1, n + 1), "text": [f"text {i}" for i in range(n)],
                       "label": None, "raw": "", **columns})
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Pool(df=df, embeddings=emb, features=emb)


def run(select: Select, pool: Pool, seed: int = 0):
    notes: list[str] = []
    cols, res = select.run(pool, RunContext(seed=seed, progress=False), notes)
    return cols, res, notes


class FirstRows(Selector):
    """Test selector: priority = row order, but it only ranks ``limit`` candidates and gives no reasons."""

    name = "first_rows"

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def order(self, pool, candidates, n_target, ctx) -> SelectorResult:
        return SelectorResult(order=np.asarray(candidates[:self.limit]), describe="first rows")


# --- exclusion rules -------------------------------------------------------------------------------------
def dup_pool() -> Pool:
    return make_pool(6, dup_score=[0.0, 1.0, 0.0, 0.97, 0.0, 1.0],
                     dup_of=[None, "r0", None, "r2", None, "r0"],
                     flagged=[False, True, True, False, False, False])


def test_exclusion_reason_is_filled_from_the_record():
    rules = [ExcludeRule("dup_score > 0.99", "exact duplicate of {dup_of}"),
             ExcludeRule("dup_score > 0.9", "near-duplicate of {dup_of} (cosine {dup_score:.3f})"),
             ExcludeRule("flagged")]
    cols, _, notes = run(Select(RandomSelector(), budget=1.0, exclude=rules), dup_pool())
    assert cols["excluded"].tolist() == [False, True, True, True, False, True]
    assert cols["reason"][[1, 2, 3, 5]].tolist() == ["exact duplicate of r0", "excluded: flagged",
                                                     "near-duplicate of r2 (cosine 0.970)",
                                                     "exact duplicate of r0"]
    # the first rule that matches names the exclusion (row 1 matches all three)
    rule = [None if pd.isna(r) else r for r in cols["exclude_rule"]]
    assert rule == [None, "dup_score > 0.99", "flagged", "dup_score > 0.9", None, "dup_score > 0.99"]
    assert cols["selected"].tolist() == [True, False, False, False, True, False]
    assert notes == ["only 2 candidates remain after exclusions; budget asked for 6"]


def test_excluded_rows_are_never_candidates():
    seen = {}

    class Spy(RandomSelector):
        def order(self, pool, candidates, n_target, ctx):
            seen["candidates"], seen["n_target"] = list(candidates), n_target
            return super().order(pool, candidates, n_target, ctx)

    cols, _, notes = run(Select(Spy(), budget=5, exclude=[ExcludeRule("dup_score > 0")]), dup_pool())
    assert seen == {"candidates": [0, 2, 4], "n_target": 3}
    assert cols["selected"].sum() == 3
    assert notes == ["only 3 candidates remain after exclusions; budget asked for 5"]


def test_unknown_column_names_the_rule_and_lists_the_columns():
    rules = [ExcludeRule("dup_score > 0"), ExcludeRule("proxy_suspect", "mislabelled")]
    with pytest.raises(ConfigError) as err:
        run(Select(RandomSelector(), budget=2, exclude=rules), dup_pool())
    e = err.value
    assert e.key == "select.exclude[1].when"
    assert e.problem == "unknown column(s) ['proxy_suspect']"
    assert e.fix == "available: dup_of, dup_score, flagged, id, label, source_file, source_line, text"


def test_optional_rule_with_missing_columns_is_skipped_with_a_note():
    rules = [ExcludeRule("proxy_suspect", "mislabelled", optional=True), ExcludeRule("dup_score > 0")]
    cols, _, notes = run(Select(RandomSelector(), budget=2, exclude=rules), dup_pool())
    assert notes == ["exclude rule 'proxy_suspect' skipped: no column(s) ['proxy_suspect']"]
    assert cols["excluded"].sum() == 3  # the second rule still applies


def test_rule_that_does_not_parse_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        run(Select(RandomSelector(), budget=2, exclude=[ExcludeRule("dup_score >")]), dup_pool())
    assert err.value.key == "select.exclude" and "cannot parse 'dup_score >'" in err.value.problem


# --- budgets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("budget, n, expected", [(7, 40, 7), (0.1, 25, 3), (0.1, 24, 2), ("25%", 40, 10),
                                                 (1.0, 13, 13), (1, 5, 1)])
def test_record_and_fraction_budgets(budget, n, expected):
    cols, _, _ = run(Select(RandomSelector(), budget=budget), make_pool(n))
    assert cols["selected"].sum() == expected


def test_budget_larger_than_the_pool_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        run(Select(RandomSelector(), budget=11), make_pool(10))
    assert err.value.key == "select.budget"
    assert "larger than the pool (10 usable records)" in err.value.problem


def token_pool(seed: int = 0) -> Pool:
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([rng.integers(1, 20, 300), rng.integers(150, 400, 100)])
    return make_pool(400, seed=seed, length_score=lengths)


@pytest.mark.parametrize("selector, fill", [
    (RandomSelector(), 0.97),
    (TopKSelector(by="length:1"), 0.95),  # longest first: few records, large ones
    (TopKSelector(by="length:1", ascending=True), 0.95),  # shortest first: many records
    (KCenterSelector(), 0.8),  # ranks only about as many records as the budget needs
])
@pytest.mark.parametrize("budget", [2000, 5000])
def test_token_budget_is_respected_and_nearly_used(selector, fill, budget):
    pool = token_pool()
    cols, res, _ = run(Select(selector, budget=f"{budget}tok"), pool)
    used = int(pool.df["length_score"][cols["selected"]].sum())
    assert fill * budget <= used <= budget
    # the selection is a prefix of the priority order, skipping only records that no longer fit
    rank = cols["select_rank"].to_numpy()
    chosen = np.sort(rank[cols["selected"].to_numpy()])
    skipped = [r for r in range(chosen[-1]) if r not in set(chosen)]
    lengths = pool.df["length_score"].to_numpy()
    order = np.argsort(np.where(rank >= 0, rank, 10**9))
    for r in skipped:
        prior = lengths[order[:r]][np.isin(rank[order[:r]], chosen)].sum()
        assert prior + lengths[order[r]] > budget


def test_token_budget_needs_the_length_column():
    with pytest.raises(ConfigError) as err:
        run(Select(RandomSelector(), budget="100tok"), make_pool(10))
    assert err.value.key == "select.budget"
    assert "length_score" in err.value.problem and "length" in err.value.fix


def test_token_budget_with_exclusions_counts_only_candidates():
    pool = make_pool(6, length_score=[10, 10, 10, 10, 10, 10], dup=[0, 1, 0, 1, 0, 0])
    cols, _, _ = run(Select(RandomSelector(), budget="30tok", exclude=[ExcludeRule("dup > 0")]), pool)
    assert cols["selected"].sum() == 3 and not cols["selected"][[1, 3]].any()


# --- reasons ---------------------------------------------------------------------------------------------
def test_generic_reasons_for_chosen_cut_and_unranked_rows():
    cols, _, _ = run(Select(FirstRows(limit=6), budget=0.2), make_pool(20))
    reasons = cols["reason"].tolist()
    assert cols["selected"].tolist() == [True] * 4 + [False] * 16
    assert reasons[0] == "chosen by first rows (priority 1)"
    assert reasons[3] == "chosen by first rows (priority 4)"
    assert reasons[4] == "priority 5 by first rows: below the budget cut (0.2 of the pool = 4 records)"
    assert reasons[5] == "priority 6 by first rows: below the budget cut (0.2 of the pool = 4 records)"
    assert reasons[6:] == ["not reached by first rows within the budget (0.2 of the pool = 4 records)"] * 14
    assert cols["select_rank"].tolist() == [0, 1, 2, 3, 4, 5] + [-1] * 14


def test_record_budget_reason_names_the_budget():
    cols, _, _ = run(Select(FirstRows(limit=3), budget=2), make_pool(5))
    assert cols["reason"][2] == "priority 3 by first rows: below the budget cut (2 records)"
    assert cols["reason"][4] == "not reached by first rows within the budget (2 records)"


def test_selector_reasons_win_over_generic_ones():
    cols, _, _ = run(Select(TopKSelector(by="score:1"), budget=2), make_pool(4, score=[1.0, 4.0, 3.0, 2.0]))
    assert cols["selected"].tolist() == [False, True, True, False]
    assert cols["reason"][1].startswith("rank 1 of 4 by ")
    assert cols["reason"][3].startswith("rank 3 of 4 by ")
    assert cols["reason"][3].endswith("below the budget cut")


def test_selector_returning_an_excluded_row_is_an_error():
    class Cheat(Selector):
        name = "cheat"

        def order(self, pool, candidates, n_target, ctx):
            return SelectorResult(order=np.arange(len(pool)), describe="cheat")

    with pytest.raises(RuntimeError, match="duplicate or excluded"):
        run(Select(Cheat(), budget=2, exclude=[ExcludeRule("dup > 0")]), make_pool(4, dup=[0, 1, 0, 0]))


def test_fingerprint_follows_budget_rules_and_selector():
    base = Select(RandomSelector(), budget=5, exclude=[ExcludeRule("a > 0")]).fingerprint()
    assert Select(RandomSelector(), budget=5, exclude=[ExcludeRule("a > 0")]).fingerprint() == base
    assert Select(RandomSelector(), budget=6, exclude=[ExcludeRule("a > 0")]).fingerprint() != base
    assert Select(RandomSelector(), budget=5, exclude=[ExcludeRule("a > 1")]).fingerprint() != base
    assert Select(RandomSelector(seed=3), budget=5, exclude=[ExcludeRule("a > 0")]).fingerprint() != base
    assert Select(RandomSelector(), budget=5, exclude=[ExcludeRule("a > 0", "why")]).fingerprint() != base


def test_reason_template_naming_an_unknown_column_is_an_error():
    """A typo in a reason template must not pass silently (it used to print the raw template)."""
    import pandas as pd
    import pytest

    from curata.engine.context import RunContext
    from curata.engine.select import ExcludeRule, Select
    from curata.errors import ConfigError
    from curata.pool import Pool
    from curata.selectors.random import RandomSelector

    df = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "label": ["0", "1", "0"],
                       "raw": "{}", "length_score": [1, 2, 3]})
    pool = Pool(df=df, label_names=["0", "1"])
    sel = Select(RandomSelector(), budget=1, exclude=[ExcludeRule("length_score > 2", "too long: {lenght_score}")])
    with pytest.raises(ConfigError) as e:
        sel.run(pool, RunContext(progress=False), notes=[])
    assert "select.exclude[0].reason" in str(e.value) and "lenght_score" in str(e.value)
