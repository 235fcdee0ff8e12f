import numpy as np
import pytest

from curata.value.recsys import (
    ItemKNN,
    Ratings,
    cosine_item_similarity,
    evaluate,
    load_movielens,
    ndcg_at_k,
    split_ratings,
)

L3, L5 = 1 / np.log2(3), 1 / np.log2(5)


def ratings(rows, n_users, n_items) -> Ratings:
    a = np.array(rows, dtype=float)
    return Ratings(a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2], n_users, n_items)


def test_ndcg_by_hand():
    scores = np.array([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]], dtype=float)
    seen = np.zeros((3, 5), dtype=bool)
    seen[1, 4] = True
    relevant = np.zeros((3, 5), dtype=bool)
    relevant[0, [1, 3]] = True  # ranked 2nd and 4th
    relevant[1, 3] = True  # item 4 is seen, so item 3 comes first
    out = ndcg_at_k(scores, seen, relevant, k=10)
    assert out[0] == pytest.approx((L3 + L5) / (1 + L3))
    assert out[1] == pytest.approx(1.0)
    assert np.isnan(out[2])  # no relevant item: skipped by the mean
    assert ndcg_at_k(scores, seen, relevant, k=2)[0] == pytest.approx(L3 / (1 + L3))


def test_ties_break_by_item_and_seen_relevant_items_do_not_count():
    scores = np.ones((1, 4))
    relevant = np.array([[False, True, False, True]])
    seen = np.array([[False, False, False, True]])
    # item 3 is relevant but seen: only item 1 counts, ranked 2nd behind item 0 on the tie
    assert ndcg_at_k(scores, seen, relevant, k=10)[0] == pytest.approx(L3)


def test_item_knn_by_hand():
    # u0 rated items 0,1; u1 rated 0,2; u2 rated 1. n = (2, 2, 1): S01 = 1/√4, S02 = 1/√2, S12 = 0
    train = ratings([(0, 0, 5), (0, 1, 3), (1, 0, 4), (1, 2, 1), (2, 1, 5)], 3, 3)
    model = ItemKNN().fit(train)
    np.testing.assert_allclose(model.sim, [[0, 0.5, 1 / np.sqrt(2)], [0.5, 0, 0], [1 / np.sqrt(2), 0, 0]])
    np.testing.assert_allclose(model.scores()[2], [0.5, 0, 0])
    # u2's unseen items rank 0 then 2; the test item 2 (5 stars) sits at rank 2, item 0 would sit at rank 1
    assert evaluate(train, ratings([(2, 2, 5)], 3, 3)) == pytest.approx(L3)
    assert evaluate(train, ratings([(2, 0, 4)], 3, 3)) == pytest.approx(1.0)
    assert np.isnan(evaluate(train, ratings([(2, 0, 3)], 3, 3)))  # 3 stars is not relevant: no user counts


def test_seen_history_stays_filtered_when_a_rating_is_dropped():
    train = ratings([(0, 0, 5), (0, 1, 5), (1, 0, 5), (1, 1, 5), (2, 0, 5), (2, 1, 5), (2, 2, 5)], 3, 4)
    test = ratings([(0, 2, 5)], 3, 4)
    reduced = train.take(np.arange(len(train)) != 1)  # u0's rating of item 1 is not fitted...
    # ...but u0 has seen item 1, so it must not be recommended back: item 2 stays first
    assert evaluate(reduced, test, seen=train) == pytest.approx(1.0)
    assert evaluate(reduced, test) < 1.0


def test_empty_item_has_zero_similarity():
    s = cosine_item_similarity(np.array([[1.0, 0, 1], [1, 0, 0]]))
    np.testing.assert_allclose(s[1], 0.0)
    assert np.isfinite(s).all()


def test_load_movielens_layout(tmp_path):
    (tmp_path / "u1.base").write_text("1\t1\t5\t874965758\n2\t3\t2\t876893171\n")
    (tmp_path / "u1.test").write_text("1\t2\t4\t874965758\n")
    (tmp_path / "u.info").write_text("3 users\n5 items\n3 ratings\n")
    base, test = load_movielens(tmp_path, "u1")
    assert (base.n_users, base.n_items) == (3, 5)
    np.testing.assert_array_equal(base.user, [0, 1])
    np.testing.assert_array_equal(base.item, [0, 2])
    np.testing.assert_array_equal(test.rating, [4.0])
    assert test.relevant()[0, 1] and test.relevant().sum() == 1


def test_split_is_seeded_and_disjoint():
    r = ratings([(u, i, 3) for u in range(10) for i in range(10)], 10, 10)
    a, b = split_ratings(r, 0.2, seed=1)
    a2, _ = split_ratings(r, 0.2, seed=1)
    assert len(a) + len(b) == 100 and 10 < len(b) < 30
    np.testing.assert_array_equal(a.item, a2.item)
    assert not (a.matrix() * b.matrix()).any()
