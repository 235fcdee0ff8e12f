"""InstructMining's subset-size search (METHODS §1.4): BlendSearch over k for the top-k records by the rule.

FLAML's BlendSearch (Optuna TPE as the global searcher + CFO local search) proposes k in [k_min, k_max],
log-uniform integers; the objective is the eval loss of a model fine-tuned on the k best-ranked records. The
search starts from a coarse log-spaced grid (``grid`` points, endpoints included) so the loss-vs-k trace covers
the whole range; ``low_cost`` makes CFO climb from k_min instead (cheaper trials first). A k proposed twice is
answered from memory, and still logged. Every trial (k, loss, seconds, cached) is appended to
``<run>/instructmining/search.jsonl`` as it finishes; a rerun with the same log answers known k from it.
``known`` gives losses measured elsewhere with the same recipe (e.g. the top-k arms of a selection
benchmark): BlendSearch is told them as evaluated points, and they are in the result marked ``given``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curata.errors import ConfigError

log = logging.getLogger("curata")

#: objective(k) -> {"loss": eval loss of a model fine-tuned on the top-k, ...}
Objective = Callable[[int], dict]


def log_grid(k_min: int, k_max: int, n: int) -> list[int]:
    if n <= 0:
        return []
    if n == 1:
        return [int(round(math.sqrt(k_min * k_max)))]
    return sorted({int(round(v)) for v in np.geomspace(k_min, k_max, n)})


def _logged(path: Path | None, context: str) -> dict[int, dict]:
    """Logged trials of this search's ``context`` (records, eval set, trainer): another's losses never answer."""
    from curata.value.instructmining_fit import read_log

    return {int(r["k"]): r for r in read_log(path) if not r.get("cached") and r.get("context", "") == context}


def search_subset_size(objective: Objective, k_min: int, k_max: int, *, num_samples: int = 16, grid: int = 3,
                       low_cost: bool = False, seed: int = 0, log_path: str | Path | None = None,
                       known: dict[int, float] | None = None, time_budget_s: float | None = None,
                       progress: bool = True) -> dict:
    """Run BlendSearch; returns {"best_k", "best_loss", "trials": [{trial, k, loss, seconds, cached}]}."""
    from curata.console import tqdm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flaml warns at import that its AutoML extra is absent
        from flaml import tune
        from flaml.tune.searcher.blendsearch import BlendSearch

    if not 1 <= k_min < k_max:
        raise ConfigError("instructmining.k_min", f"need 1 <= k_min < k_max, got {k_min}, {k_max}")
    path = None if log_path is None else Path(log_path)
    context = str(getattr(objective, "key", ""))
    logged = _logged(path, context)
    given = {int(k): float(v) for k, v in (known or {}).items() if k_min <= int(k) <= k_max}
    memo: dict[int, dict] = {k: {"k": k, "loss": v, "given": True} for k, v in given.items()}
    trials: list[dict] = []
    bar = tqdm(total=num_samples, desc="instructmining search", unit="trial", disable=not progress)

    def evaluate(config: dict) -> dict:
        k = int(config["k"])
        cached = k in memo
        if not cached:
            if k in logged:
                memo[k] = {key: v for key, v in logged[k].items() if key not in ("trial", "cached")}
            else:
                t0 = time.perf_counter()
                res = dict(objective(k))
                memo[k] = {"k": k, **res, "seconds": round(time.perf_counter() - t0, 2)}
        rec = {**memo[k], "trial": len(trials), "cached": cached, "context": context}
        trials.append(rec)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        bar.update(1)
        bar.set_postfix(k=k, loss=f"{rec['loss']:.4f}")
        return {"loss": float(rec["loss"])}

    space = {"k": tune.lograndint(k_min, k_max + 1)}
    points = [{"k": k} for k in given] + [{"k": k} for k in log_grid(k_min, k_max, min(grid, num_samples))
                                         if k not in given]
    quiet = [logging.getLogger(n) for n in ("flaml", "flaml.tune", "optuna")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:
            q.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alg = BlendSearch(metric="loss", mode="min", space=space, seed=seed,
                              low_cost_partial_config={"k": k_min} if low_cost else None,
                              points_to_evaluate=points or None,
                              evaluated_rewards=list(given.values()) or None)
            tune.run(evaluate, search_alg=alg, num_samples=num_samples, metric="loss", mode="min", verbose=0,
                     time_budget_s=time_budget_s)
    finally:
        for q, lv in zip(quiet, levels):
            q.setLevel(lv)
        bar.close()
    best = min(memo.values(), key=lambda r: r["loss"]) if memo else None
    return {"best_k": None if best is None else int(best["k"]), "best_loss": None if best is None else best["loss"],
            "k_min": k_min, "k_max": k_max, "num_samples": num_samples, "seed": seed, "trials": trials,
            "given": [{"k": k, "loss": v} for k, v in given.items()]}


def topk_objective(order: np.ndarray, train_fn: Callable[[np.ndarray, int], dict], seed: int = 0) -> Objective:
    """objective(k): ``train_fn`` on the first k rows of ``order`` (the rule's ranking, best first)."""
    order = np.asarray(order)

    def objective(k: int) -> dict:
        return train_fn(np.sort(order[:k]), seed)
    # the ranking and the seed are part of what a logged k means
    objective.key = hashlib.sha256(f"{getattr(train_fn, 'key', '')}|{seed}|".encode() + order.tobytes()
                                   ).hexdigest()[:16]
    return objective
