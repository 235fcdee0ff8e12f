import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curata.selectors.groups import allocate, floor_minimum, interleave, ordinal, rank_in_groups


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


def test_allocation_names_give_the_same_quotas_as_their_weights():
    sizes = np.array([900, 80, 20, 0])
    for name, w in (("proportional", sizes.astype(float)), ("sqrt", np.sqrt(sizes)), ("balanced", sizes > 0)):
        assert allocate(sizes, 100, allocation=name).tolist() == allocate(sizes, 100, w).tolist()
    with pytest.raises(ValueError):
        allocate(sizes, 100, weights=sizes, allocation="sqrt")
    with pytest.raises(ValueError):
        allocate(sizes, 100, allocation="cubic")


def test_floor_lifts_small_groups_and_the_rest_keep_their_weights():
    # proportional 90/8/2; ⌈0.25 · 100 / 3⌉ = 9 each at least, the largest takes what is left
    assert allocate([900, 80, 20], 100, allocation="proportional").tolist() == [90, 8, 2]
    assert allocate([900, 80, 20], 100, allocation="proportional", floor=0.25).tolist() == [82, 9, 9]
    # a group smaller than the floor gives everything it has; one above the floor by weight keeps its share
    q = allocate([900, 5, 95], 100, allocation="proportional", floor=0.25)
    assert q.tolist() == [86, 5, 9] and q.sum() == 100
    assert allocate([600, 300, 100], 100, allocation="proportional", floor=0.25).tolist() == [60, 30, 10]
    # the minimum never exceeds an equal share, so the floors always fit in the budget
    assert allocate([50, 50, 50], 10, allocation="proportional", floor=1.0).tolist() == [4, 3, 3]
    assert floor_minimum(np.array([50, 2, 50, 0]), 10, 1.0).tolist() == [3, 2, 3, 0]
    assert floor_minimum(np.array([50, 50]), 10, 0.0).tolist() == [0, 0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=10), st.integers(0, 1500),
       st.sampled_from(["proportional", "sqrt", "balanced"]), st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]))
def test_allocate_with_floor_properties(sizes, n, allocation, floor):
    sizes = np.array(sizes)
    q = allocate(sizes, n, allocation=allocation, floor=floor)
    total = min(n, sizes.sum())
    assert q.sum() == total
    assert (q >= 0).all() and (q <= sizes).all()
    k = int((sizes > 0).sum())
    if floor > 0 and k:
        least = min(math.ceil(floor * total / k - 1e-9), total // k)
        assert (q >= np.minimum(sizes, least)).all()
    if floor == 0:
        assert q.tolist() == allocate(sizes, n, allocation=allocation).tolist()
    # a floor only moves records towards groups below it: a group above its minimum never gains from it
    base = allocate(sizes, n, allocation=allocation)
    lifted = q > base
    if floor > 0 and k and lifted.any():
        assert (q[lifted] <= np.maximum(np.minimum(sizes, least)[lifted], base[lifted] + 1)).all()
