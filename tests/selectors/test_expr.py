import numpy as np
import pandas as pd
import pytest

from curata.errors import ConfigError
from curata.selectors.expr import Expression, parse_terms, zscore


def test_parse_string_with_negation_and_default_weight():
    assert parse_terms("target_sim:1, proxy_prob:0.5, -length:0.2") == [
        ("target_sim", 1.0), ("proxy_prob", 0.5), ("length", -0.2)]
    assert parse_terms("mtld") == [("mtld", 1.0)]
    assert parse_terms("-length") == [("length", -1.0)]
    assert parse_terms(" a : 2e-1 ,") == [("a", 0.2)]


def test_parse_dict_keeps_signs():
    assert parse_terms({"target_sim_score": 1.0, "length_score": -0.2}) == [
        ("target_sim_score", 1.0), ("length_score", -0.2)]
    assert parse_terms({"-length": 0.5}) == [("length", -0.5)]


@pytest.mark.parametrize("bad", ["", "a b", "a:x", "a:1:2", "1abc"])
def test_bad_syntax_is_a_config_error_naming_the_key(bad):
    with pytest.raises(ConfigError) as e:
        Expression.parse(bad, "select.selector.by")
    assert e.value.key == "select.selector.by"


def test_zscore_over_candidates_only_with_nan_and_constant_columns():
    df = pd.DataFrame({"a_score": [0.0, 10.0, 20.0, 1000.0], "b_score": [3.0, 3.0, 3.0, 9.0],
                       "c_score": [1.0, np.nan, 3.0, 0.0]})
    rows = np.array([0, 1, 2])
    za = Expression.parse("a").evaluate(df, rows)
    np.testing.assert_allclose(za, [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(Expression.parse("b").evaluate(df, rows), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(Expression.parse("c").evaluate(df, rows), [-1.0, 0.0, 1.0])
    combined = Expression.parse("a:2, -c:0.5, b:7").evaluate(df, rows)
    np.testing.assert_allclose(combined, 2 * za - 0.5 * np.array([-1.0, 0.0, 1.0]))
    assert np.all(zscore(np.array([np.nan, np.nan])) == 0)


def test_suffix_optional_and_description():
    df = pd.DataFrame({"target_sim_score": [1.0, 2.0], "proxy_prob_score": [0.1, 0.2],
                       "length_score": [3, 4], "cluster_dist": [0.5, 0.1]})
    e = Expression.parse("target_sim:1, proxy_prob_score:0.5, -length:0.2, cluster_dist:3")
    assert e.columns(df) == ["target_sim_score", "proxy_prob_score", "length_score", "cluster_dist"]
    assert e.describe(df) == "1·z(target_sim) + 0.5·z(proxy_prob) − 0.2·z(length) + 3·z(cluster_dist)"
    assert Expression.parse({"length_score": -1}).describe(df) == "−1·z(length)"


def test_missing_column_names_the_key_and_the_scorer(pool):
    with pytest.raises(ConfigError) as e:
        Expression.parse("nn_sim:1", "select.selector.by").evaluate(pool.df, np.arange(5))
    assert e.value.key == "select.selector.by"
    assert "nn_sim_score" in str(e.value) and "`nn_sim` scorer" in str(e.value)
    with pytest.raises(ConfigError, match="`proxy` scorer"):
        Expression.parse("proxy_margin").evaluate(pool.df, np.arange(5))


def test_non_numeric_column_is_rejected(pool):
    with pytest.raises(ConfigError, match="not numeric"):
        Expression.parse("text").evaluate(pool.df, np.arange(5))
