import numpy as np

from curata.engine.context import RunContext
from curata.engine.select import Select
from curata.selectors.random import RandomSelector


def test_random_is_a_seeded_permutation_of_the_candidates(pool, ctx, check_order):
    cand = np.arange(0, len(pool), 3)
    a = RandomSelector().order(pool, cand, 20, ctx)
    check_order(a.order, cand, 20)
    assert sorted(a.order.tolist()) == cand.tolist()
    again = RandomSelector().order(pool, cand, 20, RunContext(seed=0, progress=False))
    assert a.order.tolist() == again.order.tolist()
    assert a.order.tolist() != RandomSelector(seed=1).order(pool, cand, 20, ctx).order.tolist()
    assert a.reasons[int(a.order[0])] == "random draw #1 (seed 0)"


def test_through_the_engine(pool, ctx):
    cols, _ = Select(RandomSelector(), budget=0.1).run(pool, ctx, notes=[])
    assert cols["selected"].sum() == round(0.1 * len(pool))
