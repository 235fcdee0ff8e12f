"""Selection benchmark for instruction data: LoRA fine-tunes of SmolLM2-135M on top-k by a signal vs random.

Stages (each resumable; ``--stage all`` runs them in order):
  build   the pool (3,008 records: LIMA, GSM8K train, Self-Instruct × 8 models, MMLU) and the two targets
          (GSM8K test slice, held-out LIMA slice); responses cut to 128 tokens (instruction_data.py)
  score   ppl, ifd and the InstructMining indicators on the pool through a curata Pipeline (run directory
          benchmarks/out/instruction_selection/run, LM cache included); the judge is timed on a sample
  fit     the InstructMining rule: fine-tunes on sampled source-mixed subsets, OLS (curata.value)
  rank    re-score with the fitted rule through the instructmining scorer (checks it reads the rule)
  select  fine-tunes on top-k by IFD, by the rule (and by the judge when it ran), random (3 seeds), full
  report  tables → benchmarks/out/instruction_selection.json and benchmarks/results/instruction_selection.md

    .venv/bin/python benchmarks/instruction_selection.py --stage all [--threads 1] [--dtype bfloat16]
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
from bench_data import OUT, require_shared

HERE = OUT / "instruction_selection"
DATA, RUN = HERE / "data", HERE / "run"
BUDGETS = (0.05, 0.10, 0.25)
SIGNALS = {"ifd": ("ifd_score", "desc"), "instructmining": ("instructmining_score", "asc"),
           "judge": ("judge_score", "desc")}


def lm_spec(args) -> dict:
    return {"name": "transformers", "model": "smollm2", "dtype": args.dtype, "num_threads": args.threads,
            "batch_size": 8, "max_length": 512}


def recipe(args) -> dict:
    """The fixed fine-tuning recipe of every fine-tune in this benchmark."""
    return {"epochs": 1, "max_length": args.max_length, "batch_size": 8, "lr": 2e-4, "dtype": args.dtype,
            "num_threads": args.threads}


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def stage_build(args) -> dict:
    from instruction_data import build

    from curata.lm.models import load_causal_lm
    _, tok = load_causal_lm("smollm2")
    meta = build(DATA, tok, seed=0, max_response_tokens=args.max_response_tokens)
    print(json.dumps(meta, indent=1))
    return meta


def pipeline_config(args, rule: str | None) -> dict:
    fields = {"task": "instruction", "label_field": None, "id_field": "id"}
    im = {"name": "instructmining", "lm": lm_spec(args), "use_judge": False,
          "rule": rule or "none"}  # no rule yet: the indicator columns alone (the fit comes later)
    return {"input": {"path": str(DATA / "pool.jsonl"), "fields": fields},
            "scorers": [{"name": "ppl", "lm": lm_spec(args)}, {"name": "ifd", "lm": lm_spec(args)}, im],
            "seed": 0, "out": str(RUN)}


def stage_score(args) -> dict:
    from curata.config import build_pipeline, load_config

    t0 = time.perf_counter()
    result = build_pipeline(load_config(pipeline_config(args, None)), run_dir=RUN, progress=True).run()
    seconds = time.perf_counter() - t0
    df = pd.read_parquet(RUN / "records.parquet")
    info = {"seconds": round(seconds, 1), "records": len(df), "notes": list(result.notes),
            "ifd_nan": int(df["ifd_score"].isna().sum()), "ifd_zero": int((df["ifd_score"] == 0).sum()),
            "ppl_nan": int(df["ppl_score"].isna().sum())}
    info["judge_probe"] = judge_probe(args, df)
    (HERE / "score.json").write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps(info, indent=1, default=str))
    return info


def judge_probe(args, df: pd.DataFrame, n: int = 16) -> dict:
    """Time the judge on ``n`` records to decide whether judging the whole pool fits the budget."""
    from curata.engine.context import RunContext
    from curata.pool import Pool
    from curata.scorers.judge import JudgeScorer

    rows = np.random.default_rng(0).choice(len(df), size=n, replace=False)
    pool = Pool(df=df.iloc[rows].reset_index(drop=True), task="instruction")
    t0 = time.perf_counter()
    out = JudgeScorer(lm=lm_spec(args)).score(pool, RunContext(seed=0, progress=False))
    sec = time.perf_counter() - t0
    return {"records": n, "seconds": round(sec, 1), "per_record_s": round(sec / n, 2),
            "projected_pool_minutes": round(sec / n * len(df) / 60, 1),
            "status": out["judge_status"].value_counts().to_dict(),
            "scores": out["judge_score"].round(2).tolist()}


def sources(df: pd.DataFrame) -> np.ndarray:
    """Each record's source (lima, gsm8k, mmlu, selfinstruct:<model>) by id, from the built pool file."""
    by_id = {r["id"]: r["source"] for r in read_jsonl(DATA / "pool.jsonl")}
    return df["id"].map(by_id).to_numpy()


def stage_fit(args) -> dict:
    """InstructMining rule: ``--subsets`` fine-tunes on Dirichlet source mixes of ``--subset-size`` records."""
    from curata.value.instructmining_fit import lora_train_fn, run_fit

    df = pd.read_parquet(RUN / "records.parquet")
    evals = targets()["gsm8k"] + targets()["lima"]
    t0 = time.perf_counter()
    rule = run_fit(df, lora_train_fn(df, evals, recipe(args), run_dir=RUN, tag="fit"), n_subsets=args.subsets,
                   size=args.subset_size, seed=0, alpha=args.alpha, sources=sources(df), run_dir=RUN,
                   out=HERE / "rule.json", progress=True)
    print(json.dumps({k: rule[k] for k in ("coefficients", "standard_errors", "p_values", "r2", "selected",
                                            "dropped")}, indent=1), f"\n{time.perf_counter() - t0:.0f} s")
    return rule


def stage_rank(args) -> None:
    """Score the pool with the fitted rule through the instructmining scorer and check it matches the fit's
    own formula (the scorer reads the rule JSON written by the fit)."""
    from curata.config import build_pipeline, load_config
    from curata.value.instructmining_fit import rule_scores

    build_pipeline(load_config(pipeline_config(args, str(HERE / "rule.json"))), run_dir=RUN, progress=True).run()
    df = pd.read_parquet(RUN / "records.parquet")
    rule = json.loads((HERE / "rule.json").read_text())
    ours = rule_scores(rule, df)
    gap = float(np.nanmax(np.abs(ours - df["instructmining_score"].to_numpy(dtype=float))))
    print(f"instructmining_score vs the fit's formula: max |difference| = {gap:.2e}")
    assert gap < 1e-6, "the scorer and the fit disagree on the rule"


def pool_frame() -> pd.DataFrame:
    """The pool with its score columns when scored, else the raw records (enough for random and full)."""
    path = RUN / "records.parquet"
    if path.exists():
        return pd.read_parquet(path)
    return pd.DataFrame(read_jsonl(DATA / "pool.jsonl"))


def top_rows(df: pd.DataFrame, column: str, direction: str, k: int) -> np.ndarray:
    """The k best rows by ``column`` (NaN last, ties by position)."""
    x = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)
    key = np.where(np.isfinite(x), -x if direction == "desc" else x, np.inf)
    return np.sort(np.lexsort((np.arange(len(df)), key))[:k])


def targets() -> dict[str, list[dict]]:
    return {"gsm8k": read_jsonl(DATA / "target_gsm8k.jsonl"), "lima": read_jsonl(DATA / "target_lima.jsonl")}


def finetune_and_eval(args, df: pd.DataFrame, rows: np.ndarray, seed: int, em: int = 0) -> dict:
    """One fine-tune on ``rows`` with the benchmark recipe; loss on each target and on both together, and
    GSM8K exact match on the first ``em`` GSM8K targets when ``em`` > 0."""
    from curata.train.lora_sft import LoRASFTTrainer

    t = LoRASFTTrainer(**recipe(args), em_max_new_tokens=args.em_tokens).fit(df.iloc[rows], seed=seed,
                                                                            progress=True, run_dir=RUN)
    extra = {}
    if em:
        res = t.exact_match(targets()["gsm8k"], n=em, name="target_gsm8k")
        extra = {"gsm8k_em": res["exact_match"], "gsm8k_em_n": res["n"],
                 "gsm8k_em_answers": [(a["predicted"], a["reference"]) for a in res["answers"]]}
    return {**evaluate_model(t, targets()), **extra, "finetune": t.record_["id"],
            "train_seconds": t.stats_["seconds"],
            "tokens": t.stats_["tokens"], "tokens_per_s": round(t.stats_["tokens_per_s"], 1),
            "padding_waste": round(t.stats_["padding_waste"], 4), "truncated": t.stats_["data"]["truncated"],
            "steps": t.stats_["steps"]}


def evaluate_model(t, sets: dict[str, list[dict]]) -> dict:
    out, num, den = {}, 0.0, 0
    for name, recs in sets.items():
        out[f"loss_{name}"] = t.eval_loss(recs, name=f"target_{name}")
        n = t.record_["evals"][f"target_{name}"]["response_tokens"]
        num, den = num + out[f"loss_{name}"] * n, den + n
    out["loss_all"] = num / den
    return out


def select_jobs(args, df: pd.DataFrame) -> list[tuple[str, float, int, int, np.ndarray]]:
    n = len(df)
    arms = set(args.arms.split(","))
    jobs = []
    df = df.copy()
    if (HERE / "rule.json").exists():  # the fitted rule, never the probe rule the score stage ran with
        from curata.value.instructmining_fit import rule_scores
        df["instructmining_score"] = rule_scores(json.loads((HERE / "rule.json").read_text()), df)
    else:
        df = df.drop(columns=["instructmining_score"], errors="ignore")
    for b in args.budgets:
        k = int(round(b * n))
        for name, (col, direction) in SIGNALS.items():
            if name in arms and col in df.columns and df[col].notna().any():
                rows = top_rows(df, col, direction, k)
                jobs.extend((name, b, k, s, rows) for s in range(args.signal_seeds))
        if "random" in arms:
            for s in range(args.seeds):
                rng = np.random.default_rng(10_000 + s)
                jobs.append(("random", b, k, s, np.sort(rng.choice(n, size=k, replace=False))))
    if "full" in arms:
        jobs.append(("full", 1.0, n, 0, np.arange(n)))
    order = {"random": 0, "ifd": 1, "instructmining": 2, "judge": 3, "full": 9}
    return sorted(jobs, key=lambda j: (j[1], order.get(j[0], 5), j[3]))


def stage_select(args) -> None:
    import hashlib

    df = pool_frame()
    log_path = HERE / "select.jsonl"
    done = {r["key"] for r in read_jsonl(log_path)} if log_path.exists() else set()
    if "base" in args.arms.split(",") and "base|0|0" not in done and args.shard.startswith("0/"):
        from curata.lm.models import load_causal_lm
        from curata.train.lora_sft import eval_loss

        model, tok = load_causal_lm("smollm2")
        rec = {"key": "base|0|0", "arm": "base", "budget": 0.0, "k": 0, "seed": 0}
        num = den = 0
        for name, recs in targets().items():
            r = eval_loss(model, tok, recs, max_length=args.max_length, dtype=args.dtype)
            rec[f"loss_{name}"] = r["loss"]
            num, den = num + r["loss"] * r["response_tokens"], den + r["response_tokens"]
        rec["loss_all"] = num / den
        if args.em:
            from curata.train.gsm8k import exact_match
            from curata.train.sft_data import format_pair, instruction_records

            recs = instruction_records(targets()["gsm8k"])[:args.em]
            res = exact_match(model, tok, recs, [format_pair(tok, r[0], r[1], "")[0] for r in recs],
                              args.em_tokens, 8, args.dtype == "bfloat16")
            rec.update(gsm8k_em=res["exact_match"], gsm8k_em_n=res["n"],
                       gsm8k_em_answers=[(a["predicted"], a["reference"]) for a in res["answers"]])
        with open(log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
    shard, n_shards = (int(x) for x in args.shard.split("/"))
    for arm, b, k, seed, rows in select_jobs(args, df)[shard::n_shards]:
        key = f"{arm}|{k}|{seed}|{hashlib.sha1(rows.tobytes()).hexdigest()[:12]}"
        if key in done:
            continue
        t0 = time.perf_counter()
        res = finetune_and_eval(args, df, rows, seed, em=args.em if arm == "full" else 0)
        rec = {"key": key, "arm": arm, "budget": b, "k": k, "seed": seed, **res,
               "seconds": round(time.perf_counter() - t0, 1)}
        with open(log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps({x: rec[x] for x in ("arm", "k", "seed", "loss_gsm8k", "loss_lima", "loss_all", "seconds")}),
              flush=True)


def stage_dtype(args) -> dict:
    """bfloat16 autocast vs float32: the same fine-tune (random 5%, seed 0) and the base model, both dtypes."""
    from curata.lm.models import load_causal_lm
    from curata.train.lora_sft import LoRASFTTrainer, eval_loss

    path = HERE / "dtype.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    df = pool_frame()
    rows = np.sort(np.random.default_rng(10_000).choice(len(df), size=int(round(0.05 * len(df))), replace=False))
    model, tok = load_causal_lm("smollm2")
    for dtype in ("float32", "bfloat16"):
        key = f"base_{dtype}"
        if key not in out:
            t0 = time.perf_counter()
            out[key] = {n: eval_loss(model, tok, recs, max_length=args.max_length, dtype=dtype)["loss"]
                        for n, recs in targets().items()}
            out[key]["seconds"] = round(time.perf_counter() - t0, 1)
        key = f"finetune_{dtype}"
        if key not in out:
            t = LoRASFTTrainer(**{**recipe(args), "dtype": dtype}).fit(df.iloc[rows], seed=0, run_dir=RUN)
            out[key] = {**evaluate_model(t, targets()), "tokens_per_s": t.stats_["tokens_per_s"],
                        "train_seconds": t.stats_["seconds"], "train_loss_last": t.stats_["train_loss_last"]}
        path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return out


def stage_report(args) -> None:
    from instruction_report import write_report

    write_report(HERE, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", default="all",
                    choices=["all", "build", "score", "fit", "rank", "select", "dtype", "report"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--max-response-tokens", type=int, default=128)
    ap.add_argument("--subsets", type=int, default=20)
    ap.add_argument("--subset-size", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--signal-seeds", type=int, default=1, help="fine-tune seeds per signal arm (same rows)")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="fractions of the pool, e.g. 0.05,0.1")
    ap.add_argument("--alpha", type=float, default=0.05, help="significance level of the rule's regressors")
    ap.add_argument("--arms", default="base,random,ifd,instructmining,judge,full")
    ap.add_argument("--em", type=int, default=16, help="GSM8K exact match on this many targets (base, full)")
    ap.add_argument("--em-tokens", type=int, default=200, help="greedy tokens per GSM8K answer")
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th select job from the i-th (parallel workers)")
    args = ap.parse_args()
    args.budgets = [float(b) for b in str(args.budgets).split(",")]
    require_shared()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    torch.set_num_threads(args.threads)
    stages = ["build", "score", "fit", "rank", "select", "dtype", "report"] if args.stage == "all" else [args.stage]
    for s in stages:
        print(f"== {s}", flush=True)
        globals()[f"stage_{s}"](args)


if __name__ == "__main__":
    main()
