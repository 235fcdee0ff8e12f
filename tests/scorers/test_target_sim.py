import numpy as np
import pytest

from curata.scorers.target_sim import TargetSimilarityScorer

POOL = [[1, 0], [0, 1], [1, 1]]
TARGET = [[1, 0], [0.6, 0.8], [0, 1]]


@pytest.fixture
def target_ctx(make_pool, ctx):
    ctx.target = make_pool(embeddings=TARGET)
    return ctx


def test_top_k_mean(make_pool, target_ctx):
    out = TargetSimilarityScorer(k=2).score(make_pool(embeddings=POOL), target_ctx)
    assert list(out.columns) == ["target_sim_score"]
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(out["target_sim_score"], [(1 + 0.6) / 2, (1 + 0.8) / 2, (1.4 * r + r) / 2],
                               atol=1e-6)


def test_k_clipped_to_target_size(make_pool, target_ctx):
    out = TargetSimilarityScorer().score(make_pool(embeddings=POOL), target_ctx)  # k=5 > 3 targets
    np.testing.assert_allclose(out["target_sim_score"][:2], [1.6 / 3, 1.8 / 3], atol=1e-6)


def test_k1_is_max_and_ranks_on_target_first(make_pool, ctx):
    rng = np.random.default_rng(0)
    target = rng.normal(size=(20, 8))
    near = target[:5] + 0.05 * rng.normal(size=(5, 8))
    far = rng.normal(size=(5, 8))
    ctx.target = make_pool(embeddings=target)
    pool = make_pool(embeddings=np.vstack([near, far]))
    out = TargetSimilarityScorer(k=1).score(pool, ctx)["target_sim_score"]
    assert out[:5].min() > out[5:].max()
    tn = target / np.linalg.norm(target, axis=1, keepdims=True)
    xn = near / np.linalg.norm(near, axis=1, keepdims=True)
    np.testing.assert_allclose(out[:5], (xn @ tn.T).max(axis=1), atol=1e-6)
