import itertools

import numpy as np
import pandas as pd
import pytest

from curata.engine.select import Select
from curata.pool import Pool
from curata.selectors.facility_location import FacilityLocationSelector, to_similarity


def unit_pool(emb):
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    return Pool(df=pd.DataFrame({"id": [f"q{i}" for i in range(len(emb))], "label": None}), embeddings=emb)


def objective(sim, chosen):
    return sim[:, list(chosen)].max(axis=1).sum() if len(chosen) else 0.0


def naive_greedy(sim, k):
    cover = np.zeros(len(sim))
    picked = []
    for _ in range(k):
        gains = np.maximum(sim - cover[:, None], 0).sum(axis=0)
        gains[picked] = -1
        j = int(np.argmax(gains))
        picked.append(j)
        cover = np.maximum(cover, sim[:, j])
    return picked


def selector_similarity(pool, rows, kind="shifted"):
    """The similarity the dense path uses (float32), so near-ties break the same way."""
    emb = pool.embeddings[rows]
    sim = to_similarity(emb @ emb.T, kind).astype(np.float32)
    np.fill_diagonal(sim, 1.0)
    return sim.astype(np.float64)


def test_two_opposite_clusters_greedy_is_the_brute_force_optimum(ctx):
    # with clipped similarity the clusters do not serve each other, so F splits into one medoid per cluster
    rng = np.random.default_rng(1)
    emb = np.r_[[1, 0, 0] + 0.1 * rng.standard_normal((5, 3)),
                [-1, 0.2, 0] + 0.1 * rng.standard_normal((4, 3))]
    pool = unit_pool(emb)
    sim = selector_similarity(pool, np.arange(9), "clipped")
    assert (sim[:5, 5:] == 0).all()
    res = FacilityLocationSelector(similarity="clipped").order(pool, np.arange(9), 2, ctx)
    best = max(itertools.combinations(range(9), 2), key=lambda s: objective(sim, s))
    assert sorted(res.order.tolist()) == sorted(best)
    assert {int(r) < 5 for r in res.order} == {True, False}
    first = FacilityLocationSelector().order(pool, np.arange(9), 1, ctx)
    shifted = selector_similarity(pool, np.arange(9))
    assert first.order.tolist() == [max(range(9), key=lambda j: objective(shifted, [j]))]


@pytest.mark.parametrize("kind", ["shifted", "clipped"])
def test_each_step_maximises_the_objective_and_beats_1_minus_1_over_e(kind, ctx):
    pool = unit_pool(np.random.default_rng(2).standard_normal((10, 4)))
    sim = selector_similarity(pool, np.arange(10), kind)
    if kind == "clipped":
        assert (sim == 0).any()
    res = FacilityLocationSelector(similarity=kind).order(pool, np.arange(10), 4, ctx)
    order = res.order.tolist()
    for t in range(4):
        values = [objective(sim, order[:t] + [j]) if j not in order[:t] else -1 for j in range(10)]
        assert order[t] == int(np.argmax(values))
        gain = objective(sim, order[:t + 1]) - objective(sim, order[:t])
        assert res.reasons[order[t]].startswith(f"facility-location gain {gain:.3g} at step {t + 1}")
    opt = max(objective(sim, s) for s in itertools.combinations(range(10), 4))
    assert objective(sim, order) >= (1 - 1 / np.e) * opt
    assert res.summary["objective"] == pytest.approx(objective(sim, order), rel=1e-5)


def test_lazy_equals_naive_greedy(pool, ctx, check_order):
    cand = np.flatnonzero(pool.df["cluster"].to_numpy() != 3)
    res = FacilityLocationSelector().order(pool, cand, 60, ctx)
    check_order(res.order, cand, 60)
    expect = cand[naive_greedy(selector_similarity(pool, cand), 60)]
    assert res.order.tolist() == expect.tolist()
    assert res.summary["evaluations"] < 60 * len(cand) / 4  # lazy: far fewer than naive's n per step


def test_sparse_graph_matches_dense_when_complete_and_stays_close_when_not(pool, ctx):
    cand = np.arange(200)
    dense = FacilityLocationSelector().order(pool, cand, 30, ctx)
    full = FacilityLocationSelector(dense_max=50, k=199).order(pool, cand, 30, ctx)
    assert full.order.tolist() == dense.order.tolist()
    assert "199-NN graph" in full.describe
    sparse = FacilityLocationSelector(dense_max=50, k=10).order(pool, cand, 30, ctx)
    sim = selector_similarity(pool, cand)
    assert len(set(sparse.order.tolist())) == 30
    assert objective(sim, sparse.order - cand[0]) >= 0.97 * objective(sim, dense.order - cand[0])


def test_through_the_engine(pool, ctx):
    cols, res = Select(FacilityLocationSelector(), budget=0.1, label_floor=0).run(pool, ctx, notes=[])
    assert cols["selected"].sum() == round(0.1 * len(pool))
    assert cols.loc[cols["selected"], "reason"].str.startswith("facility-location gain").all()
    rest = np.flatnonzero(~cols["selected"])
    chosen = np.flatnonzero(cols["selected"])
    r = int(rest[0])
    sims = (1 + pool.embeddings[chosen] @ pool.embeddings[r]) / 2
    nearest = pool.df["id"].iat[int(chosen[np.argmax(sims)])]
    assert cols.loc[r, "reason"] == f"represented by chosen record {nearest} (similarity {sims.max():.2f})"


def test_stratified_runs_the_greedy_inside_each_label(pool, ctx):
    """Quotas per label follow the allocation; inside a label the order is that label's own greedy."""
    from curata.selectors.facility_location import FacilityLocationSelector
    from curata.selectors.groups import allocate

    cand = np.arange(len(pool))
    labels = pool.df["label"].to_numpy()
    sizes = np.array([(labels == v).sum() for v in ["neg", "neu", "pos"]])
    for allocation, weights in (("proportional", sizes.astype(float)), ("sqrt", np.sqrt(sizes)),
                                ("balanced", np.ones(3))):
        res = FacilityLocationSelector(stratify="label", allocation=allocation).order(pool, cand, 60, ctx)
        got = np.array([(labels[res.order[:60]] == v).sum() for v in ["neg", "neu", "pos"]])
        assert got.tolist() == allocate(sizes, 60, weights, None).tolist(), allocation
    res = FacilityLocationSelector(stratify="label").order(pool, cand, 60, ctx)
    pos_rows = cand[labels == "pos"]
    alone = FacilityLocationSelector().order(pool, pos_rows, int((labels[res.order] == "pos").sum()), ctx)
    assert [r for r in res.order if labels[r] == "pos"] == alone.order.tolist()
    assert res.reasons[int(res.order[0])].startswith("label ")


def test_floor_lifts_the_rare_label_on_top_of_proportional_quotas(pool, ctx):
    from curata.selectors.groups import allocate

    cand = np.arange(len(pool))
    labels = pool.df["label"].to_numpy()
    names = ["neg", "neu", "pos"]
    sizes = np.array([(labels == v).sum() for v in names])
    plain = FacilityLocationSelector(stratify="label").order(pool, cand, 60, ctx)
    res = FacilityLocationSelector(stratify="label", floor=0.5).order(pool, cand, 60, ctx)
    got = np.array([(labels[res.order[:60]] == v).sum() for v in names])
    assert got.tolist() == allocate(sizes, 60, allocation="proportional", floor=0.5).tolist()
    assert got.sum() == 60 and got.min() >= 10  # ⌈0.5 · 60 / 3⌉
    assert (labels[plain.order[:60]] == "pos").sum() < got[2]
    assert "at least ⌈0.5 · budget / groups⌉" in res.describe and res.summary["floor"] == 0.5
    zero = FacilityLocationSelector(stratify="label", floor=0.0).order(pool, cand, 60, ctx)
    assert zero.order.tolist() == plain.order.tolist()


def greedy_from(sim, k, allowed, cover=None):
    """Naive greedy over candidates ``allowed`` only, serving every row; returns (picks, cover)."""
    cover = np.zeros(len(sim)) if cover is None else cover.copy()
    picked = []
    for _ in range(k):
        gains = np.maximum(sim - cover[:, None], 0).sum(axis=0)
        gains[[j for j in range(len(sim)) if j not in allowed or j in picked]] = -1
        j = int(np.argmax(gains))
        picked.append(j)
        cover = np.maximum(cover, sim[:, j])
    return picked, cover


@pytest.mark.parametrize("n_target", [30, 400])
def test_prefer_restricts_the_greedy_to_the_top_share_first(pool, ctx, n_target):
    cand = np.arange(len(pool))
    labels = pool.df["label"].to_numpy()
    prob = pool.df["proxy_prob_score"].to_numpy()
    sel = FacilityLocationSelector(stratify="label", prefer="proxy_prob", prefer_share=0.5)
    res = sel.order(pool, cand, n_target, ctx)
    plain = FacilityLocationSelector(stratify="label").order(pool, cand, n_target, ctx)
    assert sorted(labels[res.order].tolist()) == sorted(labels[plain.order].tolist())  # same quotas
    for v in ["neg", "neu", "pos"]:
        rows = cand[labels == v]
        n_first = int(np.ceil(0.5 * len(rows)))
        top = set(rows[np.argsort(-prob[rows], kind="stable")[:n_first]].tolist())
        picks = [int(r) for r in res.order if labels[r] == v]
        k1 = min(len(picks), n_first)
        assert set(picks[:k1]) <= top and not set(picks[k1:]) & top  # the preferred half goes first
        # the objective still serves the whole label: the naive greedy over the preferred half, then the rest
        sim = selector_similarity(pool, rows)
        pos = {int(r): i for i, r in enumerate(rows)}
        first, cover = greedy_from(sim, k1, {pos[r] for r in top})
        others = set(range(len(rows))) - {pos[r] for r in top} - set(first)
        rest, _ = greedy_from(sim, len(picks) - k1, others, cover)
        assert [pos[r] for r in picks] == first + rest
        for r in picks:
            assert ("among the top 50% by proxy_prob" if r in top else "past the top 50% by proxy_prob") \
                in res.reasons[r]
        for r in set(rows.tolist()) - set(picks):
            assert ("not among the top 50%" in res.skipped_reasons[r]) == (r not in top)
    assert "first among the top 50% by proxy_prob of each label" in res.describe
    assert res.summary["prefer"] == "proxy_prob" and res.summary["groups"][0]["preferred"] > 0
    if n_target == 400:  # the quota of the largest label exceeds its preferred half
        assert any("past the top 50%" in t for t in res.reasons.values())


def test_prefer_share_one_or_no_prefer_is_the_plain_greedy(pool, ctx):
    cand = np.arange(len(pool))
    plain = FacilityLocationSelector(stratify="label", allocation="sqrt").order(pool, cand, 50, ctx)
    same = FacilityLocationSelector(stratify="label", allocation="sqrt", prefer="proxy_prob").order(
        pool, cand, 50, ctx)
    assert same.order.tolist() == plain.order.tolist() and same.reasons == plain.reasons
    alone = FacilityLocationSelector(prefer="-proxy_prob", prefer_share=0.25).order(pool, cand, 20, ctx)
    prob = pool.df["proxy_prob_score"].to_numpy()
    # the least confident quarter
    assert prob[alone.order].max() <= np.sort(prob)[int(np.ceil(0.25 * len(prob)))]


def test_prefer_column_is_checked_before_any_work():
    from curata.errors import ConfigError

    sel = FacilityLocationSelector(stratify="label", prefer="proxy_prob", prefer_share=0.5)
    sel.check({"proxy_prob_score", "label"}, has_labels=True)
    with pytest.raises(ConfigError, match="prefer"):
        sel.check({"label"}, has_labels=True)
    with pytest.raises(Exception):
        FacilityLocationSelector(prefer="not a column!")
    with pytest.raises(Exception):
        FacilityLocationSelector(prefer="proxy_prob", prefer_share=0)
