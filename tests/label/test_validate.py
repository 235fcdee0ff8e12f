import numpy as np
import pytest

from curata.errors import CurataError
from curata.label import LabelInputError, check_inputs, find_label_issues
from curata.label.validate import check_settings

P = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
Y = np.array([0, 1, 0, 1])


def raises(match, labels=Y, probs=P, **kw):
    with pytest.raises(LabelInputError, match=match) as err:
        find_label_issues(labels, probs, **kw)
    return err.value


def test_valid_inputs_pass_through_as_int64_and_float64():
    y, p = check_inputs([0.0, 1.0, 0.0, 1.0], P.astype(np.float32))
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 0, 1]
    assert p.dtype == np.float64 and np.allclose(p, P)


def test_error_is_both_a_curata_error_and_a_value_error():
    err = raises("row 2 sums to 1.1", probs=P + np.array([[0, 0], [0, 0], [0.1, 0], [0, 0]]))
    assert isinstance(err, CurataError) and isinstance(err, ValueError)
    assert err.argument == "pred_probs"
    assert "divide each row by its sum" in str(err)


def test_row_sums_within_tolerance_are_accepted():
    nudged = P.copy()
    nudged[0, 0] += 5e-4
    assert find_label_issues(Y, nudged).shape == (4,)


def test_nan_and_infinity_name_the_row():
    bad = P.copy()
    bad[3, 1] = np.nan
    raises(r"row 3 holds NaN or infinity", probs=bad)
    bad[3, 1] = np.inf
    raises(r"row 3 holds NaN or infinity", probs=bad)


def test_negative_value_names_the_row():
    bad = np.array([[0.8, 0.2], [1.2, -0.2], [0.6, 0.4], [0.1, 0.9]])
    err = raises(r"row 1 holds a negative value \(-0.2\)", probs=bad)
    assert "not scores" in str(err)


@pytest.mark.parametrize("probs, match", [
    (np.array([0.5, 0.5, 0.5, 0.5]), r"expected an n×K array .* got shape \(4,\)"),
    (np.ones((4, 1)), "1 class column"),
    (np.array([["a", "b"]] * 4), "expected numbers"),
])
def test_wrong_probability_shapes_and_types(probs, match):
    raises(match, probs=probs)


def test_labels_shape_type_range_and_length():
    raises(r"1-D array .* shape \(2, 2\)", labels=np.array([[0, 1], [0, 1]]))
    raises(r"integer class indices, got dtype <U", labels=np.array(["a", "b", "a", "b"]))
    raises(r"integer class indices, got dtype float64", labels=np.array([0, 1, 0.5, 1]))
    err = raises(r"label 2 at row 1 is outside 0..1 \(1 such row", labels=np.array([0, 2, 0, 1]))
    assert err.argument == "labels"
    raises(r"label -1 at row 0", labels=np.array([-1, 1, 0, 1]))
    raises(r"3 labels but 4 rows", labels=np.array([0, 1, 0]))


def test_class_without_examples_is_named():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    raises(r"class\(es\) \[2\] have no examples \(of 3 probability columns\)", labels=[0, 1, 0], probs=probs)


def test_fewer_than_two_classes():
    raises("at least 2", labels=[0, 0], probs=np.ones((2, 1)))
    # two columns but one class in the labels: the empty class is named
    raises(r"class\(es\) \[1\] have no examples", labels=[0, 0], probs=np.array([[0.9, 0.1], [0.8, 0.2]]))


def test_settings():
    raises("unknown rule 'prune'", filter_by="prune")
    raises(r"1.5 is outside \[0, 1\]", frac_noise=1.5)
    raises("not a non-negative integer", min_examples_per_class=-1)
    raises("unknown ranking 'loss'", return_indices_ranked_by="loss")
    with pytest.raises(LabelInputError, match="frac_noise"):
        check_settings("both", float("nan"), 1)
