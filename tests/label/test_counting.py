import numpy as np
import pytest

from curata.label import (ClassGroups, calibrate, confident_joint, per_class_thresholds,
                          round_preserving_row_totals, self_confidence)

NO_CLEANLAB = "cleanlab (a benchmark-only dependency) is not installed"


def test_class_groups_keep_dataset_order():
    g = ClassGroups.of(np.array([2, 0, 2, 1, 0]), 4)
    assert g.counts.tolist() == [2, 1, 2, 0]
    assert [g.rows(k).tolist() for k in range(4)] == [[1, 4], [3], [0, 2], []]


def test_thresholds_are_mean_self_confidence_per_class():
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 0, 1, 1, 1])
    # class 0: (0.9 + 0.5) / 2 = 0.7; class 1: (0.7 + 1.0 + 0.0) / 3
    assert per_class_thresholds(y, p) == pytest.approx([0.7, 1.7 / 3])
    assert self_confidence(y, p).tolist() == [0.9, 0.5, 0.7, 1.0, 0.0]


def test_threshold_floor():
    p = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert per_class_thresholds(np.array([0, 1]), p).tolist() == [2e-6, 2e-6]


def test_confident_joint_by_hand():
    t = np.array([0.3, 0.3, 0.9])
    p = np.array([
        [0.35, 0.33, 0.32],  # y=0: classes 0 and 1 pass → the row's argmax, 0
        [0.31, 0.30, 0.39],  # y=0: classes 0 and 1 pass → the row's argmax, 2, though 2 is below t_2
        [0.20, 0.20, 0.60],  # y=1: no class passes → not counted
        [0.10, 0.2999995, 0.6000005],  # y=2: only class 1 passes (0.2999995 ≥ 0.3 − 1e-6) → 1
        [0.05, 0.05, 0.90],  # y=2: class 2
    ])
    y = np.array([0, 0, 1, 2, 2])
    c = confident_joint(y, p, t)
    assert c.true_guess.tolist() == [0, 2, -1, 1, 2]
    # row 1 (given 1) has no counted record, but every diagonal cell is at least 1
    assert c.joint.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert c.off_diagonal.tolist() == [1, 3]


@pytest.mark.parametrize("rows, expected", [
    ([[2.5, 1.5, 0.0]], [[2, 2, 0]]),  # round half to even already sums to 4
    ([[0.6, 0.6, 0.8]], [[0, 1, 1]]),  # 1+1+1 = 3 > 2: take one from the first cell rounded up most
    ([[0.4, 0.4, 1.2]], [[0, 1, 1]]),  # 0+0+1 = 1 < 2: add one to the last cell rounded down most
    ([[0.3, 0.3, 0.3, 0.3, 0.3, 0.5]], [[0, 0, 0, 0, 1, 1]]),  # two short: the 0.5, then the last 0.3
    ([[1.0, 2.0], [3.4, 3.6]], [[1, 2], [3, 4]]),
])
def test_round_preserving_row_totals(rows, expected):
    out = round_preserving_row_totals(np.array(rows))
    assert out.tolist() == expected
    assert out.sum(axis=1).tolist() == np.round(np.array(rows).sum(axis=1)).astype(int).tolist()


def test_calibration_matches_class_counts():
    # given-row sums 3, 2, 2 for classes of 4, 4, 2 examples
    joint = np.array([[2, 1, 0], [0, 2, 0], [1, 0, 1]])
    cal = calibrate(joint, np.array([4, 4, 2]))
    # row 0: [2, 1, 0]·4/3 = [2.67, 1.33, 0] → [3, 1, 0]; row 1: [0, 4, 0]; row 2: [1, 0, 1]
    assert cal.tolist() == [[3, 1, 0], [0, 4, 0], [1, 0, 1]]
    assert cal.sum(axis=1).tolist() == [4, 4, 2]


def test_agrees_with_cleanlab_counting():
    count = pytest.importorskip("cleanlab.count", reason=NO_CLEANLAB)
    rng = np.random.default_rng(3)
    for _ in range(30):
        k = int(rng.integers(2, 15))
        n = int(rng.integers(3 * k, 800))
        y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        p = rng.dirichlet(np.full(k, rng.choice([0.2, 1.0])), n)
        p[np.arange(n), y] += rng.random(n)
        p /= p.sum(axis=1, keepdims=True)
        t = per_class_thresholds(y, p)
        assert np.array_equal(t, count.get_confident_thresholds(y, p))
        raw, idx = count.compute_confident_joint(y, p, calibrate=False, return_indices_of_off_diagonals=True)
        ours = confident_joint(y, p, t)
        assert np.array_equal(ours.joint, raw) and np.array_equal(ours.off_diagonal, idx)
        calibrated = calibrate(ours.joint, np.bincount(y, minlength=k))
        assert np.array_equal(calibrated, count.compute_confident_joint(y, p))
