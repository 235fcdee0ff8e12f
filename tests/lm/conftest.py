"""LM backend fixtures: the shipped SmolLM2 through transformers, loaded once per session.

The session's private CURATA_HOME gets a link to the user's converted SmolLM2 copy when one exists, so the
~20 s GGUF conversion is not repeated for every test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_USER_HOME = Path(os.environ.get("CURATA_HOME", Path.home() / ".cache" / "curata"))


def _link_converted_model() -> None:
    from curata.lm.models import converted_dir, curata_home, smollm2_gguf_path

    target = converted_dir(smollm2_gguf_path())
    mine = _USER_HOME / "models" / target.name
    if curata_home() != _USER_HOME and (mine / "config.json").exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(mine, target_is_directory=True)


@pytest.fixture(scope="session")
def smol():
    """The default transformers backend (SmolLM2-135M-Instruct), loaded; small batches to exercise packing."""
    from curata.lm.transformers_backend import TransformersLM

    _link_converted_model()
    lm = TransformersLM(batch_size=3, num_threads=1)  # the test machine is shared: one thread is fastest
    lm.load()
    return lm
