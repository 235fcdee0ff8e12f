"""BlendSearch over the subset size with a cheap synthetic objective: finds the minimum, logs every trial."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curata.errors import ConfigError
from curata.value.instructmining_search import log_grid, search_subset_size, topk_objective


def valley(best: int = 300):
    """Loss with a single minimum at ``best`` on a log scale; remembers the sizes it was asked for."""
    calls: list[int] = []

    def objective(k: int) -> dict:
        calls.append(k)
        return {"loss": 1.0 + (math.log(k) - math.log(best)) ** 2}
    return objective, calls


def test_search_finds_the_minimum_region_and_logs_every_trial(tmp_path):
    objective, calls = valley(300)
    path = tmp_path / "search.jsonl"
    res = search_subset_size(objective, 16, 3000, num_samples=16, seed=0, log_path=path, progress=False)
    assert 200 <= res["best_k"] <= 450 and res["best_loss"] < 1.0 + math.log(1.5) ** 2
    trials = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(trials) == len(res["trials"]) == 16 and [t["trial"] for t in trials] == list(range(16))
    assert all(16 <= t["k"] <= 3000 and {"loss", "seconds", "cached"} <= set(t) for t in trials)
    assert [t["k"] for t in trials[:3]] == log_grid(16, 3000, 3) == [16, 219, 3000]  # the starting grid
    assert sorted(set(calls)) == sorted({t["k"] for t in trials}) and len(calls) == len(set(calls))
    assert sum(not t["cached"] for t in trials) == len(calls)
    assert min(t["loss"] for t in trials) == res["best_loss"]


def test_a_rerun_answers_known_sizes_from_the_log(tmp_path):
    objective, calls = valley(100)
    path = tmp_path / "search.jsonl"
    first = search_subset_size(objective, 8, 1000, num_samples=8, seed=1, log_path=path, progress=False)

    def never(k):
        raise AssertionError(f"fine-tuned k={k} again")

    again = search_subset_size(never, 8, 1000, num_samples=8, seed=1, log_path=path, progress=False)
    assert again["best_k"] == first["best_k"] and len(calls) == len(set(calls))


def test_topk_objective_trains_on_the_first_k_of_the_order():
    seen = []
    order = np.array([5, 3, 9, 1, 0])
    obj = topk_objective(order, lambda rows, seed: seen.append((rows.tolist(), seed)) or {"loss": 1.0}, seed=7)
    obj(3)
    assert seen == [([3, 5, 9], 7)]


def test_bad_range_is_an_error():
    with pytest.raises(ConfigError):
        search_subset_size(lambda k: {"loss": 1.0}, 100, 100, progress=False)
    assert log_grid(10, 1000, 1) == [100] and log_grid(10, 1000, 0) == []


def test_losses_known_from_elsewhere_are_told_to_the_search_not_retrained():
    objective, calls = valley(300)
    res = search_subset_size(objective, 16, 3000, num_samples=6, seed=0, known={300: 1.0, 5000: 0.0},
                             progress=False)
    assert 300 not in calls and res["best_k"] == 300 and res["given"] == [{"k": 300, "loss": 1.0}]
    assert len(res["trials"]) == 6 and len(calls) == 6  # the given point does not use a trial


def test_a_search_with_another_context_does_not_read_the_log(tmp_path):
    objective, calls = valley(100)
    objective.key = "ranking-A"
    path = tmp_path / "search.jsonl"
    search_subset_size(objective, 8, 1000, num_samples=6, seed=1, log_path=path, progress=False)
    n = len(calls)
    objective.key = "ranking-B"  # another eval set, trainer or ranking: the same k is another experiment
    search_subset_size(objective, 8, 1000, num_samples=6, seed=1, log_path=path, progress=False)
    assert len(calls) == 2 * n
