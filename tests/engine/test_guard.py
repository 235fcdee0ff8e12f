"""Every label represented: per-label exclusion caps, the label floor at the budget cut, and loud alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.engine.guard import cap_per_label, cut_with_floor, floor_quota, representation_alerts
from curata.engine.select import ExcludeRule, Select
from curata.engine.stage import Selector, SelectorResult
from curata.pool import Pool
from curata.selectors.topk import TopKSelector


def labelled_pool(labels, **columns) -> Pool:
    n = len(labels)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "source_file": "p.jsonl",
                       "source_line": np.arange(1, n + 1), "text": [f"t{i}" for i in range(n)],
                       "label": labels, "raw": "", **columns})
    return Pool(df=df, label_names=sorted(set(labels)))


# --- the floor -----------------------------------------------------------------------------------------
def test_floor_quota_is_a_quarter_of_an_equal_share_and_always_fits():
    assert floor_quota(100, 2, 0.25) == 13  # ⌈0.25 · 100 / 2⌉
    assert floor_quota(10, 4, 0.25) == 1
    assert floor_quota(3, 5, 0.25) == 0  # five labels cannot each get one of three records
    assert floor_quota(10, 2, 0.0) == 0
    for n in range(1, 60):
        for k in range(1, 12):
            assert floor_quota(n, k, 1.0) * k <= n


def test_cut_takes_the_starved_labels_next_records_in_priority_order():
    codes = np.array([0] * 90 + [1] * 10)
    order = np.arange(100)  # the selector prefers every 0 over every 1
    chosen, promoted, demoted, q = cut_with_floor(order, 20, codes, 0.25)
    assert q == 3 and len(chosen) == 20
    assert sorted(promoted) == [90, 91, 92] and set(promoted.values()) == {1}
    assert demoted == {17, 18, 19}  # the lowest-priority records of the over-served label give way
    assert (codes[chosen] == 1).sum() == 3


def test_cut_without_labels_or_floor_is_the_plain_prefix():
    order = np.array([5, 3, 9, 1, 0])
    for codes, floor in ((np.full(10, -1), 0.25), (np.array([0, 1] * 5), 0.0)):
        chosen, promoted, demoted, _ = cut_with_floor(order, 3, codes, floor)
        assert chosen.tolist() == [5, 3, 9] and not promoted and not demoted


def test_cut_with_a_token_budget_stays_within_it():
    codes = np.array([0] * 8 + [1] * 4)
    tokens = np.array([10.0] * 8 + [25.0] * 4)
    chosen, promoted, _, _ = cut_with_floor(np.arange(12), 0, codes, 0.5, tokens, 60.0)
    assert tokens[chosen].sum() <= 60 and (codes[chosen] == 1).sum() >= 1 and promoted
    chosen, promoted, _, _ = cut_with_floor(np.arange(12), 0, codes, 0.5, tokens, 100.0)
    assert tokens[chosen].sum() <= 100 and (codes[chosen] == 1).sum() == 2


def test_fallback_rows_fill_the_floor_when_the_selector_ranked_too_few():
    codes = np.array([0] * 8 + [1] * 4)
    chosen, promoted, _, _ = cut_with_floor(np.arange(4), 4, codes, 0.5, fallback=np.array([11, 10, 9, 8]))
    assert (codes[chosen] == 1).sum() == 1 and list(promoted) == [11]


# --- caps ----------------------------------------------------------------------------------------------
def test_cap_keeps_the_most_clearly_excluded_and_counts_earlier_rules():
    codes = np.array([0] * 6 + [1] * 4)
    hit = np.ones(10, dtype=bool)
    eligible = np.ones(10, dtype=bool)
    eligible[6] = False  # one record of label 1 already excluded by an earlier rule
    severity = np.arange(10, dtype=float)
    capped, info = cap_per_label(hit, eligible, codes, 0.5, severity)
    assert info == {0: (6, 3, 6), 1: (3, 1, 4)}
    assert np.flatnonzero(capped & eligible).tolist() == [3, 4, 5, 9]  # highest severity first


def test_an_exclusion_rule_cannot_empty_a_label_and_says_so():
    labels = ["no"] * 40 + ["yes"] * 10
    pool = labelled_pool(labels, margin_score=np.r_[np.ones(40), -np.linspace(1, 0.1, 10)])
    notes: list[str] = []
    rule = ExcludeRule("margin_score < 0", "proxy disagrees", max_share_per_label=0.5, worst_first="-margin")
    cols, _ = Select(TopKSelector(by="margin"), budget=10, exclude=[rule]).run(pool, RunContext(progress=False),
                                                                               notes)
    yes = np.array(labels) == "yes"
    assert cols["excluded"][yes].sum() == 5
    assert cols["excluded"][yes].tolist() == [True] * 5 + [False] * 5  # the most negative margins go
    assert any("would remove 10 more of the 10 records labelled 'yes'" in n for n in notes)
    assert cols["selected"][yes].sum() >= 2  # ⌈0.25 · 10 / 2⌉ = 2 by the floor


# --- alerts --------------------------------------------------------------------------------------------
class Majority(Selector):
    """Every record of the first label first."""

    name = "majority"

    def order(self, pool, candidates, n_target, ctx) -> SelectorResult:
        first = pool.df["label"].to_numpy()[candidates] == pool.label_names[0]
        return SelectorResult(order=np.r_[candidates[first], candidates[~first]], describe="majority first")


def test_a_starved_label_raises_an_alert():
    labels = ["no"] * 80 + ["yes"] * 20
    alerts: list[str] = []
    cols, _ = Select(Majority(), budget=20, label_floor=0).run(labelled_pool(labels), RunContext(progress=False),
                                                              [], alerts)
    assert cols["selected"][80:].sum() == 0
    assert alerts == ["label 'yes': 0 of its 20 pool records selected (20.0% of the pool)"]
    # the floor prevents it, and then there is nothing to say
    alerts = []
    Select(Majority(), budget=20).run(labelled_pool(labels), RunContext(progress=False), [], alerts)
    assert alerts == []


def test_under_representation_sources_clusters_and_greedy_rules():
    n = 100
    df = pd.DataFrame({"label": ["a"] * 50 + ["b"] * 50, "source_file": ["x.jsonl"] * 70 + ["y.jsonl"] * 30,
                       "cluster": np.repeat(np.arange(4), 25)})
    selected = np.zeros(n, dtype=bool)
    selected[:20] = True  # all from label a, source x, cluster 0
    selected[50] = True  # one b
    excluded = np.zeros(n, dtype=bool)
    excluded[51:90] = True
    rule_of = np.where(excluded, "junk_score > 0", None)
    alerts = representation_alerts(df, selected, excluded, rule_of)
    assert "label 'b' is under-represented: 1 selected (4.8% of the selection) vs 50.0% of the pool; 39 of " \
           "its 50 were excluded before selection" in alerts
    assert "exclusion rule 'junk_score > 0' removed 39 of the 50 records labelled 'b'" in alerts
    assert any(a.startswith("source 'y.jsonl': 0 of its 30") for a in alerts)
    assert sum(a.startswith("cluster ") for a in alerts) == 2  # clusters 2 and 3 (1 has record 50)


def test_alerts_reach_the_summary_and_the_result(tmp_path, hash_embedder, records):
    import json

    from curata.engine.pipeline import Pipeline
    from curata.engine.read import Read
    from curata.scorers.length import LengthScorer

    recs = records(n=60, dups=0)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = Pipeline([Read(path), hash_embedder(), LengthScorer(),
                    Select(Majority(), budget=10, label_floor=0)], run_dir=tmp_path / "run", progress=False).run()
    # label 'billing' first: the other two labels get nothing
    assert len(res.alerts) == 2 and all("0 of its 20 pool records selected" in a for a in res.alerts)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["alerts"] == res.alerts


@pytest.mark.parametrize("floor", [0.25, 0.5, 1.0])
def test_the_floor_never_exceeds_the_budget(floor):
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(2, 6))
        codes = rng.integers(0, k, size=40)
        order = rng.permutation(40)
        n = int(rng.integers(1, 40))
        chosen, *_ = cut_with_floor(order, n, codes, floor)
        assert len(chosen) == n and len(set(chosen.tolist())) == n


def test_the_cap_can_be_each_labels_estimated_noise_and_is_shared_by_the_capped_rules():
    labels = ["ham"] * 20 + ["spam"] * 10
    noise = np.where(np.array(labels) == "spam", 0.6, 0.1)  # label_noise_in_label, as label_issues writes it
    dup = np.zeros(30)
    dup[[0, 1, 20]] = 1.0  # dedup is not a label rule: it does not use the labels' budget
    pool = labelled_pool(labels, noise_in=noise, dup_score=dup, a=np.ones(30, dtype=bool),
                         b=np.ones(30, dtype=bool), margin_score=np.arange(30, dtype=float))
    rules = [ExcludeRule("dup_score > 0"),
             ExcludeRule("a", max_share_per_label="noise_in", worst_first="-margin"),
             ExcludeRule("b", max_share_per_label="noise_in", worst_first="-margin")]
    notes: list[str] = []
    cols, _ = Select(TopKSelector(by="margin"), budget=5, exclude=rules).run(pool, RunContext(progress=False), notes)
    rule = cols["exclude_rule"].to_numpy()
    spam = np.array(labels) == "spam"
    assert (rule[spam] == "a").sum() == 6 and (rule[~spam] == "a").sum() == 2  # 60% of 10, 10% of 20
    assert (rule == "b").sum() == 0  # rule a used the labels' whole budget
    assert (rule == "dup_score > 0").sum() == 3
    assert any("at most noise_in = 60% of the label" in n for n in notes)


def test_protecting_rules_leave_every_label_twice_its_floor_of_candidates():
    """A proxy that never predicts the rare label would exclude all of it; the protected rule keeps 2 × floor."""
    labels = ["no"] * 90 + ["yes"] * 10
    margin = np.r_[np.ones(90), -np.arange(1, 11, dtype=float)]  # every 'yes' disagrees with the proxy
    pool = labelled_pool(labels, margin_score=margin)
    rule = ExcludeRule("margin_score < 0", "proxy disagrees", protect_labels=True, worst_first="-margin")
    notes: list[str] = []
    cols, _ = Select(TopKSelector(by="margin"), budget=20, exclude=[rule]).run(pool, RunContext(progress=False),
                                                                               notes)
    yes = np.array(labels) == "yes"
    floor = int(np.ceil(0.25 * 20 / 2))
    assert (~cols["excluded"][yes]).sum() == 2 * floor
    assert cols["excluded"][yes].tolist() == [False] * 6 + [True] * 4  # the least negative margins stay
    assert cols["selected"][yes].sum() == floor
    assert any("would leave label 'yes' fewer than 6 candidates" in n for n in notes)
    # without protection the label is emptied, and the alert says so
    alerts: list[str] = []
    cols, _ = Select(TopKSelector(by="margin"), budget=20, exclude=[ExcludeRule("margin_score < 0")]).run(
        pool, RunContext(progress=False), [], alerts)
    assert cols["selected"][yes].sum() == 0 and any(a.startswith("label 'yes': 0 of its 10") for a in alerts)
