import numpy as np
import pytest

from curata.dedup.near import NearDuplicateScorer


def at(deg):
    r = np.deg2rad(deg)
    return [np.cos(r), np.sin(r)]


T1 = np.rad2deg(np.arccos(0.97))
T3 = T1 + np.rad2deg(np.arccos(0.99))  # cos to r0 ≈ 0.926 < 0.95


def chain_pool(make_pool):
    return make_pool(embeddings=[at(0), at(T1), at(90), at(T3), at(90), at(T3 + 5)])


def test_greedy_groups_follow_kept_records(make_pool, ctx):
    out = NearDuplicateScorer().score(chain_pool(make_pool), ctx)
    assert list(out.columns) == ["near_dup_score", "near_dup_of"]
    # r1 joins r0; r3 is close to r1 only, but r1 is not kept, so r3 is kept; r4 copies r2; r5 joins r3
    # (it is also within 0.95 of r1, which is not kept)
    assert out["near_dup_of"].tolist() == [None, "r0", None, None, "r2", "r3"]
    np.testing.assert_allclose(out["near_dup_score"], [0, 0.97, 0, 0, 1.0, np.cos(np.deg2rad(5))], atol=1e-6)


def test_threshold(make_pool, ctx):
    out = NearDuplicateScorer(threshold=0.999).score(chain_pool(make_pool), ctx)
    assert out["near_dup_of"].tolist() == [None, None, None, None, "r2", None]
    out = NearDuplicateScorer(threshold=0.9).score(chain_pool(make_pool), ctx)
    # r3 is now within 0.9 of r0 (0.926); r5 of r0 is cos(T3+5) ≈ 0.89 -> its kept match is none: r3 is a dup
    assert out["near_dup_of"].tolist() == [None, "r0", None, "r0", "r2", None]
    assert out["near_dup_score"][3] == pytest.approx(np.cos(np.deg2rad(T3)), abs=1e-6)


def test_exact_copies_group_to_first(make_pool, ctx):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16))
    x[[10, 20, 30]] = x[5]
    out = NearDuplicateScorer().score(make_pool(embeddings=x), ctx)
    assert out["near_dup_of"][[10, 20, 30]].tolist() == ["r5"] * 3
    assert out["near_dup_of"].notna().sum() == 3
    np.testing.assert_allclose(out["near_dup_score"][[10, 20, 30]], 1.0, atol=1e-6)


def test_ivf_path_matches_exact(make_pool, ctx):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 16))
    x = np.vstack([base, base[:40] + 0.01 * rng.normal(size=(40, 16))])
    exact = NearDuplicateScorer().score(make_pool(embeddings=x), ctx)
    ivf = NearDuplicateScorer(exact_max=100, nprobe=1000).score(make_pool(embeddings=x), ctx)
    assert exact["near_dup_of"][300:].tolist() == [f"r{i}" for i in range(40)]
    assert exact["near_dup_of"].tolist() == ivf["near_dup_of"].tolist()
    np.testing.assert_allclose(exact["near_dup_score"], ivf["near_dup_score"], atol=1e-5)


def test_single_record(make_pool, ctx):
    out = NearDuplicateScorer().score(make_pool(embeddings=[[1.0, 0.0]]), ctx)
    assert out["near_dup_of"].tolist() == [None] and out["near_dup_score"].tolist() == [0.0]


def test_pairs_are_compared_as_pairs(make_pool, ctx):
    """Pairs sharing one side are not copies (entity matching repeats a product across candidate pairs); pairs
    whose two sides both match — in either order — are."""
    from curata.embed.base import normalise

    rng = np.random.default_rng(3)
    a, b, c, d = normalise(rng.normal(size=(4, 16)))
    a2 = normalise(a + 0.05 * rng.normal(size=16)[None])[0]  # a, slightly edited
    left = np.array([a, a, a, a2, b])
    right = np.array([b, c, d, b, a])  # r1, r2 share only the left side with r0; r3 ≈ r0; r4 = r0 swapped
    pool = make_pool(embeddings=normalise(left + right))
    pool.task, pool.sides = "pair", (normalise(left), normalise(right))
    out = NearDuplicateScorer().score(pool, ctx)
    assert out["near_dup_of"].tolist() == [None, None, None, "r0", "r0"]
    assert out["near_dup_score"][3] == pytest.approx(float(a2 @ a), abs=1e-5)
    # at a loose threshold the summed pair vectors call r1 and r2 (one shared side) copies of r0; pairs do not
    loose = NearDuplicateScorer(threshold=0.5)
    assert loose.score(pool, ctx)["near_dup_of"].tolist()[1:3] == [None, None]
    pool.task = "text"
    assert loose.score(pool, ctx)["near_dup_of"].tolist()[1:3] == ["r0", "r0"]


def _copies(seed=0, groups=4, per=5, singles=30, dim=24, noise=0.03):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(groups, dim))
    x = [b + noise * rng.normal(size=(per, dim)) for b in base] + [rng.normal(size=(singles, dim))]
    return np.vstack(x), np.repeat(np.arange(groups), per)


def test_semdedup_finds_the_groups_and_keeps_one_of_each(make_pool, ctx):
    x, group = _copies()
    pool = make_pool(embeddings=x)
    out = NearDuplicateScorer(method="semdedup", clusters=6).score(pool, ctx)
    dup = out["near_dup_score"].to_numpy() > 0
    n_grouped = len(group)
    assert dup[n_grouped:].sum() == 0  # the unrelated singles are all kept
    for g in range(4):
        members = np.flatnonzero(group == g)
        assert dup[members].sum() == len(members) - 1  # one kept per group
        kept = members[~dup[members]][0]
        assert set(out["near_dup_of"][members[dup[members]]]) == {f"r{kept}"}
    assert (out["near_dup_score"][dup] >= 0.95).all()


def test_semdedup_does_not_depend_on_the_input_order(make_pool, ctx):
    x, _ = _copies(seed=1)
    ids = [f"r{i}" for i in range(len(x))]
    first = NearDuplicateScorer(method="semdedup", clusters=6).score(make_pool(embeddings=x), ctx)
    perm = np.random.default_rng(5).permutation(len(x))
    pool = make_pool(embeddings=x[perm])
    pool.df["id"] = [ids[i] for i in perm]
    second = NearDuplicateScorer(method="semdedup", clusters=6).score(pool, ctx)
    kept_first = {ids[i] for i in np.flatnonzero(first["near_dup_score"].to_numpy() == 0)}
    kept_second = set(pool.df["id"][second["near_dup_score"].to_numpy() == 0])
    assert kept_first == kept_second


def test_semdedup_compares_pairs_as_pairs_and_semantic_dup_is_the_same_scorer(make_pool, ctx):
    from curata.embed.base import normalise
    from curata.engine import registry

    assert registry.get("scorer", "semantic_dup") is NearDuplicateScorer
    rng = np.random.default_rng(3)
    a, b, c = normalise(rng.normal(size=(3, 16)))
    left, right = np.array([a, a, b]), np.array([b, c, a])  # r1 shares one side with r0; r2 is r0 swapped
    pool = make_pool(embeddings=normalise(left + right))
    pool.task, pool.sides = "pair", (normalise(left), normalise(right))
    out = NearDuplicateScorer(method="semdedup", clusters=1).score(pool, ctx)
    assert out["near_dup_of"].tolist().count(None) == 2 and out["near_dup_of"][1] is None
