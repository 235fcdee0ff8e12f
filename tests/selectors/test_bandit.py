import json
import math

import numpy as np
import pandas as pd
import pytest

from curata.engine.context import RunContext
from curata.engine.select import Select
from curata.errors import ConfigError
from curata.pool import Pool
from curata.selectors.bandit import ClusterBanditSelector, replay
from curata.selectors.bandit_policies import ArmManager, centroid_neighbours


def arms_pool(sizes=(400, 400, 400, 400, 400), best=2, seed=0):
    rng = np.random.default_rng(seed)
    cluster = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)])
    gain = rng.normal(0, 1, len(cluster)) + np.where(cluster == best, 2.0, 0.0)
    df = pd.DataFrame({"id": [f"a{i}" for i in range(len(cluster))], "label": None,
                       "gain_score": gain, "cluster": cluster})
    return Pool(df=df)


@pytest.mark.parametrize("policy, share", [("ucb1", 0.6), ("exp3", 0.4), ("thompson", 0.6)])
def test_clearly_better_arm_is_pulled_most(policy, share, ctx, check_order):
    pool = arms_pool(sizes=(2000,) * 5)
    cand = np.arange(len(pool))
    res = ClusterBanditSelector(reward="gain", policy=policy).order(pool, cand, 2400, ctx)  # 300 pulls
    check_order(res.order, cand, 2400)
    assert len(res.order) == 2400
    pulls = res.summary["pulls"]
    assert max(pulls, key=pulls.get) == "2", pulls
    assert pulls["2"] > share * sum(pulls.values()), pulls  # EXP3's γ/K floor and slow weights explore more
    means = res.summary["mean_reward"]
    assert means["2"] == max(means.values())


@pytest.mark.parametrize("policy", ["ucb1", "exp3", "thompson"])
def test_replay_rebuilds_the_order_and_rechecks_every_choice(policy, ctx):
    pool = arms_pool(sizes=(30, 50, 20, 60, 40))
    sel = ClusterBanditSelector(reward="gain", policy=policy, batch=7)
    cand = np.arange(10, len(pool))
    res = sel.order(pool, cand, 150, ctx)
    log = [json.loads(json.dumps(e)) for e in res.log]  # as written to bandit_log.jsonl
    np.testing.assert_array_equal(replay(log), res.order)
    mgr, _, _ = sel.make_manager(pool, cand, ctx)
    np.testing.assert_array_equal(replay(log, mgr), res.order)
    if policy == "ucb1":
        bad = [dict(e) for e in log]
        bad[5]["reward"] = -100.0
        with pytest.raises(ValueError, match="round"):
            replay(bad, sel.make_manager(pool, cand, ctx)[0])


def test_log_and_columns_agree(ctx):
    pool = arms_pool(sizes=(30, 50, 20, 60, 40))
    res = ClusterBanditSelector(reward="gain", batch=8).order(pool, np.arange(len(pool)), 100, ctx)
    entry = res.log[0]
    assert set(entry) >= {"round", "arm", "rows", "ids", "reward", "scores", "policy"}
    assert entry["ids"] == [f"a{r}" for r in entry["rows"]]
    z = (pool.df["gain_score"] - pool.df["gain_score"].mean()) / pool.df["gain_score"].std(ddof=0)
    assert entry["reward"] == pytest.approx(z.iloc[entry["rows"]].mean())
    arm, rnd = res.columns["bandit_arm"], res.columns["bandit_round"]
    for e in res.log:
        assert (arm[e["rows"]] == e["arm"]).all() and (rnd[e["rows"]] == e["round"]).all()
    assert (arm >= 0).sum() == 100 and len(res.log) == math.ceil(100 / 8)
    short = [e for e in res.log if len(e["rows"]) < 8]
    assert all(e["exhausted"] or e is res.log[-1] for e in short)  # only an emptied arm or the target cut
    r = res.log[3]["rows"][0]
    assert res.reasons[r] == f"bandit round 4 (ucb1): cluster {res.log[3]['arm']}, " \
                             f"batch reward {res.log[3]['reward']:.3g}"
    assert sum(res.summary["pulls"].values()) == len(res.log)


def test_exhausted_arms_are_masked_until_all_are_empty(ctx):
    pool = arms_pool(sizes=(5, 17, 3, 9))
    cand = np.arange(len(pool))
    for policy in ("ucb1", "exp3", "thompson"):
        res = ClusterBanditSelector(reward="gain", policy=policy, batch=4).order(pool, cand, len(cand), ctx)
        assert sorted(res.order.tolist()) == cand.tolist()
        sizes = [e["arm"] for e in res.log if e["exhausted"]]
        assert sorted(sizes) == [0, 1, 2, 3]


def test_seeded_and_in_arm_order(ctx):
    pool = arms_pool()
    a = ClusterBanditSelector(reward="gain", policy="thompson").order(pool, np.arange(len(pool)), 200, ctx)
    b = ClusterBanditSelector(reward="gain", policy="thompson").order(
        pool, np.arange(len(pool)), 200, RunContext(seed=0, progress=False))
    c = ClusterBanditSelector(reward="gain", policy="thompson", seed=9).order(
        pool, np.arange(len(pool)), 200, ctx)
    assert a.order.tolist() == b.order.tolist() != c.order.tolist()
    best_first = ClusterBanditSelector(reward="gain", by="gain").order(pool, np.arange(len(pool)), 200, ctx)
    gain = pool.df["gain_score"].to_numpy()
    first = best_first.log[0]
    members = np.flatnonzero(pool.df["cluster"].to_numpy() == first["arm"])
    assert first["rows"] == members[np.argsort(-gain[members])[:8]].tolist()


def test_reward_fn_callback(ctx):
    pool = arms_pool(sizes=(50, 50, 50))
    seen = []

    def reward(p, rows):
        seen.append(len(rows))
        return float((p.df["cluster"].to_numpy()[rows] == 1).mean())

    sel = ClusterBanditSelector(reward_fn=reward, policy="ucb1")
    res = sel.order(pool, np.arange(len(pool)), 80, ctx)
    assert res.summary["pulls"]["1"] == max(res.summary["pulls"].values())
    assert sum(seen) == 80 and "not serialisable" in res.describe and "not serialisable" in sel.describe()
    assert sel.fingerprint() != ClusterBanditSelector(reward="gain").fingerprint()


def test_configuration_errors(ctx):
    with pytest.raises(ConfigError) as e:
        ClusterBanditSelector()
    assert e.value.key == "select.selector.reward"
    with pytest.raises(ConfigError) as e:
        ClusterBanditSelector(reward="gain", policy="exp3", share_neighbours=True)
    assert e.value.key == "select.selector.share_neighbours"
    with pytest.raises(ConfigError):
        ClusterBanditSelector(reward="gain", policy="eps_greedy")
    pool = arms_pool(sizes=(5, 5))
    with pytest.raises(ConfigError) as e:
        ClusterBanditSelector(reward="proxy_prob").order(pool, np.arange(10), 4, ctx)
    assert e.value.key == "select.selector.reward" and "`proxy` scorer" in str(e.value)
    pool.df = pool.df.drop(columns=["cluster"])
    with pytest.raises(ConfigError, match="kmeans"):
        ClusterBanditSelector(reward="gain").order(pool, np.arange(10), 4, ctx)


def test_ucb1_score_by_hand():
    m = ArmManager(3, "ucb1", alpha=1.0, seed=0)
    m.update(0, 2.0)
    m.update(1, 4.0)
    m.update(0, 3.0)
    s = m.scores()
    assert s[2] == np.inf  # untried first
    # rewards normalised by the range seen (2..4): arm 0 → (0 + 0.5)/2, arm 1 → 1; Σ T = 3
    assert s[0] == pytest.approx(0.25 + math.sqrt(2 * math.log(3) / 3))
    assert s[1] == pytest.approx(1.0 + math.sqrt(2 * math.log(3) / 2))
    m.exhaust(2)
    assert m.choose()[0] == 1 and m.scores()[2] == -np.inf


def test_exp3_probabilities_and_update_by_hand():
    m = ArmManager(4, "exp3", gamma=0.2, seed=0)
    arm, p = m.choose()
    np.testing.assert_allclose(p, 0.25)
    m.update(arm, 5.0)  # first reward: no range yet → r̂ = 0.5
    assert m.log_w[arm] == pytest.approx(0.2 * 0.5 / (0.25 * 4))
    w = np.exp(m.log_w)
    expect = 0.8 * w / w.sum() + 0.2 / 4
    np.testing.assert_allclose(m.scores(), expect)
    m.exhaust(3)
    p = m.scores()
    assert p[3] == -np.inf and p[:3].sum() == pytest.approx(1.0)


def test_neighbour_sharing_weights_by_hand():
    a = np.deg2rad([0, 10, 90])
    emb = np.c_[np.cos(a), np.sin(a)].astype(np.float32)
    nb = centroid_neighbours(emb, np.array([0, 1, 2]), 3, tau=0.2)
    d = 1 - math.cos(math.radians(10))
    assert nb[0][0].tolist() == [0, 1] and nb[0][1] == pytest.approx([1.0, 1 - d / 0.2], rel=1e-5)
    assert nb[2][0].tolist() == [2]
    m = ArmManager(3, "ucb1", seed=0, neighbours=nb)
    m.update(0, 1.0)
    assert m.updates.tolist() == [1, 1, 0]
    assert m.weighted[1] == pytest.approx(1 - d / 0.2, rel=1e-5)


def test_sharing_through_the_selector_uses_embeddings(pool, ctx):
    sel = ClusterBanditSelector(reward="proxy_prob", share_neighbours=True, tau=0.5)
    assert sel.needs_embeddings and not ClusterBanditSelector(reward="proxy_prob").needs_embeddings
    res = sel.order(pool, np.arange(len(pool)), 60, ctx)
    assert len(res.order) == 60 and "neighbour sharing" in res.describe


def test_through_the_engine(pool, ctx):
    cols, res = Select(ClusterBanditSelector(reward="proxy_prob"), budget=0.1, label_floor=0).run(pool, ctx, notes=[])
    assert cols["selected"].sum() == round(0.1 * len(pool))
    assert (cols.loc[cols["selected"], "bandit_arm"] >= 0).all()
    assert (cols.loc[~cols["selected"], "bandit_arm"] == -1).all()
    assert cols.loc[cols["selected"], "reason"].str.startswith("bandit round").all()
