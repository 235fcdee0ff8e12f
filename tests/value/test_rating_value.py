import numpy as np
import pytest

from curata.value.rating_value import exact_loo_change, first_order_values, rating_values, softmax_surrogate
from curata.value.recsys import Ratings, cosine_item_similarity, evaluate


def two_tastes(seed: int = 0) -> tuple[Ratings, Ratings, list[tuple[int, int, int]]]:
    """Users 0–3 like items 0–2, users 4–7 like items 3–5; each user's third liked item is held out.
    Two stray ratings cross the groups: (0, 4) and (5, 0)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for u in range(8):
        items = rng.permutation([0, 1, 2] if u < 4 else [3, 4, 5])
        train += [(u, int(i), 5) for i in items[:2]]
        held.append((u, int(items[2]), 5))
    train += [(0, 4, 1), (5, 0, 4)]

    def make(rows):
        a = np.array(rows)
        return Ratings(a[:, 0], a[:, 1], a[:, 2].astype(float), 8, 6)
    return make(train), make(held), train


def test_surrogate_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6))
    cand = rng.random((4, 6)) < 0.8
    rel = (rng.random((4, 6)) < 0.4) & cand
    rel[3] = False  # a user without relevant items contributes nothing
    u0, g = softmax_surrogate(x, cand, rel, tau=0.7)
    assert np.all(g[3] == 0) and np.all(g[~cand] == 0)
    # the temperature t_v = τ·std is held fixed in the gradient: check against that convention
    t = 0.7 * np.nanstd(np.where(cand, x, np.nan), axis=1, keepdims=True)
    assert u0 == pytest.approx(_u(x, cand, rel, t))
    eps = 1e-6
    for v, j in np.argwhere(cand):
        d = np.zeros_like(x)
        d[v, j] = eps
        fd = (_u(x + d, cand, rel, t) - _u(x - d, cand, rel, t)) / (2 * eps)
        assert g[v, j] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def _u(x, cand, rel, t):
    """The surrogate written out directly, with the per-user temperature ``t`` given."""
    users = (rel & cand).any(axis=1)
    z = np.where(cand, x / t, -np.inf)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) + z.max(1, keepdims=True)
    ll = np.where(rel & cand, z - lse, 0).sum(1) / np.maximum((rel & cand).sum(1), 1)
    return ll[users].mean()


def test_closed_form_is_the_linear_term_of_the_exact_change():
    # value(u, a) = −⟨G, Δx⟩ with Δx = −S_a on u's row plus R·ΔS, ΔS the exact change of the similarity
    train, held, _ = two_tastes()
    r = train.matrix()
    cand, rel = r == 0, held.relevant()
    values = first_order_values(r, cand, rel, tau=1.0)
    s = cosine_item_similarity(r)
    _, g = softmax_surrogate(r @ s, cand, rel, 1.0)
    for u, a in zip(train.user, train.item):
        r2 = r.copy()
        r2[u, a] = 0
        dx = r @ (cosine_item_similarity(r2) - s)
        dx[u] -= s[a]
        assert values[u, a] == pytest.approx(-(g * dx).sum(), abs=1e-12)
    assert np.all(values[r == 0] == 0)


def test_item_rated_by_one_user_loses_its_row():
    r = np.array([[1.0, 1, 1], [1, 1, 0], [0, 1, 0]])  # item 2 has a single rater (user 0)
    rel = np.zeros_like(r, dtype=bool)
    rel[2, 0] = True
    s = cosine_item_similarity(r)
    _, g = softmax_surrogate(r @ s, r == 0, rel, 1.0)
    r2 = r.copy()
    r2[0, 2] = 0
    dx = r @ (cosine_item_similarity(r2) - s)
    dx[0] -= s[2]
    assert first_order_values(r, r == 0, rel)[0, 2] == pytest.approx(-(g * dx).sum(), abs=1e-12)


def test_the_most_harmful_rating_is_a_stray_one_and_dropping_it_helps():
    train, held, rows = two_tastes()
    r = train.matrix()
    values = first_order_values(r, r == 0, held.relevant(), tau=1.0)[train.user, train.item]
    worst = int(np.argmin(values))
    assert rows[worst][:2] in [(0, 4), (5, 0)]
    assert set(np.argsort(values)[:2]) == {len(rows) - 2, len(rows) - 1}
    keep = np.arange(len(train)) != worst
    before, after = evaluate(train, held), evaluate(train.take(keep), held, seen=train)
    assert after > before + 0.05
    # the most valuable rating, dropped, hurts
    best = np.arange(len(train)) != int(np.argmax(values))
    assert evaluate(train.take(best), held, seen=train) < before


def test_first_order_ranks_like_the_exact_loo_change():
    from scipy.stats import spearmanr
    rng = np.random.default_rng(3)
    taste = rng.integers(0, 3, 30)
    likes = np.arange(24)[None, :] % 3 == taste[:, None]
    r = (rng.random((30, 24)) < np.where(likes, 0.5, 0.08)).astype(float)
    held = (rng.random(r.shape) < 0.3) & (r > 0)
    train = r * ~held
    pairs = np.argwhere(train > 0)
    fo = first_order_values(train, train == 0, held, tau=1.0)[pairs[:, 0], pairs[:, 1]]
    ex = exact_loo_change(train, train == 0, held, pairs, tau=1.0)
    assert spearmanr(fo, ex).statistic > 0.8
    assert np.sign(fo).tolist().count(1) > 0 and np.sign(fo).tolist().count(-1) > 0


def test_cross_fitting_values_every_rating_and_is_seeded():
    train, _, _ = two_tastes()
    a = rating_values(train, folds=3, seed=0)
    b = rating_values(train, folds=3, seed=0)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == (len(train),)
    # each rating sits in one fold, so it is training data (and valued) in the other two
    np.testing.assert_array_equal(a.n_valued, 2)
    assert np.isfinite(a.values).all()
    with pytest.raises(ValueError, match="two folds"):
        rating_values(train, folds=1)
