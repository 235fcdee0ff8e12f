"""The static (model2vec) tier: loads a model2vec folder as is, distils the shipped MiniLM offline once
into $CURATA_HOME, and returns L2-normalised vectors."""

from __future__ import annotations

import numpy as np
import pytest

from curata.embed.sentence_transformer import shipped_minilm_path
from curata.embed.static import StaticEmbedder

pytest.importorskip("model2vec")


def no_distil(self, out):
    raise AssertionError("distilled although a model was available")


@pytest.fixture(scope="module")
def tiny_model2vec(tmp_path_factory):
    """A model2vec model with MiniLM's tokenizer and random 16-d token vectors, saved by model2vec itself."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(f"{shipped_minilm_path()}/tokenizer.json")
    vecs = np.random.default_rng(0).normal(size=(tok.get_vocab_size(), 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("m2v") / "tiny"
    StaticModel(vecs, tok).save_pretrained(str(path))
    return path


def test_a_model2vec_folder_is_loaded_not_distilled(tiny_model2vec, monkeypatch, tmp_path):
    monkeypatch.setenv("CURATA_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(StaticEmbedder, "_distil", no_distil)
    emb = StaticEmbedder(model=str(tiny_model2vec))
    vecs = emb.encode(["my parcel is late", "refund my card", ""])
    assert vecs.shape == (3, 16) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs[:2], axis=1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(vecs))
    np.testing.assert_allclose(emb.encode(["my parcel is late"])[0], vecs[0], rtol=1e-6)  # deterministic
    assert not (tmp_path / "home").exists()


def test_fingerprint_names_the_model_and_dims():
    a, b = StaticEmbedder(), StaticEmbedder(batch_size=16)
    assert a.fingerprint() == b.fingerprint()  # batch size does not change the vectors
    assert StaticEmbedder(pca_dims=128).fingerprint() != a.fingerprint()
    assert StaticEmbedder(model="/some/other").fingerprint() != a.fingerprint()
    assert a.model_key.startswith("static-")


@pytest.mark.slow
def test_distils_the_shipped_minilm_offline_once(tmp_path, monkeypatch):
    """Slow (1-2 min on 2 cores: MiniLM encodes its whole 30k-token vocabulary); see benchmarks/speed.py."""
    monkeypatch.setenv("CURATA_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = StaticEmbedder()
    texts = ["My parcel never arrived.", "The delivery is late and the package is missing.",
             "I was charged twice on my credit card."]
    vecs = emb.encode(texts)
    assert vecs.shape == (3, 256) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    out = tmp_path / "static" / "minilm-pca256"
    assert (out / "model.safetensors").exists()
    assert not [p for p in (tmp_path / "static").iterdir() if ".tmp" in p.name]
    # a second embedder (a later run) loads the distilled model instead of distilling again
    monkeypatch.setattr(StaticEmbedder, "_distil", no_distil)
    np.testing.assert_allclose(StaticEmbedder().encode(texts), vecs, rtol=1e-5, atol=1e-6)
