import numpy as np
import pytest

from curata.cluster.kmeans import KMeansClusterer, auto_k
from curata.engine.context import RunContext


def blobs(seed=0, per=30, dim=12):
    rng = np.random.default_rng(seed)
    x = np.vstack([np.eye(dim)[j] + 0.05 * rng.normal(size=(per, dim)) for j in range(3)])
    return x, np.repeat(range(3), per)


def test_auto_k():
    assert auto_k(100) == 7 and auto_k(1_000_000) == 256 and auto_k(3) == 2 and auto_k(1) == 1
    assert auto_k(20_000) == 100


def test_recovers_blobs(make_pool, ctx):
    x, truth = blobs()
    out = KMeansClusterer(k=3).score(make_pool(embeddings=x), ctx)
    assert list(out.columns) == ["cluster", "cluster_dist"]
    assert out["cluster"].dtype == np.int64
    ids = [set(out["cluster"][truth == j]) for j in range(3)]
    assert all(len(s) == 1 for s in ids) and len(set.union(*ids)) == 3
    centroids = ctx.artifacts["cluster_centroids"]
    assert centroids.shape == (3, 12)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cn = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    expected = 1 - np.einsum("ij,ij->i", xn, cn[out["cluster"]])
    np.testing.assert_allclose(out["cluster_dist"], expected, atol=1e-5)
    assert out["cluster_dist"].between(0, 0.05).all()


def test_same_seed_same_assignment(make_pool):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 16))
    runs = [KMeansClusterer().score(make_pool(embeddings=x), RunContext(seed=s, progress=False))["cluster"]
            for s in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].nunique() == auto_k(600) == 17
    explicit = KMeansClusterer(seed=7).score(make_pool(embeddings=x), RunContext(seed=0, progress=False))
    np.testing.assert_array_equal(explicit["cluster"], runs[0])
    assert not np.array_equal(runs[0], runs[2])  # the seed matters on unstructured data


def test_k_never_exceeds_n(make_pool, ctx):
    out = KMeansClusterer(k=10).score(make_pool(embeddings=np.eye(4)), ctx)
    assert sorted(out["cluster"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(out["cluster_dist"], 0.0, atol=1e-6)
    one = KMeansClusterer().score(make_pool(embeddings=[[1.0, 1.0]]), ctx)
    assert one["cluster"].tolist() == [0]


def test_params_validated():
    with pytest.raises(Exception):
        KMeansClusterer(k="many")
    with pytest.raises(Exception):
        KMeansClusterer(k=0)
    with pytest.raises(Exception):
        KMeansClusterer(n_clusters=3)
