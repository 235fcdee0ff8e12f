import itertools
import math

import numpy as np
import pytest

from curata.value.knn_shapley import (
    knn_shapley,
    knn_utility,
    order_by_similarity,
    shapley_from_sorted,
    sorted_order,
)
from curata.value.monte_carlo import monte_carlo_knn_shapley


def unit(rng, n, d=4):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def reference_utility(xt, yt, xv, yv, k, subset) -> float:
    """K-NN utility written independently: plain Python sort by (−cosine, position) per validation point."""
    if not subset:
        return 0.0
    total = 0.0
    for x, y in zip(xv, yv):
        sims = {i: float(np.dot(x, xt[i])) for i in subset}
        nearest = sorted(subset, key=lambda i: (-sims[i], i))[:k]
        total += sum(yt[i] == y for i in nearest) / k
    return total / len(xv)


def brute_force_shapley(xt, yt, xv, yv, k) -> np.ndarray:
    n = len(xt)
    util = {s: reference_utility(xt, yt, xv, yv, k, list(s))
            for r in range(n + 1) for s in itertools.combinations(range(n), r)}
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
            for s in itertools.combinations(others, r):
                phi[i] += w * (util[tuple(sorted(s + (i,)))] - util[s])
    return phi


def test_recursion_by_hand():
    # one validation point labelled A; training sorted nearest-first has labels A, B, A; K = 1.
    # By hand over the 6 orderings: the far A adds 1 only when it comes first (2/6); B loses 1 only in c,b,a.
    s = shapley_from_sorted(np.array([[1, 0, 1]]), k=1)
    np.testing.assert_allclose(s[0], [5 / 6, -1 / 6, 1 / 3], atol=1e-12)


@pytest.mark.parametrize("n,k,classes", [(1, 3, 2), (2, 1, 2), (5, 10, 2), (6, 3, 3), (8, 1, 2), (8, 3, 2),
                                         (8, 5, 3), (8, 10, 2)])
def test_exact_equals_brute_force(n, k, classes):
    rng = np.random.default_rng(100 * n + k)
    xt, xv = unit(rng, n), unit(rng, 4)
    yt, yv = rng.integers(0, classes, n), rng.integers(0, classes, 4)
    exact = knn_shapley(xt, yt, xv, yv, k=k)
    np.testing.assert_allclose(exact, brute_force_shapley(xt, yt, xv, yv, k), rtol=0, atol=1e-9)


def test_ties_follow_training_position():
    # four records at the same distance from the validation point: order by position decides the K = 2 winners
    xt = np.array([[1, 0], [1, 0], [1, 0], [1, 0]], dtype=np.float32)
    yt = np.array(["B", "A", "A", "B"])
    xv, yv = np.array([[1, 0]], dtype=np.float32), np.array(["A"])
    exact = knn_shapley(xt, yt, xv, yv, k=2)
    np.testing.assert_allclose(exact, brute_force_shapley(xt, yt, xv, yv, 2), atol=1e-9)
    assert knn_utility(xt, yt, xv, yv, k=2) == 0.5


def test_sorted_order_is_a_stable_argsort_of_the_distance():
    rng = np.random.default_rng(6)
    xt = rng.integers(-1, 2, size=(300, 3)).astype(np.float32)  # many exact ties, negatives, orthogonal pairs
    xv = rng.integers(-1, 2, size=(20, 3)).astype(np.float32)
    np.testing.assert_array_equal(sorted_order(xt, xv), np.argsort(-(xv @ xt.T), axis=1, kind="stable"))
    sims = np.array([[0.0, -0.0, 0.5, -0.5, 0.0, np.float32(1e-30), -np.float32(1e-30)]], dtype=np.float32)
    # +0.0 and −0.0 are equal cosines: they keep their positions' order
    assert order_by_similarity(sims.copy()).tolist() == [[2, 5, 0, 1, 4, 6, 3]]


def test_efficiency_on_a_larger_pool():
    rng = np.random.default_rng(1)
    xt, xv = unit(rng, 300, 8), unit(rng, 57, 8)
    yt, yv = rng.integers(0, 3, 300), rng.integers(0, 3, 57)
    for k in (1, 10, 500):
        vals = knn_shapley(xt, yt, xv, yv, k=k)
        assert vals.sum() == pytest.approx(knn_utility(xt, yt, xv, yv, k=k) - 0.0, abs=1e-10)


def test_chunking_does_not_change_values():
    rng = np.random.default_rng(2)
    xt, xv = unit(rng, 50), unit(rng, 30)
    yt, yv = rng.integers(0, 2, 50), rng.integers(0, 2, 30)
    np.testing.assert_allclose(knn_shapley(xt, yt, xv, yv, k=5, chunk_cells=7),
                               knn_shapley(xt, yt, xv, yv, k=5), atol=1e-14)


def test_duplicates_get_the_same_value():
    rng = np.random.default_rng(3)
    xt = unit(rng, 7)
    xt[5] = xt[2]
    yt = rng.integers(0, 2, 7)
    yt[5] = yt[2]
    xv, yv = unit(rng, 5), rng.integers(0, 2, 5)
    for k in (1, 2, 4):
        vals = knn_shapley(xt, yt, xv, yv, k=k)
        assert vals[2] == pytest.approx(vals[5], abs=1e-12)
        assert vals[2] == pytest.approx(brute_force_shapley(xt, yt, xv, yv, k)[2], abs=1e-9)


def test_mislabelled_record_is_negative():
    # two tight clusters; record 0 sits in the A cluster with label B
    xt = np.array([[1, 0.01 * i] for i in range(5)] + [[0.01 * i, 1] for i in range(5)], dtype=np.float32)
    xt /= np.linalg.norm(xt, axis=1, keepdims=True)
    yt = np.array(["B", "A", "A", "A", "A", "B", "B", "B", "B", "B"])
    xv = np.array([[1, 0.005], [1, 0.025]], dtype=np.float32)
    yv = np.array(["A", "A"])
    vals = knn_shapley(xt, yt, xv, yv, k=3)
    assert vals[0] < 0 < vals[1:5].min()
    # the B records are all farther than every A record and carry the wrong label: worth exactly nothing here
    np.testing.assert_array_equal(vals[5:], 0.0)


def test_monte_carlo_converges_to_exact():
    rng = np.random.default_rng(4)
    xt, xv = unit(rng, 8), unit(rng, 6)
    yt, yv = rng.integers(0, 2, 8), rng.integers(0, 2, 6)
    exact = knn_shapley(xt, yt, xv, yv, k=3)
    few = monte_carlo_knn_shapley(xt, yt, xv, yv, k=3, n_permutations=50, seed=0)
    many = monte_carlo_knn_shapley(xt, yt, xv, yv, k=3, n_permutations=20_000, seed=0)
    # every permutation's marginals add up to U(all), so the estimate is efficient exactly
    assert many.values.sum() == pytest.approx(knn_utility(xt, yt, xv, yv, k=3), abs=1e-12)
    assert np.all(np.abs(many.values - exact) <= 4 * many.stderr + 1e-12)
    assert np.abs(many.values - exact).max() < 0.01
    assert np.abs(many.values - exact).mean() < np.abs(few.values - exact).mean()
    assert many.stderr.max() < few.stderr.max()
    assert many.truncated_fraction == 0.0


def test_monte_carlo_is_seeded_and_truncation_skips_work():
    rng = np.random.default_rng(5)
    xt, xv = unit(rng, 40), unit(rng, 10)
    yt, yv = rng.integers(0, 2, 40), rng.integers(0, 2, 10)
    a = monte_carlo_knn_shapley(xt, yt, xv, yv, k=3, n_permutations=64, seed=7)
    b = monte_carlo_knn_shapley(xt, yt, xv, yv, k=3, n_permutations=64, seed=7)
    np.testing.assert_array_equal(a.values, b.values)
    t = monte_carlo_knn_shapley(xt, yt, xv, yv, k=3, n_permutations=1000, seed=7, truncation=0.05)
    assert t.truncated_fraction > 0.2
    # truncation stops a permutation once it is within 5% of U(all): the values add up to within that
    assert abs(t.values.sum() - t.utility_full) <= 0.05 * t.utility_full + 1e-12
    assert np.corrcoef(t.values, knn_shapley(xt, yt, xv, yv, k=3))[0, 1] > 0.85


def test_bad_inputs():
    with pytest.raises(ValueError, match="same width"):
        knn_shapley(np.zeros((3, 2)), [0, 1, 0], np.zeros((1, 3)), [0])
    with pytest.raises(ValueError, match="K must"):
        knn_shapley(np.zeros((3, 2)), [0, 1, 0], np.zeros((1, 2)), [0], k=0)
