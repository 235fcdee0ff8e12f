import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.engine.select import Select
from curata.errors import ConfigError
from curata.pool import Pool
from curata.selectors.kcenter import KCenterSelector


def circle_pool(degrees):
    a = np.deg2rad(degrees)
    emb = np.c_[np.cos(a), np.sin(a)].astype(np.float32)
    df = pd.DataFrame({"id": [f"p{d}" for d in degrees], "label": None})
    return Pool(df=df, embeddings=emb)


def test_hand_made_circle(ctx):
    # the medoid is 0°; then 180° (distance 2), 90° (gap 90°: 1 − cos 90° = 1), −100° (gap 80° to 180°),
    # −35° (gap 35°), 30° (gap 30°), −18° (gap 17° to −35°), 15° (gap 15°)
    pool = circle_pool([0, 15, -18, 30, -35, 180, 90, -100])
    res = KCenterSelector(start="medoid").order(pool, np.arange(8), 8, ctx)
    assert res.order.tolist() == [0, 5, 6, 7, 4, 3, 2, 1]
    assert res.reasons[5] == "k-center step 2: farthest point, distance 2.00 from the chosen set"
    assert res.reasons[7] == f"k-center step 4: farthest point, distance {1 - np.cos(np.deg2rad(80)):.2f} " \
                             "from the chosen set"
    assert res.reasons[0].startswith("k-center step 1: medoid start")
    short = KCenterSelector(start="medoid").order(pool, np.arange(8), 4, ctx)
    assert short.order.tolist() == [0, 5, 6, 7]
    # −35° is 65° from −100° but 35° from 0°, its nearest chosen record; it is also the farthest left
    d35 = 1 - np.cos(np.deg2rad(35))
    assert short.skipped_reasons[4] == f"covered: cosine distance {d35:.2f} to chosen record p0 " \
                                       f"(k-center radius {d35:.2f})"


def test_each_pick_is_the_farthest_point(pool, ctx, check_order):
    cand = np.flatnonzero(pool.df["cluster"].to_numpy() != 0)
    res = KCenterSelector().order(pool, cand, 40, ctx)
    check_order(res.order, cand, 40)
    assert len(res.order) == 40
    emb = pool.embeddings.astype(np.float64)
    for t in range(1, 40):
        chosen = res.order[:t]
        rest = np.setdiff1d(cand, chosen)
        dist = 1 - (emb[rest] @ emb[chosen].T).max(axis=1)
        got = 1 - (emb[res.order[t]] @ emb[chosen].T).max()
        assert got == pytest.approx(dist.max(), abs=1e-5)
    radius = (1 - (emb[np.setdiff1d(cand, res.order)] @ emb[res.order].T).max(axis=1)).max()
    assert res.summary["radius"] == pytest.approx(radius, abs=1e-4)


def test_spreads_over_clusters_and_is_seeded(pool, ctx):
    res = KCenterSelector().order(pool, np.arange(len(pool)), 12, ctx)
    assert set(pool.df["cluster"].to_numpy()[res.order[:6]]) == set(range(6))  # 6 well-separated clusters
    again = KCenterSelector().order(pool, np.arange(len(pool)), 12, RunContext(seed=0, progress=False))
    other = KCenterSelector(seed=3).order(pool, np.arange(len(pool)), 12, ctx)
    assert res.order.tolist() == again.order.tolist()
    assert res.order[0] != other.order[0]


def test_needs_embeddings(pool, ctx):
    pool.embeddings = None
    with pytest.raises(ConfigError) as e:
        KCenterSelector().order(pool, np.arange(len(pool)), 5, ctx)
    assert e.value.key == "select.selector" and "embeddings" in str(e.value)
    assert KCenterSelector.needs_embeddings


def test_through_the_engine(pool, ctx):
    cols, _ = Select(KCenterSelector(), budget=0.1).run(pool, ctx, notes=[])
    assert cols["selected"].sum() == round(0.1 * len(pool))
    assert cols.loc[~cols["selected"], "reason"].str.startswith("covered: cosine distance").all()
