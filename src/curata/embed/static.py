"""Fast tier: a static (model2vec) embedder distilled once, offline, from the shipped MiniLM.

Distilling takes ~25 s on a laptop CPU and is cached in ``$CURATA_HOME`` (default ``~/.cache/curata``);
afterwards it embeds tens of thousands of sentences per second. What it costs in selection quality is
measured in benchmarks/selection_quality.py (see BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from curata.embed.base import Embedder, normalise
from curata.embed.sentence_transformer import resolve_model
from curata.engine.stage import Params
from curata.errors import ConfigError


def curata_home() -> Path:
    return Path(os.environ.get("CURATA_HOME", Path.home() / ".cache" / "curata"))


def _is_model2vec(folder: Path) -> bool:
    """A model2vec folder; model2vec writes a modules.json too, whose first module is a StaticEmbedding."""
    if not ((folder / "config.json").exists() and (folder / "model.safetensors").exists()):
        return False
    if not (folder / "modules.json").exists():
        return True
    try:
        modules = json.loads((folder / "modules.json").read_text())
        return modules[0]["type"].endswith("StaticEmbedding")
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return False


log = logging.getLogger("curata")

class StaticParams(Params):
    model: str = "minilm"  # a model2vec folder, or a sentence-transformers model to distil from
    pca_dims: int = 256
    batch_size: int = 4096


class StaticEmbedder(Embedder):
    name = "static"
    Params = StaticParams
    requires = ("model2vec",)
    extra = "fast"

    def __init__(self, **params):
        super().__init__(**params)
        self._model = None

    def fingerprint(self) -> str:
        return hashlib.sha256(f"static|{self.params.model}|{self.params.pca_dims}".encode()).hexdigest()[:16]

    def _distilled_dir(self) -> Path:
        src = resolve_model(self.params.model)
        tag = hashlib.sha256(str(Path(src).resolve() if Path(src).exists() else src).encode()).hexdigest()[:10]
        return curata_home() / "static" / f"{Path(src).name}-{tag}-pca{self.params.pca_dims}"

    @property
    def model(self):
        if self._model is None:
            from model2vec import StaticModel

            given = Path(self.params.model)
            if _is_model2vec(given):
                self._model = StaticModel.from_pretrained(str(given))
            else:
                out = self._distilled_dir()
                if not (out / "model.safetensors").exists():
                    self._model = self._distil(out)
                else:
                    self._model = StaticModel.from_pretrained(str(out))
        return self._model

    def _distil(self, out: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from model2vec.distill import distill

        src = resolve_model(self.params.model)
        log.info("static embedder: distilling a model2vec model from %s once (about a minute on a laptop CPU); "
                 "later runs load it from %s", Path(src).name, out)
        try:
            model = distill(model_name=src, pca_dims=self.params.pca_dims, device="cpu")
        except Exception as e:
            raise ConfigError("embed.model", f"cannot distil a static model from {self.params.model!r} "
                              f"({type(e).__name__}: {e})", "name a sentence-transformers folder") from e
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        model.save_pretrained(str(tmp))
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():  # another process finished first
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, out)
        return model

    def encode(self, texts: list[str]) -> np.ndarray:
        return normalise(self.model.encode(texts, batch_size=self.params.batch_size, show_progress_bar=False))
