#!/usr/bin/env bash
# The test suite, exactly as CI runs it (.ci/run calls this). Slow checks (marked `slow`) are left out;
# each is covered by a script in benchmarks/. Pass extra pytest arguments through, e.g. `-m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -q "$@"
