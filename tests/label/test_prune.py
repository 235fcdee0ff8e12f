"""Each pruning rule on one small, hand-worked dataset.

Classes 0..2; records 0-3 are labelled 0, 4-6 labelled 1, 7-9 labelled 2:

    rec  given  P̂                  note
    0    0      [.90 .05 .05]
    1    0      [.90 .05 .05]
    2    0      [.05 .50 .45]      lowest self-confidence of class 0, but passes no threshold
    3    0      [.10 .90 .00]      confidently class 1
    4-5  1      [.05 .90 .05]
    6    1      [.10 .80 .10]      passes no threshold (0.8 < t1)
    7-8  2      [.05 .05 .90]
    9    2      [.10 .10 .80]      passes no threshold

Thresholds t = [1.95/4, 2.6/3, 2.6/3] = [0.4875, 0.867, 0.867]. Confident joint C = [[2,1,0],[0,2,0],[0,0,2]];
calibrated to the class counts 4, 3, 3: [[3,1,0],[0,3,0],[0,0,3]]. Prune counts (frac 1, min 1) are the same.

- prune_by_noise_rate: cell (0, 1) = 1 → the class-0 record with the largest P̂[:,1] − P̂[:,0]:
  margins −.85, −.85, +.45, +.80 → record 3.
- prune_by_class: class 0 flags 4 − 3 = 1 record with the lowest P̂[:,0] (.90 .90 .05 .10) → record 2;
  classes 1 and 2 flag 3 − 3 = 0.
- both: {3} ∩ {2} = ∅.
- confident_learning: the off-diagonal of C holds record 3 only.
- predicted_neq_given: argmax ≠ given for records 2 (→1) and 3 (→1).
"""

import numpy as np
import pytest

from curata.label import ClassGroups, estimate_noise, prune_by_class, prune_by_noise_rate, prune_counts
from curata.label.prune import _smallest, confident_off_diagonal, drop_near_agreement, predicted_neq_given

NO_CLEANLAB = "cleanlab (a benchmark-only dependency) is not installed"

P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.05, 0.5, 0.45], [0.1, 0.9, 0.0],
              [0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1],
              [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8]])
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
G = ClassGroups.of(Y, 3)
CAL = estimate_noise(Y, P).calibrated


def flagged(mask):
    return np.flatnonzero(mask).tolist()


def test_prune_counts_default():
    assert CAL.tolist() == [[3, 1, 0], [0, 3, 0], [0, 0, 3]]
    assert prune_counts(CAL).tolist() == [[3, 1, 0], [0, 3, 0], [0, 0, 3]]


def test_prune_counts_frac_noise_truncates():
    # off-diagonal 1 × 0.5 = 0.5 → 0; its diagonal 3 + 0.5 = 3.5 → 3
    assert prune_counts(CAL, frac_noise=0.5).tolist() == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]
    # frac 0: the whole off-diagonal moves to the diagonal, 3 + 1 = 4 = the class count
    assert prune_counts(CAL, frac_noise=0.0).tolist() == [[4, 0, 0], [0, 3, 0], [0, 0, 3]]


def test_prune_counts_min_examples_raises_the_diagonal():
    # diagonal 3 → 4 in each class; class 0 takes the 1 from its single non-zero off-diagonal cell
    assert prune_counts(CAL, min_examples_per_class=4).tolist() == [[4, 0, 0], [0, 4, 0], [0, 0, 4]]
    big = np.array([[10, 6, 4], [0, 20, 0], [2, 0, 8]])
    # class 0: diagonal 10 → 14, the 4 taken as 2 from each of its two non-zero cells: [14, 4, 2]
    assert prune_counts(big, min_examples_per_class=14).tolist()[0] == [14, 4, 2]


def test_each_rule_on_the_hand_example():
    counts = prune_counts(CAL)
    pbnr = prune_by_noise_rate(P, G, counts)
    pbc = prune_by_class(P, G, counts)
    assert flagged(pbnr) == [3]
    assert flagged(pbc) == [2]
    assert flagged(pbnr & pbc) == []
    assert flagged(confident_off_diagonal(10, estimate_noise(Y, P).counts.off_diagonal)) == [3]
    assert flagged(predicted_neq_given(Y, P.argmax(axis=1))) == [2, 3]


def test_frac_noise_half_keeps_pbc_but_empties_pbnr():
    counts = prune_counts(CAL, frac_noise=0.5)
    assert flagged(prune_by_noise_rate(P, G, counts)) == []
    assert flagged(prune_by_class(P, G, counts)) == [2]  # 4 − 3 (3.5 truncated) = 1


def test_min_examples_per_class_protects_small_classes():
    # class 0 has 4 records: with min 4 nothing of it may go; with min 3 the default answer stands
    for rule, expected in ((prune_by_noise_rate, [3]), (prune_by_class, [2])):
        assert flagged(rule(P, G, prune_counts(CAL, 3), 3)) == expected
        assert flagged(rule(P, G, prune_counts(CAL, 4), 4)) == []
    # even when asked to flag, a class of 4 with min_examples_per_class=4 is left alone
    forced = np.array([[1, 3, 0], [0, 3, 0], [0, 0, 3]])
    assert flagged(prune_by_class(P, G, forced, 4)) == []
    # the 3 lowest P̂[:, 0] of class 0: .05, .10, then one of the tied .90s (rows 0 and 1), as argsort picks
    lowest = sorted(np.argsort(P[:4, 0])[:3].tolist())
    assert flagged(prune_by_class(P, G, forced, 1)) == lowest and {2, 3} <= set(lowest)


def test_pbnr_takes_the_largest_margins_per_cell():
    # dyadic values, so equal margins are exactly equal
    p = np.array([[0.5, 0.25, 0.25], [0.25, 0.625, 0.125], [0.25, 0.0, 0.75], [0.125, 0.25, 0.625],
                  [0.5, 0.375, 0.125], [0.125, 0.75, 0.125]])
    y = np.array([0, 0, 0, 0, 0, 1])
    counts = np.array([[1, 2, 1], [0, 1, 0], [0, 0, 1]])
    # toward class 1, take 2: margins −.25, .375, −.25, .125, −.125 → records 1 and 3
    # toward class 2, take 1: margins −.25, −.125, .5, .5, −.375 → records 2 and 3 tie; np.argsort decides
    tie_winner = int(np.argsort(-(p[:5, 2] - p[:5, 0]))[0])
    assert tie_winner in (2, 3)
    assert flagged(prune_by_noise_rate(p, ClassGroups.of(y, 3), counts)) == sorted({1, 3, tie_winner})
    only_toward_1 = np.array([[3, 2, 0], [0, 1, 0], [0, 0, 1]])
    assert flagged(prune_by_noise_rate(p, ClassGroups.of(y, 3), only_toward_1)) == [1, 3]


def test_smallest_breaks_ties_like_argsort():
    v = np.array([0.5, 0.1, 0.3, 0.1, 0.3, 0.9])
    assert sorted(_smallest(v, 2).tolist()) == [1, 3]  # unique cut: partition answer
    assert sorted(_smallest(v, 3).tolist()) == sorted(np.argsort(v)[:3].tolist())  # tie at the cut
    assert _smallest(v, 0).tolist() == [] and sorted(_smallest(v, 9).tolist()) == list(range(6))


def test_drop_near_agreement():
    p = np.array([[0.5, 0.5], [0.4999, 0.5001], [0.6, 0.4], [0.7, 0.3], [0.5000004, 0.4999996]])
    y = np.array([1, 0, 1, 0, 1])
    # row 0: .5 + 1e-6 > .5, the given label wins → unflagged; row 1: .4999 + 1e-6 < .5001 → stays;
    # row 2: .4 ≪ .6 → stays; row 3: the given label is the argmax → unflagged;
    # row 4: .4999996 + 1e-6 = .5000006 > .5000004 → unflagged
    assert flagged(drop_near_agreement(np.ones(5, dtype=bool), y, p)) == [1, 2]
    assert flagged(drop_near_agreement(np.array([False, False, True, False, False]), y, p)) == [2]


@pytest.mark.parametrize("frac", [1.0, 0.6, 0.25])
def test_rules_agree_with_cleanlab_on_the_hand_example(frac):
    filt = pytest.importorskip("cleanlab.filter", reason=NO_CLEANLAB)
    counts = prune_counts(CAL, frac_noise=frac)
    expected = {"prune_by_noise_rate": prune_by_noise_rate(P, G, counts),
                "prune_by_class": prune_by_class(P, G, counts)}
    for rule, mask in expected.items():
        theirs = filt.find_label_issues(Y, P, filter_by=rule, frac_noise=frac, n_jobs=1)
        assert flagged(mask) == flagged(theirs)
