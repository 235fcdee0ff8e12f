import numpy as np
import pytest

from curata.label import estimate_noise

NO_CLEANLAB = "cleanlab (a benchmark-only dependency) is not installed"

# 10 records, 3 classes; worked by hand in tests/label/test_prune.py (same data)
P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.05, 0.5, 0.45], [0.1, 0.9, 0.0],
              [0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1],
              [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8]])
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_hand_checked_estimate():
    est = estimate_noise(Y, P)
    # t = [1.95/4, 2.6/3, 2.6/3]; record 3 is confidently class 1; records 2, 6, 9 pass no threshold
    assert est.thresholds == pytest.approx([0.4875, 2.6 / 3, 2.6 / 3])
    assert est.confident_joint.tolist() == [[2, 1, 0], [0, 2, 0], [0, 0, 2]]
    # rows rescaled to the class counts 4, 3, 3: [2.67, 1.33, 0] → [3, 1, 0]
    assert est.calibrated.tolist() == [[3, 1, 0], [0, 3, 0], [0, 0, 3]]
    assert est.joint == pytest.approx(np.array([[3, 1, 0], [0, 3, 0], [0, 0, 3]]) / 10)
    # p(given=i | true=j): true class 1 holds 4 records (3 given 1, 1 given 0)
    assert est.noise_matrix == pytest.approx(np.array([[1, 0.25, 0], [0, 0.75, 0], [0, 0, 1]]))
    # p(true=j | given=i), indexed [j, i]: of the 4 given 0, one is truly 1
    assert est.inverse_noise_matrix == pytest.approx(np.array([[0.75, 0, 0], [0.25, 1, 0], [0, 0, 1]]))
    assert est.prior == pytest.approx([0.3, 0.4, 0.3])
    assert est.noise_rate == pytest.approx(0.1) and est.estimated_errors == 1
    summary = est.to_json()
    assert summary["estimated_errors"] == 1 and summary["calibrated_joint"][0] == [3, 1, 0]


def test_matrices_are_distributions():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(5), rng.integers(0, 5, 495)])
    p = rng.dirichlet(np.ones(5), 500)
    est = estimate_noise(y, p)
    assert est.joint.sum() == pytest.approx(1.0)
    assert est.calibrated.sum(axis=1).tolist() == np.bincount(y).tolist()
    assert est.noise_matrix.sum(axis=0) == pytest.approx(np.ones(5))
    assert est.inverse_noise_matrix.sum(axis=0) == pytest.approx(np.ones(5))
    assert est.prior.sum() == pytest.approx(1.0)


def test_agrees_with_cleanlab_latent_estimates():
    count = pytest.importorskip("cleanlab.count", reason=NO_CLEANLAB)
    rng = np.random.default_rng(7)
    for _ in range(20):
        k = int(rng.integers(2, 10))
        n = int(rng.integers(20 * k, 1000))
        y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        p = rng.dirichlet(np.full(k, 0.5), n)
        p[np.arange(n), y] += 2 * rng.random(n)
        p /= p.sum(axis=1, keepdims=True)
        est = estimate_noise(y, p)
        py, nm, inv, cj = count.estimate_py_and_noise_matrices_from_probabilities(
            y, p, converge_latent_estimates=False)
        assert np.array_equal(est.calibrated, cj)
        assert est.joint == pytest.approx(count.estimate_joint(y, p), abs=1e-12)
        # cleanlab clips off-diagonal noise rates at 0.9999 and the prior at 1e-6; neither binds here
        assert est.noise_matrix == pytest.approx(nm, abs=1e-9)
        assert est.inverse_noise_matrix == pytest.approx(inv, abs=1e-9)
        assert est.prior == pytest.approx(py, abs=1e-9)
        n_issues = count.num_label_issues(y, p, estimation_method="off_diagonal_calibrated")
        assert est.estimated_errors == n_issues
