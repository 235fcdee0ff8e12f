import numpy as np
import pytest

from curata.train.metrics import classification_metrics


def one_hot(pred, n):
    p = np.zeros((len(pred), n))
    p[np.arange(len(pred)), pred] = 1.0
    return p


def test_three_class_hand_computed():
    names = ["a", "b", "c"]
    y = ["a", "a", "b", "b", "c", "c"]
    proba = one_hot([0, 1, 1, 1, 0, 2], 3)
    m = classification_metrics(y, proba, names, "text")
    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: tp 1, 2 true, 2 predicted -> 0.5; b: tp 2, 2 true, 3 predicted -> 0.8; c: tp 1, 2 true, 1 predicted -> 2/3
    assert m["per_class_f1"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 2 / 3})
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["f1"] == m["macro_f1"] and m["primary"] == "macro_f1"
    assert m["n"] == 6


def test_matches_sklearn_on_soft_probabilities():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    y = rng.integers(0, 4, size=200)
    m = classification_metrics(y, proba, ["w", "x", "y", "z"], "text")
    assert m["accuracy"] == pytest.approx(accuracy_score(y, proba.argmax(1)))
    assert m["macro_f1"] == pytest.approx(f1_score(y, proba.argmax(1), average="macro"))


def test_pair_primary_is_f1_of_match_class():
    y = ["1", "1", "1", "0", "0", "0", "0"]
    proba = one_hot([1, 1, 0, 1, 0, 0, 0], 2)
    m = classification_metrics(y, proba, ["0", "1"], "pair")
    # class 1: tp 2, 3 true, 3 predicted -> 2/3; class 0: tp 3, 4 true, 4 predicted -> 3/4
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["primary"] == "positive_f1" and m["positive_label"] == "1"
    assert m["macro_f1"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert classification_metrics(y, proba, ["0", "1"], "pair", positive_label="0")["f1"] == pytest.approx(3 / 4)


def test_pair_with_positive_label_missing_from_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="positive label"):
        classification_metrics(["no", "yes"], one_hot([0, 1], 2), ["no", "yes"], "pair")


def test_label_absent_from_truth_and_predictions_is_left_out_of_macro_f1():
    names = ["a", "b", "c"]
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])  # a model that never saw class c
    m = classification_metrics(["a", "b", "b"], proba, names, "text")
    # a: tp 1, 1 true, 2 predicted -> 2/3; b: tp 1, 2 true, 1 predicted -> 2/3; c occurs nowhere
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["per_class_f1"]["c"] == 0.0


def test_missing_class_that_occurs_in_truth_counts_as_zero():
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    m = classification_metrics(["a", "b", "c"], proba, ["a", "b", "c"], "text")
    assert m["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_integer_truth_equals_named_truth():
    proba = one_hot([0, 1, 1, 2], 3)
    by_name = classification_metrics(["a", "b", "c", "c"], proba, ["a", "b", "c"], "text")
    by_index = classification_metrics(np.array([0, 1, 2, 2]), proba, ["a", "b", "c"], "text")
    assert by_name == by_index


@pytest.mark.parametrize("y, proba, match", [
    (["a", "zzz"], one_hot([0, 1], 2), "outside the vocabulary"),
    (np.array([0, -1]), one_hot([0, 1], 2), "outside the vocabulary"),
    (["a", "b"], one_hot([0, 1], 3), "shape"),
    (["a", "b", "a"], one_hot([0, 1], 2), "3 true labels"),
])
def test_bad_inputs_are_errors(y, proba, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, proba, ["a", "b"], "text")
