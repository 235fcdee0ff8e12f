"""Budgets: fractions, record counts and token counts; anything else is a ConfigError naming the key."""

from __future__ import annotations

import pytest

from curata.engine.budget import Budget
from curata.errors import ConfigError


@pytest.mark.parametrize("spec, kind, value", [
    (0.1, "fraction", 0.1),
    ("0.25", "fraction", 0.25),
    ("10%", "fraction", 0.1),
    (" 12.5 % ", "fraction", 0.125),
    ("100%", "fraction", 1.0),
    (1.0, "fraction", 1.0),
    ("1.0", "fraction", 1.0),
    (500, "records", 500),
    ("500", "records", 500),
    (1, "records", 1),
    ("1", "records", 1),
    (3.0, "records", 3),
    ("1e3", "records", 1000),
    ("20k tokens", "tokens", 20_000),
    ("20000tok", "tokens", 20_000),
    ("20000 t", "tokens", 20_000),
    ("1.5M tokens", "tokens", 1_500_000),
    ("20,000 tokens", "tokens", 20_000),
    ("20_000 tokens", "tokens", 20_000),
    ("20K Tokens", "tokens", 20_000),
])
def test_parse(spec, kind, value):
    b = Budget.parse(spec)
    assert (b.kind, b.value) == (kind, pytest.approx(value))


@pytest.mark.parametrize("spec, problem", [
    ("abc", "cannot read 'abc' as a budget"),
    ("", "cannot read '' as a budget"),
    ("%", "cannot read '%' as a budget"),
    ("20k", "cannot read '20k' as a budget"),
    ("ten percent", "cannot read 'ten percent' as a budget"),
    ("1.2.3 tokens", "cannot read '1.2.3 tokens' as a budget"),
    (None, "None is not a budget"),
    (True, "True is not a budget"),
    ("inf", "budget must be a finite number, got inf"),
    (float("nan"), "budget must be a finite number, got nan"),
    (2.5, "a budget above 1 is a record count and must be whole, got 2.5"),
    ("2.5", "a budget above 1 is a record count and must be whole, got 2.5"),
    ("150%", "a fraction budget must be at most 1 (100%), got 1.5"),
    ("0.5 tokens", "a token budget must be at least 1 token, got 0.5"),
])
def test_invalid_budgets(spec, problem):
    with pytest.raises(ConfigError) as exc:
        Budget.parse(spec, key="select.budget")
    assert exc.value.key == "select.budget"
    assert exc.value.problem == problem
    assert str(exc.value).startswith(f"config `select.budget`: {problem}")


@pytest.mark.parametrize("spec", [0, "0", 0.0, "0.0", "0%", "0 tokens", -5, "-5", -0.1, "-10%", -3.0])
def test_zero_and_negative_budgets(spec):
    with pytest.raises(ConfigError) as exc:
        Budget.parse(spec)
    assert exc.value.problem.startswith("budget must be positive, got ")
    assert exc.value.key == "budget"


def test_max_records():
    assert Budget.parse(0.1).max_records(600) == 60
    assert Budget.parse("25%").max_records(8) == 2
    assert Budget.parse(1.0).max_records(37) == 37
    assert Budget.parse(0.001).max_records(10) == 1  # a fraction never rounds down to nothing
    assert Budget.parse(50).max_records(600) == 50
    assert Budget.parse(600).max_records(600) == 600
    assert Budget.parse("20k tokens").max_records(600) is None


def test_record_budget_larger_than_the_pool():
    with pytest.raises(ConfigError) as exc:
        Budget.parse(700).max_records(600, key="select.budget")
    msg = str(exc.value)
    assert msg.startswith("config `select.budget`: budget of 700 records is larger than the pool "
                          "(600 usable records)")
    assert "use at most 600" in msg


def test_str_and_equality():
    assert str(Budget.parse("10%")) == "0.1 of the pool"
    assert str(Budget.parse(500)) == "500 records"
    assert str(Budget.parse("20k tokens")) == "20000 tokens"
    assert Budget.parse("10%") == Budget.parse(0.1) == Budget("fraction", 0.1)
    with pytest.raises(AttributeError):
        Budget.parse(5).value = 6
