"""Every built-in scorer declares the columns it writes (``Scorer.outputs``), and the declaration is true.

The pipeline checks exclusion rules and selector expressions against these declarations before embedding, so
a wrong declaration would either refuse a working config or let a broken one run for minutes first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from curata.engine import registry

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: the sibling test helper
from _fake_lm import instruction_pool  # noqa: E402

FAKE = {"name": "fake"}
LM_SCORERS = {"ppl", "ifd", "judge", "instructmining"}


def labelled_pool(make_pool, n=60):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 8)) + 3 * y[:, None]
    votes = [json.dumps({"text": f"r{i}", "votes": {"a": str(v), "b": str(v)}}) for i, v in enumerate(y)]
    pool = make_pool(embeddings=x, labels=[str(v) for v in y], raw=votes)
    pool.df["text"] = [f"record number {i} about {'cats' if v else 'dogs'}" for i, v in enumerate(y)]
    return pool


def params(name):
    if name in LM_SCORERS:
        return {"lm": FAKE, **({"rule": "none", "use_judge": False} if name == "instructmining" else {})}
    return {"truth_inference": {"votes_field": "votes"}, "wrong_events": {"epochs": 2},
            "knn_shapley": {"validation": "crossfit"}}.get(name, {})


@pytest.mark.parametrize("name", registry.names("scorer"))
def test_declared_outputs_are_what_the_scorer_writes(name, make_pool, ctx):
    cls = registry.get("scorer", name)
    assert cls.outputs is not None, f"{name}: declare `outputs`"
    if name in LM_SCORERS:
        pool = instruction_pool(make_pool, [("say hello", "", "hello world"), ("add", "2 3", "five"),
                                            ("name a colour", "", "blue")])
        if name == "instructmining":
            pool.embeddings = pool.features = np.eye(3, 4, dtype=np.float32)
    else:
        pool = labelled_pool(make_pool)
    if cls.needs_target:
        ctx.target = labelled_pool(make_pool, 10)
    out = cls(**params(name)).score(pool, ctx)
    assert set(out.columns) <= set(cls.outputs), (name, sorted(set(out.columns) - set(cls.outputs)))
    missing = set(cls.outputs) - set(out.columns)
    assert missing <= SOMETIMES.get(name, set()), (name, sorted(missing))


#: declared columns a scorer writes only for some pools (the length of instruction responses)
SOMETIMES = {"length": {"length_output_score"}}
