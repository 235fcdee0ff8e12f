import numpy as np
import pytest

from curata.errors import ConfigError
from curata.io.fields import pool_from_records
from curata.train.base import Trainer
from curata.train.logreg import LogRegTrainer
from curata.train.metrics import classification_metrics


def blobs(labels: list[str], per_class: int, seed: int, dim: int = 8, spread: float = 0.3):
    """A pool whose features are tight Gaussian blobs around one far-apart centre per label."""
    rng = np.random.default_rng(seed)
    centres = 5.0 * np.eye(dim)[: len(labels)]
    recs, feats = [], []
    for k, lab in enumerate(labels):
        for i in range(per_class):
            recs.append({"text": f"record {lab} {seed} {i}", "label": lab})
            feats.append(centres[k] + spread * rng.standard_normal(dim))
    pool = pool_from_records(recs)
    pool.features = np.asarray(feats, dtype=np.float32)
    return pool


def test_default_c_is_the_tuned_value():
    assert LogRegTrainer().params.C == 3.0
    with pytest.raises(ConfigError):
        LogRegTrainer(c=1.0)


@pytest.mark.parametrize("standardise", [False, True])
def test_separable_blobs_are_learnt_perfectly(standardise):
    train, test = blobs(["a", "b", "c"], 20, seed=0), blobs(["a", "b", "c"], 10, seed=1)
    model = LogRegTrainer(standardise=standardise).fit(train, seed=0)
    proba = model.predict_proba(test)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert classification_metrics(test.df["label"], proba, train.label_names, "text")["accuracy"] == 1.0
    assert model.predict(test) == test.df["label"].tolist()


def test_columns_follow_the_pools_label_order():
    train = blobs(["10", "2"], 15, seed=0)
    assert train.label_names == ["2", "10"]  # natural order, not the order of first appearance
    proba = LogRegTrainer().fit(train, seed=0).predict_proba(train)
    is_ten = (train.df["label"] == "10").to_numpy()
    assert (proba[is_ten, 1] > 0.5).all() and (proba[~is_ten, 0] > 0.5).all()


def test_class_missing_from_training_gets_a_zero_column():
    full = blobs(["a", "b", "c"], 10, seed=0)
    subset = full.take((full.df["label"] != "b").to_numpy())
    assert subset.label_names == ["a", "b", "c"]
    proba = LogRegTrainer().fit(subset, seed=0).predict_proba(full)
    assert proba.shape == (30, 3)
    assert (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    is_c = (full.df["label"] == "c").to_numpy()
    assert (proba[is_c].argmax(1) == 2).all()


def test_one_class_training_set_predicts_that_class():
    full = blobs(["a", "b"], 5, seed=0)
    only_b = full.take((full.df["label"] == "b").to_numpy())
    model = LogRegTrainer().fit(only_b, seed=0)
    np.testing.assert_array_equal(model.predict_proba(full), np.tile([0.0, 1.0], (10, 1)))
    assert model.predict(full) == ["b"] * 10


def test_unlabelled_rows_are_left_out_of_training():
    train = blobs(["a", "b"], 10, seed=0)
    train.features[:3] = -100.0  # outliers that would drag the boundary if they were used
    train.df.loc[:2, "label"] = None
    model = LogRegTrainer().fit(train, seed=0)
    assert model.n_train_ == 17
    test = blobs(["a", "b"], 10, seed=1)
    assert classification_metrics(test.df["label"], model.predict_proba(test), ["a", "b"], "text")["accuracy"] == 1.0


def test_same_pool_gives_identical_probabilities_whatever_the_seed():
    train, test = blobs(["a", "b", "c"], 20, seed=0, spread=3.0), blobs(["a", "b", "c"], 10, seed=1, spread=3.0)
    p1 = LogRegTrainer(class_weight="balanced").fit(train, seed=7).predict_proba(test)
    p2 = LogRegTrainer(class_weight="balanced").fit(train, seed=7).predict_proba(test)
    p3 = LogRegTrainer(class_weight="balanced").fit(train, seed=8).predict_proba(test)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(p1, p3)
    assert LogRegTrainer.deterministic and not Trainer.deterministic
    assert 0.05 < p1.max(axis=1).min() < 0.99  # overlapping blobs: probabilities are not all saturated


def test_pool_without_features_or_labels_is_an_error():
    train = blobs(["a", "b"], 5, seed=0)
    train.features = None
    with pytest.raises(ConfigError, match="features"):
        LogRegTrainer().fit(train, seed=0)
    unlabelled = pool_from_records([{"text": "x"}, {"text": "y"}])
    unlabelled.features = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match="no labels"):
        LogRegTrainer().fit(unlabelled, seed=0)


def test_predict_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="before fit"):
        LogRegTrainer().predict_proba(blobs(["a", "b"], 2, seed=0))
