#!/usr/bin/env bash
# Set up, then run the main job on the shipped example: select 10% of a noisy support-ticket pool,
# prove it against random and full-data baselines, and write the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
ex=examples/support-tickets
out="${CURATA_RUNS:-runs}/demo"   # the test suite runs this script with CURATA_RUNS in a temporary directory
.venv/bin/curata select "$ex/pool.jsonl" --target "$ex/target.jsonl" --budget 0.1 --out "$out"
.venv/bin/curata evaluate "$out" --test "$ex/test.jsonl" --budgets 0.05,0.1,0.25 --seeds 5
echo "open $out/report.html"
