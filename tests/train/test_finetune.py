import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from curata.errors import ConfigError  # noqa: E402
from curata.io.fields import pool_from_records  # noqa: E402
from curata.train.finetune import FineTuneTrainer  # noqa: E402
from curata.train.metrics import classification_metrics  # noqa: E402

SUNNY = "sunny bright warm cheerful golden radiant".split()
GLOOMY = "rainy dark cold gloomy grey dreary".split()


def weather(n: int, seed: int, labels=("gloomy", "sunny")):
    """Short sentences of four words drawn from one of two clearly different vocabularies."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        words = SUNNY if i % 2 else GLOOMY
        recs.append({"text": "the day was " + " ".join(rng.choice(words, 3)), "label": labels[i % 2]})
    return pool_from_records(recs, known_labels=sorted(labels))


# one thread: two OpenMP threads on a busy 2-core machine run several times slower than one


def test_tiny_real_run_learns_and_beats_chance():
    train, held_out = weather(40, seed=0), weather(20, seed=1)
    model = FineTuneTrainer(max_length=32, epochs=3, batch_size=8, num_threads=1).fit(train, seed=0, progress=False)
    assert model.stats_["steps"] == 15 and model.stats_["examples"] == 120
    first, last = np.mean(model.losses_[:3]), np.mean(model.losses_[-3:])
    assert last < first - 0.2, model.losses_
    proba = model.predict_proba(held_out)
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert classification_metrics(held_out.df["label"], proba, train.label_names, "text")["accuracy"] >= 0.85


def test_step_cap_seed_and_missing_class():
    full = weather(24, seed=0)
    full.label_names = ["cloudy", "gloomy", "sunny"]  # a class no training record has
    a = FineTuneTrainer(max_length=16, batch_size=4, max_steps=3, num_threads=1).fit(full, seed=3, progress=False)
    b = FineTuneTrainer(max_length=16, batch_size=4, max_steps=3, num_threads=1).fit(full, seed=3, progress=False)
    assert a.stats_["steps"] == 3 and len(a.losses_) == 3
    assert a.losses_ == b.losses_
    pa = a.predict_proba(full)
    np.testing.assert_allclose(pa, b.predict_proba(full), atol=1e-6)
    assert pa.shape == (24, 3) and (pa[:, 0] == 0).all()
    c = FineTuneTrainer(max_length=16, batch_size=4, max_steps=3, num_threads=1).fit(full, seed=4, progress=False)
    assert c.losses_ != a.losses_
    assert not FineTuneTrainer.deterministic


def test_pairs_are_encoded_together_as_a_cross_encoder():
    pairs = pool_from_records([{"left": "red apple", "right": "green apple", "label": "1"},
                               {"left": "a cat", "right": "the moon and the stars", "label": "0"}])
    import torch

    threads = torch.get_num_threads()
    model = FineTuneTrainer(max_length=16, batch_size=2, max_steps=1).fit(pairs, seed=0, progress=False)
    assert torch.get_num_threads() == threads  # the trainer's thread count is restored after training
    batch = model._encode(*model._inputs(pairs), np.array([0, 1]))
    tokens = model._tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert tokens[:8] == ["[CLS]", "red", "apple", "[SEP]", "green", "apple", "[SEP]", "[PAD]"]
    assert batch["token_type_ids"][0].tolist()[:7] == [0, 0, 0, 0, 1, 1, 1]
    assert model.predict_proba(pairs).shape == (2, 2)


def test_one_class_training_set_skips_training():
    only_sunny = weather(6, seed=0).take(np.array([1, 3, 5]))
    model = FineTuneTrainer().fit(only_sunny, seed=0, progress=False)
    assert model.model_ is None
    np.testing.assert_array_equal(model.predict_proba(weather(4, seed=1)), np.tile([0.0, 1.0], (4, 1)))


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot load"):
        FineTuneTrainer(model="/nonexistent/model/folder").fit(weather(4, seed=0), seed=0, progress=False)



@pytest.fixture
def tiny_encoder(monkeypatch):
    """A one-layer, 32-wide BERT with MiniLM's tokenizer in place of MiniLM: fast, same code path."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from curata.embed.sentence_transformer import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)

    def load(self):
        self._tokenizer = tokenizer
        torch.manual_seed(0)
        return BertModel(config)

    monkeypatch.setattr(FineTuneTrainer, "_load_encoder", load)


def test_wrong_events_are_counted_from_the_training_logits_without_changing_training(tiny_encoder,
                                                                                   monkeypatch):
    import curata.train.finetune as finetune

    predictions = []  # the argmax of every training forward pass, in order

    def recording(*args):
        model = build(*args)
        model.head.register_forward_hook(lambda m, i, out: predictions.append(out.detach().argmax(1).numpy()))
        return model

    build = finetune.mean_pool_classifier
    monkeypatch.setattr(finetune, "mean_pool_classifier", recording)
    train = weather(32, seed=0)
    kw = dict(max_length=16, epochs=4, batch_size=8, lr=1e-3, num_threads=1)
    plain = FineTuneTrainer(**kw).fit(train, seed=2, progress=False)
    predictions.clear()
    counted = FineTuneTrainer(**kw, count_wrong_events=True).fit(train, seed=2, progress=False)
    assert plain.wrong_events_ is None
    assert counted.losses_ == plain.losses_  # counting reads the logits it already has: same training
    assert len(predictions) == 16  # no extra forward pass
    # recount from the recorded predictions, replaying the trainer's seeded data order
    y, rng = train.label_indices(), np.random.default_rng(2)
    expected, per_epoch = np.zeros(32, dtype=int), []
    batches = iter(predictions)
    for _ in range(4):
        order, current = rng.permutation(32), np.zeros(32, dtype=int)
        for s in range(0, 32, 8):
            idx = order[s:s + 8]
            current[idx] = next(batches)
            expected[idx] += current[idx] != y[idx]
        per_epoch.append(current)
    np.testing.assert_array_equal(counted.wrong_events_, expected)
    assert (counted.visits_ == 4).all()
    assert counted.prediction_changes_ == [int((a != b).sum()) for a, b in zip(per_epoch, per_epoch[1:])]
