"""WrongEventsScorer (curata/scorers/wrong_events.py), named apart from tests/label/test_wrong_events.py:
test modules share one namespace in this layout."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from curata.engine import registry  # noqa: E402
from curata.engine.context import RunContext  # noqa: E402
from curata.errors import ConfigError  # noqa: E402
from curata.scorers.wrong_events import WrongEventsScorer  # noqa: E402
from curata.train.finetune import FineTuneTrainer  # noqa: E402

FAST = {"num_threads": 1, "batch_size": 32, "lr": 0.01, "hidden": 64}


def noisy_blobs(make_pool, n=300, flip_rate=0.2, seed=0, dim=8):
    """Two blobs 6 sd apart along the diagonal, ``flip_rate`` of the labels swapped."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (6 / np.sqrt(dim)) * y[:, None] + rng.standard_normal((n, dim))
    flip = np.zeros(n, dtype=bool)
    flip[rng.choice(n, int(flip_rate * n), replace=False)] = True
    labels = np.where(flip, 1 - y, y)
    return make_pool(embeddings=x, labels=[["neg", "pos"][v] for v in labels], features=x), flip


def test_columns_counts_and_notes(make_pool, ctx):
    pool, flip = noisy_blobs(make_pool)
    pool.df.loc[[0, 5], "label"] = None
    scorer = registry.build("scorer", "wrong_events", {"epochs": 12, "trainer_params": FAST})
    assert isinstance(scorer, WrongEventsScorer) and scorer.needs_labels and scorer.needs_embeddings
    out = scorer.score(pool, ctx)
    assert list(out.columns) == ["wrong_events", "wrong_events_score", "ido_clean_prob"]
    assert out["wrong_events"].dtype == "Int64" and len(out) == 300
    assert out.loc[[0, 5], "wrong_events"].isna().all()
    assert out.loc[[0, 5], ["wrong_events_score", "ido_clean_prob"]].isna().all().all()
    lab = out["wrong_events"].notna().to_numpy()
    counts = out["wrong_events"][lab].to_numpy(dtype=int)
    assert counts.min() >= 0 and counts.max() <= 12
    np.testing.assert_allclose(out["wrong_events_score"][lab], counts / 12)
    prob = out["ido_clean_prob"][lab].to_numpy()
    assert ((prob >= 0) & (prob <= 1)).all()
    # flips on well-separated blobs: the noisy component holds (almost) exactly the flipped records
    noisy, truth = prob < 0.5, flip[lab]
    assert (noisy & truth).sum() / noisy.sum() >= 0.9 and (noisy & truth).sum() / truth.sum() >= 0.9
    note = ctx.notes[-1]
    assert note.startswith(f"wrong_events: {int(noisy.sum())} of 298 labelled records have "
                           "ido_clean_prob < 0.5")
    assert "beta mixtures fitted inside each label ('neg', 'pos')" in note and "base epoch" in note
    summary = ctx.artifacts["wrong_events_summary"]
    assert set(summary["bmm_per_label"]) == {"neg", "pos"}
    assert summary["n_clean_prob_below_half"] == int(noisy.sum()) and len(summary["prediction_changes"]) == 11


def test_seeded_by_the_run_or_its_own_seed(make_pool):
    pool, _ = noisy_blobs(make_pool, n=120)

    def run(seed=None, ctx_seed=0):
        return WrongEventsScorer(epochs=3, seed=seed, trainer_params=FAST).score(
            pool, RunContext(seed=ctx_seed, progress=False))

    pd.testing.assert_frame_equal(run(ctx_seed=3), run(ctx_seed=3))
    pd.testing.assert_frame_equal(run(seed=3, ctx_seed=9), run(ctx_seed=3))
    assert not run(ctx_seed=3).equals(run(ctx_seed=4))


def test_embeddings_stand_in_for_missing_features(make_pool, ctx):
    pool, _ = noisy_blobs(make_pool, n=60)
    pool.features = None
    out = WrongEventsScorer(epochs=2, trainer_params=FAST).score(pool, ctx)
    assert out["wrong_events"].notna().all()


def test_finetune_counts_with_the_encoder():
    scorer = WrongEventsScorer(trainer="finetune", epochs=2, trainer_params={"max_length": 32})
    trainer = scorer._trainer()
    assert isinstance(trainer, FineTuneTrainer)
    assert trainer.params.count_wrong_events and trainer.params.epochs == 2
    assert trainer.params.max_length == 32


def test_bad_params_are_config_errors_when_built():
    with pytest.raises(ConfigError):
        WrongEventsScorer(trainer="logreg")
    with pytest.raises(ConfigError, match="hidden_units"):
        WrongEventsScorer(trainer_params={"hidden_units": 3})


def test_a_hard_rare_class_is_judged_against_itself_not_the_majority(make_pool):
    """A rare class the model mostly gets wrong (it overlaps the majority) collects many wrong events as a
    whole: one mixture over the pool calls the whole class noisy; the per-label mixture keeps its easier half."""
    rng = np.random.default_rng(1)
    n_major, n_minor, dim = 270, 30, 8
    x = np.vstack([rng.standard_normal((n_major, dim)), 0.5 + rng.standard_normal((n_minor, dim))])
    labels = ["common"] * n_major + ["rare"] * n_minor
    pool = make_pool(embeddings=x, features=x, labels=labels)
    rare = np.arange(n_major, n_major + n_minor)

    def noisy_rare(per_label: bool) -> float:
        out = WrongEventsScorer(epochs=8, per_label=per_label, trainer_params=FAST).score(
            pool, RunContext(seed=0, progress=False))
        return float((out["ido_clean_prob"].to_numpy()[rare] < 0.5).mean())

    assert noisy_rare(per_label=False) >= 0.8
    assert noisy_rare(per_label=True) <= 0.5
