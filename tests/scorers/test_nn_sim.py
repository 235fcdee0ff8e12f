import numpy as np

from curata.scorers._knn import self_knn
from curata.scorers.nn_sim import NearestNeighbourScorer

VECS = [[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]
C01 = 0.9 / np.sqrt(0.82)  # cos(r0, r1)
C12 = 0.1 / np.sqrt(0.82)  # cos(r1, r2)


def test_known_neighbours(make_pool, ctx):
    pool = make_pool(embeddings=VECS)
    out = NearestNeighbourScorer(k=2).score(pool, ctx)
    assert list(out.columns) == ["nn_sim_score", "nn_id", "knn_dist_score"]
    assert out["nn_id"].tolist() == ["r1", "r0", "r1", "r4", "r3"]
    np.testing.assert_allclose(out["nn_sim_score"], [C01, C01, C12, 1.0, 1.0], atol=1e-6)
    # 2nd neighbour: r0 -> r2..r4 at 0; r1 -> r2 at C12; r2 -> 0; r3 -> 0 after its twin; r4 likewise
    np.testing.assert_allclose(out["knn_dist_score"], [1.0, 1 - C12, 1.0, 1.0, 1.0], atol=1e-6)


def test_k_larger_than_pool_uses_farthest(make_pool, ctx):
    out = NearestNeighbourScorer().score(make_pool(embeddings=VECS), ctx)  # k=6 > 4 others
    np.testing.assert_allclose(out["knn_dist_score"], [1.0] * 5, atol=1e-6)
    quarter = make_pool(embeddings=[[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]])
    out = NearestNeighbourScorer(k=4).score(quarter, ctx)
    np.testing.assert_allclose(out["knn_dist_score"], [1.0, 1 - 0.6, 1 - 0.6, 1.0], atol=1e-6)


def test_single_record(make_pool, ctx):
    out = NearestNeighbourScorer().score(make_pool(embeddings=[[1.0, 2.0]]), ctx)
    assert out["nn_sim_score"].tolist() == [0.0]
    assert out["nn_id"].tolist() == [None]
    assert out["knn_dist_score"].tolist() == [1.0]


def test_many_exact_duplicates_never_self(make_pool, ctx):
    pool = make_pool(embeddings=[[0.3, 0.7, 0.1]] * 12 + [[1, 0, 0]])
    out = NearestNeighbourScorer(k=3).score(pool, ctx)
    assert all(a != b for a, b in zip(out["nn_id"], pool.ids))
    np.testing.assert_allclose(out["nn_sim_score"][:12], 1.0, atol=1e-6)
    assert out["nn_id"][:12].isin([f"r{i}" for i in range(12)]).all()


def test_ivf_path_matches_exact(make_pool, ctx):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    x[200:210] = x[0]
    exact = NearestNeighbourScorer(k=4).score(make_pool(embeddings=x), ctx)
    ivf = NearestNeighbourScorer(k=4, exact_max=100, nprobe=1000).score(make_pool(embeddings=x), ctx)
    np.testing.assert_allclose(ivf["nn_sim_score"], exact["nn_sim_score"], atol=1e-5)
    np.testing.assert_allclose(ivf["knn_dist_score"], exact["knn_dist_score"], atol=1e-5)
    # brute force on the unique rows
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn @ xn.T
    np.fill_diagonal(s, -np.inf)
    np.testing.assert_allclose(exact["nn_sim_score"], s.max(axis=1), atol=1e-5)
    pos = exact["nn_id"].str[1:].astype(int).to_numpy()
    np.testing.assert_allclose(s[np.arange(400), pos], s.max(axis=1), atol=1e-5)
    assert (ivf["nn_id"][1:200] == exact["nn_id"][1:200]).sum() >= 190  # ties only among r0's copies


def test_self_knn_shapes():
    sims, idx = self_knn(np.eye(3, dtype=np.float32), k=5)
    assert sims.shape == idx.shape == (3, 2)
    assert not (idx == np.arange(3)[:, None]).any()
    sims, idx = self_knn(np.eye(3, dtype=np.float32)[:1], k=5)
    assert sims.shape == (1, 0)


def test_shared_knn_searches_once_and_matches_a_fresh_search(monkeypatch):
    """nn_sim, near_dup and knn_agreement share one neighbour search per run; slices equal fresh searches."""
    import numpy as np

    from curata.engine.context import RunContext
    from curata.scorers import _knn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    calls = []
    real = _knn.self_knn
    monkeypatch.setattr(_knn, "self_knn", lambda *a, **k: calls.append(k) or real(*a, **k))
    ctx = RunContext(seed=0, progress=False)
    for k in (6, 20, 10):
        sims, idx = _knn.shared_self_knn(ctx, x, k)
        fs, fi = real(x, k)
        assert np.array_equal(idx, fi) and np.allclose(sims, fs)
    assert len(calls) == 1
