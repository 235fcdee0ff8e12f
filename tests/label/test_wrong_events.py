import numpy as np
import pytest

from curata.label.wrong_events import BetaMixture, base_epoch, prediction_changes


def test_bmm_recovers_two_well_separated_components():
    rng = np.random.default_rng(0)
    clean, noisy = rng.beta(2, 12, 2800), rng.beta(12, 2, 1200)
    x = np.concatenate([clean, noisy, [0.0, 1.0]])  # the end points make min–max normalisation the identity
    bmm = BetaMixture().fit(x, 20)
    np.testing.assert_allclose(bmm.alphas, [2, 12], rtol=0.1)
    np.testing.assert_allclose(bmm.betas, [12, 2], rtol=0.1)
    np.testing.assert_allclose(bmm.weights, [0.7, 0.3], atol=0.02)
    assert bmm.iterations == 20
    post = bmm.predict(x[:-2])
    truth_noisy = np.r_[np.zeros(2800, bool), np.ones(1200, bool)]
    assert ((post.p_clean < 0.5) == truth_noisy).mean() > 0.99
    np.testing.assert_allclose(post.p_clean + post.p_noisy, 1.0)


def test_bmm_is_scale_free_in_the_counts():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.beta(2, 12, 500), rng.beta(12, 2, 200), [0.0, 1.0]])
    a, b = BetaMixture().fit(x, 20), BetaMixture().fit(3 + 40 * x, 20)
    np.testing.assert_allclose(a.alphas, b.alphas, rtol=1e-6)
    np.testing.assert_allclose(a.predict(x).p_clean, b.predict(3 + 40 * x).p_clean, atol=1e-9)


def test_initial_posterior_and_cdfs_by_hand():
    # range 0..4, so a count of 1 normalises to x = 0.25; initial Beta(1, 2) and Beta(2, 1), weights 1/2:
    # pdf 2(1-x) = 1.5 and 2x = 0.5 -> p_clean = 0.75; F1 = 1-(1-x)^2 = 0.4375, F2 = x^2 = 0.0625
    bmm = BetaMixture().fit([0, 4], iterations=0)
    post = bmm.predict([1])
    assert post.p_clean[0] == pytest.approx(0.75)
    assert post.p_noisy[0] == pytest.approx(0.25)
    assert post.cdf_clean[0] == pytest.approx(0.4375)
    assert post.cdf_noisy[0] == pytest.approx(0.0625)


def test_normalisation_is_epsilon_clipped_and_uses_the_fitted_range():
    bmm = BetaMixture(eps=1e-4).fit([2, 6], iterations=0)
    np.testing.assert_allclose(bmm.normalise([2, 4, 6, 10, -1]), [1e-4, 0.5, 1 - 1e-4, 1 - 1e-4, 1e-4])


def test_m_step_clamps_only_beta_clean_and_alpha_noisy():
    # x in {0.1, 0.9}, equal weights: mean 0.5, variance 0.16 -> alpha = beta = 0.5 (0.25/0.16 - 1) = 0.28125
    bmm = BetaMixture()
    x = np.array([0.1, 0.9])
    bmm._m_step(x, np.full((2, 2), 0.5))
    np.testing.assert_allclose(bmm.alphas, [0.28125, 1.1])
    np.testing.assert_allclose(bmm.betas, [1.1, 0.28125])
    # x in {0.25, 0.75}: variance 0.0625 -> alpha = beta = 1.5, above the 1.02 trigger: no clamp
    bmm._m_step(np.array([0.25, 0.75]), np.full((2, 2), 0.5))
    np.testing.assert_allclose(bmm.alphas, [1.5, 1.5])
    np.testing.assert_allclose(bmm.betas, [1.5, 1.5])
    # just below the trigger: mean 0.5 and alpha = 1.01 needs variance 0.25 / 3.02
    d = np.sqrt(0.25 / 3.02)
    bmm._m_step(np.array([0.5 - d, 0.5 + d]), np.full((2, 2), 0.5))
    np.testing.assert_allclose(bmm.alphas, [1.01, 1.1])
    np.testing.assert_allclose(bmm.betas, [1.1, 1.01])


def test_clamps_hold_after_a_full_fit():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(0, 1, 300), [0.0, 1.0]])  # no structure: MoM gives about Beta(1, 1)
    bmm = BetaMixture().fit(x, 20)
    assert bmm.betas[0] >= 1.02 and bmm.alphas[1] >= 1.02


def test_constant_counts_leave_the_mixture_at_its_initialisation():
    bmm = BetaMixture().fit(np.zeros(5), 20)
    np.testing.assert_array_equal(bmm.alphas, [1, 2])
    np.testing.assert_array_equal(bmm.betas, [2, 1])
    assert (bmm.predict(np.zeros(5)).p_clean > 0.999).all()


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [[1, 2]]])
def test_bad_counts_are_rejected(bad):
    with pytest.raises(ValueError, match="wrong-event counts"):
        BetaMixture().fit(np.asarray(bad, dtype=float))


def test_predict_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="before fit"):
        BetaMixture().predict([1])


@pytest.mark.parametrize("changes, epoch", [
    ([], 0),                     # one epoch: nothing to compare
    ([7], 1),                    # two epochs: keep the last
    ([100, 50, 20], 3),          # never stops decreasing: the last of four epochs
    ([100, 50, 20, 25, 10], 3),  # 20 (epoch 2 -> 3) is followed by 25: keep epoch 3
    ([10, 10, 3], 1),            # a tie counts as no longer decreasing
    ([3, 5, 1, 0], 1),
    ([9, 4, 4, 1], 2),
])
def test_base_epoch_is_the_first_minimum_of_the_change_counts(changes, epoch):
    assert base_epoch(changes) == epoch


def test_prediction_changes_ignore_records_not_seen():
    last = np.array([0, 1, 1, -1, 2])
    current = np.array([0, 0, 1, 1, -1])
    assert prediction_changes(last, current) == 1
