"""InstructMining's subset-size search on the selection benchmark's pool: eval loss vs k (the double-descent trace).

Needs ``instruction_selection.py --stage score`` and ``--stage fit`` (the rule). Ranks the pool by the fitted
rule and runs FLAML BlendSearch over k ∈ [k_min, k_max] (log-uniform integers), each trial a LoRA fine-tune
of SmolLM2-135M on the top-k with the benchmark's recipe, scored on both targets together (GSM8K test slice +
held-out LIMA). The selection benchmark's InstructMining arms (top-151/302/754 by the same rule, same recipe
and seed) and its full-pool fine-tune are the same models as trials at those k, so their losses are given to
the search as evaluated points instead of being trained again.

Writes every trial to benchmarks/out/instruction_selection/run/instructmining/search.jsonl, the summary to
benchmarks/out/double_descent.json and the plot to benchmarks/out/double_descent.png.

    .venv/bin/python benchmarks/double_descent.py [--trials 8] [--k-min 32] [--k-max 754] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT
from instruction_selection import HERE, RUN, read_jsonl, recipe, targets


def given_points(k_min: int, k_max: int) -> dict[int, float]:
    """Losses already measured by the selection benchmark for top-k by the rule (seed 0) and the full pool."""
    path = HERE / "select.jsonl"
    out: dict[int, float] = {}
    if path.exists():
        for r in read_jsonl(path):
            if r["arm"] in ("instructmining", "full") and r["seed"] == 0 and k_min <= r["k"] <= k_max:
                out[int(r["k"])] = float(r["loss_all"])
    return out


def plot(trials: list[dict], given: list[dict], full: float | None, n_pool: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    pts = sorted({(t["k"], t["loss"]) for t in trials if not t.get("given")})
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color="#3465a4", ms=4, lw=1.2,
                label="BlendSearch trials (top-k by the rule)")
    for i, t in enumerate(trials):
        ax.annotate(str(i), (t["k"], t["loss"]), fontsize=6, color="#555", xytext=(2, 3), textcoords="offset points")
    if given:
        ax.plot([g["k"] for g in given], [g["loss"] for g in given], "s", color="#f57900", ms=5,
                label="same models from the selection benchmark")
    if full is not None:
        ax.axhline(full, color="#555", ls="--", lw=1, label=f"full pool (k={n_pool:,})")
    ax.set_xscale("log")
    ax.set_xlabel("k (top-k records by the InstructMining rule)")
    ax.set_ylabel("eval loss (both targets)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--grid", type=int, default=3)
    ap.add_argument("--k-min", type=int, default=32)
    ap.add_argument("--k-max", type=int, default=754)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    torch.set_num_threads(args.threads)

    from curata.value.instructmining_fit import lora_train_fn, rule_scores
    from curata.value.instructmining_search import search_subset_size, topk_objective

    df = pd.read_parquet(RUN / "records.parquet")
    rule = json.loads((HERE / "rule.json").read_text())
    scores = rule_scores(rule, df)
    order = np.lexsort((np.arange(len(df)), scores))
    evals = targets()["gsm8k"] + targets()["lima"]
    train_fn = lora_train_fn(df, evals, recipe(args), run_dir=RUN, tag="search")
    given = given_points(args.k_min, args.k_max)
    t0 = time.perf_counter()
    res = search_subset_size(topk_objective(order, train_fn, args.seed), args.k_min, args.k_max,
                             num_samples=args.trials, grid=args.grid, seed=args.seed, known=given,
                             log_path=RUN / "instructmining" / "search.jsonl")
    res["seconds"] = round(time.perf_counter() - t0, 1)
    full = [r for r in read_jsonl(HERE / "select.jsonl") if r["arm"] == "full"] if (HERE / "select.jsonl").exists() \
        else []
    res["full_pool"] = {"k": len(df), "loss": full[0]["loss_all"]} if full else None
    res["command"] = "python " + " ".join(sys.argv)
    res["rule_selected"] = rule["selected"]
    (OUT / "double_descent.json").write_text(json.dumps(res, indent=1))
    plot(res["trials"], res["given"], res["full_pool"]["loss"] if full else None, len(df), OUT / "double_descent.png")
    trace = sorted({(t["k"], round(t["loss"], 4)) for t in res["trials"]} |
                   {(g["k"], round(g["loss"], 4)) for g in res["given"]})
    print("k, loss:", trace, f"\nbest k = {res['best_k']} (loss {res['best_loss']:.4f}); {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
