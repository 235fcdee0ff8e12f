import numpy as np
import pandas as pd
import pytest

from curata.engine.select import Select
from curata.errors import ConfigError
from curata.pool import Pool
from curata.selectors.topk import TopKSelector


def tiny_pool():
    df = pd.DataFrame({"id": list("abcde"), "label": None,
                       "proxy_prob_score": [0.2, 0.9, 0.5, 0.9, 0.1], "length_score": [10, 50, 20, 5, 100]})
    return Pool(df=df)


def test_hand_checked_order_ties_by_row(ctx):
    res = TopKSelector(by="proxy_prob").order(tiny_pool(), np.arange(5), 3, ctx)
    assert res.order.tolist() == [1, 3, 2, 0, 4]  # rows 1 and 3 tie at 0.9: lower row first
    assert res.reasons[1].startswith("rank 1 of 5 by 1·z(proxy_prob) = ")
    assert "(proxy_prob 0.9)" in res.reasons[1]
    asc = TopKSelector(by="proxy_prob", ascending=True).order(tiny_pool(), np.arange(5), 3, ctx)
    assert asc.order.tolist() == [4, 0, 2, 1, 3]


def test_weighted_expression_over_candidates_only(ctx):
    # over rows 0..3 only: z(proxy) = [-1.442, 0.933, -0.424, 0.933],
    # z(length) = [-0.645, 1.647, -0.072, -0.931], so z(proxy) − z(length) = [-0.798, -0.714, -0.352, 1.864]
    res = TopKSelector(by="proxy_prob:1, -length:1").order(tiny_pool(), np.array([0, 1, 2, 3]), 2, ctx)
    assert res.order.tolist() == [3, 2, 1, 0]
    assert res.reasons[3] == "rank 1 of 4 by 1·z(proxy_prob) − 1·z(length) = 1.86"
    assert 4 not in res.order


def test_order_matches_sorting_the_column(pool, ctx, check_order):
    cand = np.flatnonzero(pool.df["cluster"].to_numpy() != 2)
    res = TopKSelector(by="target_sim").order(pool, cand, 50, ctx)
    check_order(res.order, cand, 50)
    vals = pool.df["target_sim_score"].to_numpy()[res.order]
    assert np.all(np.diff(vals) <= 0)
    assert res.reasons[int(res.order[11])].startswith(f"rank 12 of {len(cand)} by 1·z(target_sim) = ")


def test_requires_by_and_checks_columns(pool, ctx):
    with pytest.raises(ConfigError) as e:
        TopKSelector()
    assert e.value.key == "selector.topk.by"
    with pytest.raises(ConfigError) as e:
        TopKSelector(by="knn_agreement").order(pool, np.arange(len(pool)), 10, ctx)
    assert e.value.key == "select.selector.by" and "knn_agreement" in str(e.value)


def test_through_the_engine(pool, ctx):
    cols, res = Select(TopKSelector(by="proxy_prob"), budget=0.1).run(pool, ctx, notes=[])
    n = round(0.1 * len(pool))
    assert cols["selected"].sum() == n
    top = np.argsort(-pool.df["proxy_prob_score"].to_numpy(), kind="stable")[:n]
    assert set(np.flatnonzero(cols["selected"])) == set(top)
    assert cols.loc[top[0], "reason"].startswith("rank 1 of")
    last = np.argsort(-pool.df["proxy_prob_score"].to_numpy(), kind="stable")[-1]
    assert cols.loc[last, "reason"].startswith(f"rank {len(pool)} of {len(pool)} by 1·z(proxy_prob) = ")
    assert cols.loc[last, "reason"].endswith(": below the budget cut")
