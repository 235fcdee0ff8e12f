import numpy as np
import pytest

from curata.embed.base import Embedder, normalise
from curata.engine import registry
from curata.engine.pipeline import Pipeline
from curata.engine.select import Select
from curata.errors import ConfigError
from curata.scorers.knn_shapley import KnnShapleyScorer
from curata.selectors.random import RandomSelector
from curata.value.knn_shapley import knn_shapley, knn_utility


def blobs(rng, n_per=20, flip=(0,)):
    """Two tight clusters on orthogonal axes; records in ``flip`` carry the other cluster's label."""
    a = np.array([1.0, 0, 0, 0]) + 0.1 * rng.normal(size=(n_per, 4))
    b = np.array([0, 1.0, 0, 0]) + 0.1 * rng.normal(size=(n_per, 4))
    labels = ["A"] * n_per + ["B"] * n_per
    for i in flip:
        labels[i] = "B" if labels[i] == "A" else "A"
    return np.vstack([a, b]), labels


def test_registered():
    assert registry.get("scorer", "knn_shapley") is KnnShapleyScorer


def test_target_values_by_hand(make_pool, ctx):
    # target point labelled A; pool nearest-first: A, B, A; K = 1 → 5/6, −1/6, 1/3 (see tests/value)
    pool = make_pool(embeddings=[[1, 0], [0.8, 0.6], [0.6, 0.8]], labels=["A", "B", "A"])
    ctx.target = make_pool(embeddings=[[1, 0.0]], labels=["A"])
    out = KnnShapleyScorer(k=1).score(pool, ctx)
    assert list(out.columns) == ["knn_shapley_score"]
    np.testing.assert_allclose(out["knn_shapley_score"], [5 / 6, -1 / 6, 1 / 3], atol=1e-9)
    assert "against 1 target records" in ctx.notes[-1]
    assert ctx.artifacts["knn_shapley_summary"]["mode"] == "target"


def test_auto_uses_a_labelled_target_and_values_sum_to_its_accuracy(make_pool, ctx):
    rng = np.random.default_rng(0)
    emb, labels = blobs(rng)
    temb, tlabels = blobs(rng, n_per=10, flip=())
    pool, ctx.target = make_pool(embeddings=emb, labels=labels), make_pool(embeddings=temb, labels=tlabels)
    vals = KnnShapleyScorer(k=5).score(pool, ctx)["knn_shapley_score"].to_numpy()
    y, ty = pool.label_indices(), ctx.target.label_indices(pool.label_names)
    exact = knn_shapley(pool.embeddings, y, ctx.target.embeddings, ty, k=5)
    np.testing.assert_allclose(vals, exact, atol=1e-12)
    assert vals.sum() == pytest.approx(knn_utility(pool.embeddings, y, ctx.target.embeddings, ty, k=5))
    assert vals[0] < 0 and np.argmin(vals) == 0


def test_crossfit_ranks_the_flipped_records_lowest(make_pool, ctx):
    rng = np.random.default_rng(1)
    emb, labels = blobs(rng, n_per=30, flip=(0, 7, 35))
    pool = make_pool(embeddings=emb, labels=labels)
    out = KnnShapleyScorer(k=5, folds=3).score(pool, ctx)["knn_shapley_score"]
    assert set(np.argsort(out.to_numpy())[:3]) == {0, 7, 35}
    assert (out.drop([0, 7, 35]) > 0).all()
    assert "cross-fitted over 3 folds" in ctx.notes[-1] and "of 60 labelled records" in ctx.notes[-1]
    again = KnnShapleyScorer(k=5, folds=3).score(pool, ctx)["knn_shapley_score"]
    np.testing.assert_array_equal(out, again)


def test_a_record_never_validates_itself(make_pool, ctx):
    # two records, two labels, far apart. Valued against the pool itself each would be its own nearest
    # neighbour and earn 1/2 (one of two validation points); cross-fitted, each only sees the other: 0
    pool = make_pool(embeddings=[[1, 0], [0, 1]], labels=["A", "B"])
    y = pool.label_indices()
    np.testing.assert_allclose(knn_shapley(pool.embeddings, y, pool.embeddings, y, k=1), [0.5, 0.5])
    out = KnnShapleyScorer(k=1).score(pool, ctx)["knn_shapley_score"]
    np.testing.assert_array_equal(out, [0.0, 0.0])
    assert "cross-fitted over 2 folds" in ctx.notes[-1]


def test_auto_falls_back_to_crossfit_when_the_target_is_unlabelled(make_pool, ctx):
    rng = np.random.default_rng(2)
    emb, labels = blobs(rng)
    ctx.target = make_pool(embeddings=emb[:5])
    KnnShapleyScorer().score(make_pool(embeddings=emb, labels=labels), ctx)
    assert "cross-fitted" in ctx.notes[-1] and "the target set has no labels" in ctx.notes[-1]
    with pytest.raises(ConfigError, match="validation"):
        KnnShapleyScorer(validation="target").score(make_pool(embeddings=emb, labels=labels), ctx)
    ctx.target = make_pool(embeddings=emb[:2], labels=["A", "Z"])
    with pytest.raises(ConfigError, match="not in the pool's labels: Z"):
        KnnShapleyScorer(validation="target").score(make_pool(embeddings=emb, labels=labels), ctx)


def test_unlabelled_records_get_nan_and_do_not_count(make_pool, ctx):
    rng = np.random.default_rng(3)
    emb, labels = blobs(rng, n_per=8)
    ctx.target = make_pool(embeddings=emb[[1, 2, 9, 10]], labels=[labels[i] for i in (1, 2, 9, 10)])
    partial = list(labels)
    partial[3] = None
    out = KnnShapleyScorer(k=3).score(make_pool(embeddings=emb, labels=partial), ctx)["knn_shapley_score"]
    keep = [i for i in range(16) if i != 3]
    ref = KnnShapleyScorer(k=3).score(make_pool(embeddings=emb[keep], labels=[labels[i] for i in keep]), ctx)
    assert np.isnan(out[3])
    np.testing.assert_allclose(out[keep], ref["knn_shapley_score"], atol=1e-12)


def test_validation_sample_is_capped_and_seeded(make_pool, ctx):
    rng = np.random.default_rng(4)
    emb, labels = blobs(rng)
    temb, tlabels = blobs(rng, n_per=25, flip=(3, 30))
    pool, ctx.target = make_pool(embeddings=emb, labels=labels), make_pool(embeddings=temb, labels=tlabels)
    a = KnnShapleyScorer(max_validation=10, seed=1).score(pool, ctx)["knn_shapley_score"]
    assert ctx.artifacts["knn_shapley_summary"]["validation_points"] == 10
    b = KnnShapleyScorer(max_validation=10, seed=1).score(pool, ctx)["knn_shapley_score"]
    c = KnnShapleyScorer(max_validation=10, seed=2).score(pool, ctx)["knn_shapley_score"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


class TwoTopicEmbedder(Embedder):
    """Texts about cats point one way, texts about cars the other; no model to load."""

    name = "two_topics"

    def encode(self, texts):
        out = np.array([[1.0, 0.01 * i] if "cat" in t else [0.01 * i, 1.0] for i, t in enumerate(texts)])
        return normalise(out)


def test_runs_in_a_pipeline_against_the_target(tmp_path):
    records = [{"text": f"cat story {i}", "label": "pet"} for i in range(8)]
    records += [{"text": f"car story {i}", "label": "vehicle"} for i in range(8)]
    records[0]["label"] = "vehicle"
    target = [{"text": "cat tale", "label": "pet"}, {"text": "car tale", "label": "vehicle"}]
    pipe = Pipeline([TwoTopicEmbedder(), KnnShapleyScorer(k=3), Select(RandomSelector(), budget=5)],
                    run_dir=tmp_path / "run", progress=False, target=target)
    res = pipe.run(records)
    scores = res.pool.df["knn_shapley_score"].to_numpy()
    assert np.argmin(scores) == 0 and scores[0] < 0
    assert any("knn_shapley: K=3, against 2 target records" in n for n in res.notes)
