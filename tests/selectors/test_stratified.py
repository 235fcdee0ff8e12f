import numpy as np
import pytest

from curata.engine.context import RunContext
from curata.engine.select import Select
from curata.errors import ConfigError
from curata.selectors.stratified import StratifiedSelector


def label_counts(pool, rows):
    return pool.df["label"].iloc[rows].value_counts().reindex(["neg", "neu", "pos"], fill_value=0).to_numpy()


def test_proportional_quotas_are_exact_and_prefixes_track_them(pool, ctx, check_order):
    cand = np.arange(len(pool))
    n = 101
    res = StratifiedSelector().order(pool, cand, n, ctx)
    check_order(res.order, cand, n)
    assert len(res.order) == len(cand)  # the tail after the quotas is kept for token budgets
    sizes = label_counts(pool, cand)
    ideal = n * sizes / sizes.sum()
    quotas = np.array([res.summary["quotas"][k] for k in ("neg", "neu", "pos")])
    assert quotas.sum() == n
    assert np.all(np.abs(quotas - ideal) < 1)
    np.testing.assert_array_equal(label_counts(pool, res.order[:n]), quotas)
    for m in range(1, n + 1):
        assert np.all(np.abs(label_counts(pool, res.order[:m]) - m * quotas / n) <= 1), m


def test_balanced_water_fills_the_small_stratum(pool, ctx):
    sizes = label_counts(pool, np.arange(len(pool)))
    small = int(sizes.min())
    n = 3 * small + 40  # more than the smallest stratum can give an equal third of
    res = StratifiedSelector(allocation="balanced").order(pool, np.arange(len(pool)), n, ctx)
    got = label_counts(pool, res.order[:n])
    assert got.sum() == n
    assert got[np.argmin(sizes)] == small
    big = np.delete(got, np.argmin(sizes))
    assert abs(int(big[0]) - int(big[1])) <= 1 and big.sum() == n - small
    for m in (10, 30, 77):  # prefixes follow the allocation, not an equal split
        assert np.all(np.abs(label_counts(pool, res.order[:m]) - m * got / n) <= 1)
    even = StratifiedSelector(allocation="balanced").order(pool, np.arange(len(pool)), 3 * small, ctx)
    assert label_counts(pool, even.order[:30]).tolist() == [10, 10, 10]


def test_within_stratum_order_by_expression(pool, ctx):
    res = StratifiedSelector(by="proxy_prob").order(pool, np.arange(len(pool)), 60, ctx)
    head = res.order[:60]
    for lab in ("neg", "neu", "pos"):
        rows = head[pool.df["label"].to_numpy()[head] == lab]
        vals = pool.df["proxy_prob_score"].to_numpy()
        assert np.all(np.diff(vals[rows]) <= 0)
        members = np.flatnonzero(pool.df["label"].to_numpy() == lab)
        assert set(rows) == set(members[np.argsort(-vals[members])[:len(rows)]])
    r0 = int(head[0])
    assert "best" not in res.reasons[r0] and res.reasons[r0].startswith("label=")
    assert "1st of" in res.reasons[r0] and "(quota" in res.reasons[r0]


def test_seeded_and_skipped_reasons(pool, ctx):
    a = StratifiedSelector().order(pool, np.arange(len(pool)), 50, ctx)
    b = StratifiedSelector().order(pool, np.arange(len(pool)), 50, RunContext(seed=0, progress=False))
    c = StratifiedSelector().order(pool, np.arange(len(pool)), 50, RunContext(seed=1, progress=False))
    assert a.order.tolist() == b.order.tolist()
    assert a.order.tolist() != c.order.tolist()
    tail = int(a.order[-1])
    assert "quota of" in a.skipped_reasons[tail] and "filled" in a.skipped_reasons[tail]


def test_missing_column_and_missing_labels(pool, ctx):
    with pytest.raises(ConfigError) as e:
        StratifiedSelector(column="domain").order(pool, np.arange(len(pool)), 10, ctx)
    assert e.value.key == "select.selector.column"
    pool.df["label"] = None
    with pytest.raises(ConfigError, match="no labels"):
        StratifiedSelector().order(pool, np.arange(len(pool)), 10, ctx)


def test_other_column_and_candidates(pool, ctx, check_order):
    cand = np.flatnonzero(pool.df["label"].to_numpy() != "pos")
    res = StratifiedSelector(column="cluster", allocation="balanced").order(pool, cand, 60, ctx)
    check_order(res.order, cand, 60)
    clusters = np.bincount(pool.df["cluster"].to_numpy()[res.order[:60]], minlength=6)
    small = int((pool.df["cluster"].to_numpy()[cand] == 5).sum())
    assert clusters[5] == min(small, 10) and clusters.sum() == 60


def test_through_the_engine(pool, ctx):
    cols, res = Select(StratifiedSelector(), budget=0.1).run(pool, ctx, notes=[])
    assert cols["selected"].sum() == round(0.1 * len(pool))
    chosen = np.flatnonzero(cols["selected"])
    assert cols.loc[chosen[0], "reason"].startswith("label=")
    not_chosen = np.flatnonzero(~cols["selected"])
    assert "quota of" in cols.loc[not_chosen[0], "reason"]


def test_token_budget_uses_the_tail_only_after_the_quotas(pool, ctx):
    cols, res = Select(StratifiedSelector(), budget="5000tok").run(pool, ctx, notes=[])
    chosen = np.flatnonzero(cols["selected"])
    tokens = pool.df["length_score"].to_numpy()
    assert tokens[chosen].sum() <= 5000
    assert tokens[chosen].sum() > 5000 - tokens.max()
    rank = cols["select_rank"].to_numpy()
    n_quota = sum(res.summary["quotas"].values())
    assert n_quota == int(np.ceil(5000 / tokens.mean() * 1.5))
    assert (rank[chosen] < n_quota).all()  # the quota part alone already holds more than the budget
