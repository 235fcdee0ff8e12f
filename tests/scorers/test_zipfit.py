import gzip

import lz4.frame
import numpy as np
import pytest

from curata.engine.context import RunContext
from curata.scorers.zipfit import ZipFitScorer

TARGET = [
    "def add(a, b):\n    return a + b\n",
    "def multiply(a, b):\n    return a * b\n",
    "def subtract(a, b):\n    return a - b\n",
]
SIMILAR = "def divide(a, b):\n    return a / b\n"
UNRELATED = "The quick brown fox jumps over the lazy dog near the riverbank at dawn."


@pytest.fixture
def target_ctx(make_pool, ctx):
    ctx.target = make_pool(TARGET)
    return ctx


def hand_align(x: str, targets: list[str], size) -> float:
    cx = size(x.encode())
    ncds = []
    for t in targets:
        ct, cxt = size(t.encode()), size((x + t).encode())
        ncds.append((cxt - min(cx, ct)) / max(cx, ct))
    return 1 - sum(ncds) / len(ncds)


def test_similar_ranks_above_unrelated(make_pool, target_ctx):
    for params in ({}, {"compressor": "gzip"}):
        out = ZipFitScorer(**params).score(make_pool([SIMILAR, UNRELATED]), target_ctx)
        assert list(out.columns) == ["zipfit_score"]
        assert out["zipfit_score"][0] > out["zipfit_score"][1] + 0.05


def test_matches_hand_computation_gzip(make_pool, target_ctx):
    out = ZipFitScorer(compressor="gzip").score(make_pool([SIMILAR, UNRELATED, ""]), target_ctx)
    size = lambda b: len(gzip.compress(b, compresslevel=1))  # noqa: E731
    expected = [hand_align(x, TARGET, size) for x in (SIMILAR, UNRELATED, "")]
    np.testing.assert_allclose(out["zipfit_score"], expected, rtol=0, atol=1e-12)
    # one pair by hand with explicit numbers, so the formula itself is pinned
    cx, ct = size(SIMILAR.encode()), size(TARGET[0].encode())
    cxt = size((SIMILAR + TARGET[0]).encode())
    single = ZipFitScorer(compressor="gzip").score(make_pool([SIMILAR]), RunContext(progress=False,
                                                   target=make_pool(TARGET[:1])))
    assert single["zipfit_score"][0] == pytest.approx(1 - (cxt - min(cx, ct)) / max(cx, ct))


def test_default_is_lz4_level0(make_pool, target_ctx):
    out = ZipFitScorer().score(make_pool([SIMILAR, UNRELATED]), target_ctx)
    size = lambda b: len(lz4.frame.compress(b, compression_level=0))  # noqa: E731
    expected = [hand_align(x, TARGET, size) for x in (SIMILAR, UNRELATED)]
    np.testing.assert_allclose(out["zipfit_score"], expected)
    assert ZipFitScorer().params.level == 0 and ZipFitScorer(compressor="gzip").params.level == 1


def test_target_subsample_is_seeded(make_pool, ctx):
    targets = [f"def f{i}(x):\n    return x ** {i} + {i * 7}\n" for i in range(6)] + [UNRELATED] * 4
    ctx.target = make_pool(targets)
    pool = make_pool([SIMILAR, UNRELATED])
    a = ZipFitScorer(max_targets=3, compressor="gzip").score(pool, ctx)["zipfit_score"]
    b = ZipFitScorer(max_targets=3, compressor="gzip").score(pool, ctx)["zipfit_score"]
    np.testing.assert_array_equal(a, b)
    pick = np.sort(np.random.default_rng(0).choice(10, 3, replace=False))
    size = lambda b: len(gzip.compress(b, compresslevel=1))  # noqa: E731
    chosen = [targets[i] for i in pick]
    np.testing.assert_allclose(a, [hand_align(x, chosen, size) for x in (SIMILAR, UNRELATED)])


def test_parallel_matches_in_process(make_pool, target_ctx):
    rng = np.random.default_rng(0)
    words = ["def", "return", "a", "b", "fox", "dog", "the", "(", ")", ":"]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(2100)]
    pool = make_pool(texts)
    par = ZipFitScorer(workers=2).score(pool, target_ctx)["zipfit_score"]
    seq = ZipFitScorer(workers=1).score(pool, target_ctx)["zipfit_score"]
    np.testing.assert_array_equal(par, seq)
