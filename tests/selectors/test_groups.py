import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curata.selectors.groups import allocate, interleave, ordinal, rank_in_groups


def test_largest_remainder_proportional():
    assert allocate([60, 30, 10], 10, weights=[60, 30, 10]).tolist() == [6, 3, 1]
    # ideal 3.5, 2.1, 1.4 → floors 3, 2, 1 and the one left goes to the largest remainder (.5)
    assert allocate([50, 30, 20], 7, weights=[50, 30, 20]).tolist() == [4, 2, 1]
    assert allocate([2, 3], 10).tolist() == [2, 3]
    assert allocate([5, 0, 5], 4).tolist() == [2, 0, 2]


def test_water_filling_gives_surplus_of_small_groups_to_the_rest():
    assert allocate([100, 2, 50], 30).tolist() == [14, 2, 14]
    assert allocate([100, 2, 5, 100], 40).tolist() == [17, 2, 5, 16]
    q = allocate([1000, 3, 7, 400, 12], 333)
    assert q.sum() == 333 and q[1] == 3 and q[2] == 7 and q[4] == 12 and abs(int(q[0]) - int(q[3])) <= 1


def test_equal_remainders_follow_priority():
    assert allocate([100, 100, 100], 10).tolist() == [4, 3, 3]
    assert allocate([100, 100, 100], 10, priority=np.array([2, 0, 1])).tolist() == [3, 4, 3]


def test_rank_in_groups_and_interleaved_prefixes():
    codes = np.array([0, 1, 0, 1, 0, 2])
    key = np.array([0.1, 0.5, 0.9, 0.5, 0.3, 0.0])
    assert rank_in_groups(codes, key, np.arange(6)).tolist() == [2, 0, 0, 1, 1, 0]
    codes = np.repeat([0, 1, 2], [60, 30, 10])
    rank = rank_in_groups(codes, np.zeros(100), np.arange(100))
    quota = np.array([60, 30, 10])
    seq = codes[interleave(codes, rank, quota, np.arange(3))]
    for m in range(1, 101):
        counts = np.bincount(seq[:m], minlength=3)
        assert np.all(np.abs(counts - m * quota / 100) <= 1)


def test_ordinal():
    assert [ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=12), st.integers(0, 800))
def test_allocate_properties(sizes, n):
    sizes = np.array(sizes)
    q = allocate(sizes, n)
    assert q.sum() == min(n, sizes.sum())
    assert (q >= 0).all() and (q <= sizes).all()
    open_ = q < sizes  # a group that could take more never trails the largest quota by more than one
    if open_.any():
        assert q.max() - q[open_].min() <= 1
    prop = allocate(sizes, n, weights=sizes)
    if sizes.sum():
        ideal = min(n, sizes.sum()) * sizes / sizes.sum()
        assert np.all(np.abs(prop - ideal) < 1) and prop.sum() == min(n, sizes.sum())
