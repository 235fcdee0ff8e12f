"""Signal quality of the LM scorers: do they rank stronger models' responses above weaker ones?

Pool: the Self-Instruct paper's 252 expert-written user-oriented tasks, answered by 8 GPT-3-family models
(``../shared/data/self-instruct/human_eval/predictions``), mixed with LIMA (``../shared/data/lima``, single-turn
examples, human-curated). Model identity gives a coarse quality order (tiers below, from the paper's human
evaluation, Wang et al. 2023 §4.4 / Fig. 6: vanilla GPT-3 worst; GPT-3 fine-tuned on public instruction data
(T0, SuperNI) next; GPT-3 fine-tuned on Self-Instruct data (alone or with SuperNI) better, 5 points behind
InstructGPT-001; the newer text-davinci-002/003 better still). The same sampled tasks are taken from every
model, so comparisons between models are paired by task.

Signals: ppl, ifd, judge, instructmining (recalled v3 rule; the judge aspects are not requested, see below),
and the cheap controls length (response words), mtld and random. For each: AUROC of strongest vs weakest
model (text-davinci-003 vs davinci), of LIMA vs davinci and of InstructGPT (001–003) vs tiers 0–1, and the
Spearman correlation with the tier, over the pool and within each task (mean over tasks); 95% bootstrap
intervals resample tasks (and LIMA records). Every signal is oriented so that higher = predicted better
(ppl and instructmining are negated): AUROC < 0.5 means the signal prefers the weaker side.

Budget: SmolLM2-135M forwards at a few hundred tokens/s on 2 idle cores (far less on a shared, loaded
machine), and the judge generates. Defaults: 80 tasks × 8 models + 160 LIMA, responses cut to their first
100 words; the judge's aspect questions (naturalness/coherence/understandability) are asked only on a
seeded subset (``--aspects-subset``) to measure how often this judge answers them at all.

    .venv/bin/python benchmarks/lm_signals.py [--tasks 80] [--lima 160] [--max-words 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, SHARED, require_shared

TIERS = {"davinci": 0, "davinci-t0-ft": 1, "davinci-superni-ft": 1, "davinci-self-instruct": 2,
         "davinci-self-instruct-and-superni-ft": 2, "text-davinci-001": 3, "text-davinci-002": 4,
         "text-davinci-003": 5}
STRONG, WEAK = "text-davinci-003", "davinci"
SIGNALS = {  # column, sign (+1: higher = better as the method claims), label
    "ppl": ("ppl_score", -1, "ppl (lower = better)"),
    "ifd": ("ifd_score", +1, "IFD (higher = better, as Cherry/LEAD select)"),
    "judge": ("judge_score", +1, "judge (SmolLM2 rating 1–5)"),
    "instructmining": ("instructmining_score", -1, "InstructMining, recalled v3 rule (lower loss = better)"),
    "length": ("length_output_score", +1, "length (response words)"),
    "mtld": ("mtld_score", +1, "MTLD of the response"),
    "random": ("random_score", +1, "random (control)"),
    "ref_f1": ("ref_f1", +1, "reference token-F1 (needs the reference answer: checks the tier order)"),
}


def cut(text: str, max_words: int) -> str:
    words = text.split(" ")
    out, n = [], 0
    for w in words:
        n += bool(w.strip())
        if n > max_words:
            break
        out.append(w)
    return " ".join(out).strip()


def build_records(n_tasks: int, n_lima: int, max_words: int, seed: int) -> tuple[list[dict], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pred_dir = SHARED / "self-instruct" / "human_eval" / "predictions"
    tasks = np.sort(rng.choice(252, size=min(n_tasks, 252), replace=False))
    records, meta = [], []
    for model, tier in TIERS.items():
        with open(pred_dir / f"{model}_predictions.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        for t in tasks:
            r = rows[t]
            rid = f"{model}#{t}"
            records.append({"id": rid, "instruction": r["instruction"].strip(), "input": r["input"].strip(),
                            "output": cut(r["response"].strip(), max_words)})
            meta.append({"id": rid, "source": model, "tier": tier, "task": f"si{t}",
                         "ref_f1": token_f1(cut(r["response"].strip(), max_words), r["target"])})
    with open(SHARED / "lima" / "lima.json", encoding="utf-8") as fh:
        lima = [x for x in json.load(fh) if not x.get("history")]
    for i in np.sort(rng.choice(len(lima), size=min(n_lima, len(lima)), replace=False)):
        x = lima[i]
        rid = f"lima#{i}"
        records.append({"id": rid, "instruction": x["instruction"].strip(), "input": x["input"].strip(),
                        "output": cut(x["output"].strip(), max_words)})
        meta.append({"id": rid, "source": "lima", "tier": np.nan, "task": rid, "ref_f1": np.nan})
    return records, pd.DataFrame(meta)


def token_f1(pred: str, ref: str) -> float:
    """SQuAD-style token F1 of a response against the reference answer (an independent check of the order)."""
    p, r = re.findall(r"\w+", pred.lower()), re.findall(r"\w+", ref.lower())
    if not p or not r:
        return 0.0
    common = sum(min(p.count(w), r.count(w)) for w in set(p))
    return 0.0 if common == 0 else 2 * common / (len(p) + len(r))


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import rankdata

    x = np.concatenate([pos, neg])
    ranks = rankdata(x)
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return 0.0
    return float(spearmanr(x, y).statistic)


def _measures(s: np.ndarray, tier: np.ndarray, rows: np.ndarray, lima: np.ndarray, within: np.ndarray,
              has_lima: bool = True) -> dict:
    """The five measures on the self-instruct rows ``rows`` and LIMA rows ``lima`` (indices into ``s``)."""
    t = tier[rows]
    strong, weak = rows[t == TIERS[STRONG]], rows[t == TIERS[WEAK]]
    return {
        "auroc_strong_vs_weak": auroc(s[strong], s[weak]),
        "auroc_lima_vs_weak": auroc(s[lima], s[weak]) if has_lima else float("nan"),
        "auroc_instructgpt_vs_tiers01": auroc(s[rows[t >= 3]], s[rows[t <= 1]]),
        "spearman_tier": spearman(s[rows], t),
        "spearman_tier_within_task": float(np.nanmean(within)) if np.isfinite(within).any() else 0.0,
    }


def evaluate(scored: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Point values and 95% bootstrap intervals (tasks resampled with their 8 responses; LIMA records resampled)."""
    is_lima = (scored["source"] == "lima").to_numpy()
    tier = scored["tier"].to_numpy(dtype=float)
    lima = np.flatnonzero(is_lima)
    groups = [np.asarray(g) for g in scored[~is_lima].groupby("task", sort=True).indices.values()]
    groups = [np.flatnonzero(~is_lima)[g] for g in groups]
    rng = np.random.default_rng(seed)
    picks = [(rng.integers(0, len(groups), len(groups)), rng.integers(0, len(lima), len(lima)))
             for _ in range(n_boot)]
    results = {}
    for name, (col, sign, label) in SIGNALS.items():
        if col not in scored:
            continue
        x = scored[col].to_numpy(dtype=float) * sign
        finite = np.isfinite(x)
        s = np.where(finite, x, np.median(x[finite]) if finite.any() else 0.0)
        within = np.array([spearman(s[g], tier[g]) for g in groups])  # constant within a task: 0
        has_lima = bool(finite[lima].any())
        point = _measures(s, tier, np.concatenate(groups), lima, within, has_lima)
        boots = [_measures(s, tier, np.concatenate([groups[i] for i in tp]), lima[lp], within[tp], has_lima)
                 for tp, lp in picks]
        ci = {k: [round(float(np.nanpercentile([b[k] for b in boots], q)), 3) for q in (2.5, 97.5)] for k in point}
        results[name] = {"label": label, "coverage": round(float(finite.mean()), 3),
                         **{k: round(v, 3) for k, v in point.items()}, "ci95": ci}
    return results


def per_source_means(scored: pd.DataFrame) -> pd.DataFrame:
    """Per source: mean reference F1, judge mean and parse rate, and the median of every other signal."""
    g = scored.groupby("source", sort=False)
    out = pd.DataFrame({"n": g.size(), "ref_f1 (mean)": g["ref_f1"].mean()})
    for name, (col, _, _) in SIGNALS.items():
        if col not in scored or name in ("random", "ref_f1"):
            continue
        if name == "judge":
            out["judge (mean)"] = g[col].mean()
            out["judge parsed"] = g[col].apply(lambda v: v.notna().mean())
        else:
            out[f"{name} (median)"] = g[col].median()
    order = [*TIERS, "lima"]
    return out.loc[[s for s in order if s in out.index]].round(3)


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch
    return {"uname": " ".join(platform.uname()), "nproc": os.cpu_count(), "cpu": cpu,
            "python": platform.python_version(), "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=80)
    ap.add_argument("--lima", type=int, default=160)
    ap.add_argument("--max-words", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded machine)")
    ap.add_argument("--judge-tokens", type=int, default=16)
    ap.add_argument("--aspects-subset", type=int, default=48)
    ap.add_argument("--no-judge", action="store_true")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--out", default=str(OUT / "lm_signals.json"))
    args = ap.parse_args()
    require_shared()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from curata.embed.sentence_transformer import SentenceTransformerEmbedder
    from curata.engine.pipeline import Pipeline
    from curata.io.fields import pool_from_records
    from curata.scorers.ifd import IFDScorer
    from curata.scorers.instructmining import InstructMiningScorer
    from curata.scorers.judge import JudgeScorer
    from curata.scorers.length import LengthScorer
    from curata.scorers.mtld import MTLDScorer
    from curata.scorers.ppl import PerplexityScorer

    t_start = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_start = [round(x, 2) for x in os.getloadavg()]
    records, meta = build_records(args.tasks, args.lima, args.max_words, args.seed)
    pool = pool_from_records(records)
    rejected = [{"line": r.line, "reason": r.reason, "id": records[r.line - 1]["id"]} for r in pool.rejected]
    print(f"pool: {len(pool)} records ({len(rejected)} rejected: {sorted({r['reason'] for r in rejected})})",
          flush=True)
    lm = {"name": "transformers", "model": args.model, "max_length": 1024, "num_threads": args.threads}
    scorers = [LengthScorer(), MTLDScorer(), PerplexityScorer(lm=lm), IFDScorer(lm=lm)]
    if not args.no_judge:  # the recalled rule's terms all come from the judge
        scorers += [JudgeScorer(lm=lm, max_new_tokens=args.judge_tokens), InstructMiningScorer(lm=lm, use_judge=False)]
    run_dir = Path(args.out).with_suffix("") / "run"
    pipe = Pipeline([SentenceTransformerEmbedder(), *scorers], run_dir=run_dir, seed=args.seed, progress=True)
    pool, ctx, _ = pipe.prepare(pool)
    scored = pool.df.drop(columns=["raw"]).merge(meta, on="id", how="left")
    scored["random_score"] = np.random.default_rng(args.seed + 1).random(len(scored))

    aspects = None
    if not args.no_judge and args.aspects_subset:
        rng = np.random.default_rng(args.seed + 2)
        sub = pool.take(np.sort(rng.choice(len(pool), size=min(args.aspects_subset, len(pool)), replace=False)))
        t0 = time.perf_counter()
        a = JudgeScorer(lm=lm, max_new_tokens=args.judge_tokens,
                        aspects=["naturalness", "coherence", "understandability"]).score(sub, ctx)
        aspects = {"n": len(sub), "seconds": round(time.perf_counter() - t0, 1),
                   "status": a["judge_status"].value_counts().to_dict(),
                   "parsed_share": {c: round(float(a[c].notna().mean()), 3) for c in
                                    ("judge_score", "judge_naturalness", "judge_coherence", "judge_understandability")},
                   "examples": a["judge_raw"].head(3).tolist()}

    results = evaluate(scored, args.bootstrap, args.seed)
    means = per_source_means(scored)
    judge_info = None
    if "judge_status" in scored:
        judge_info = {"status": scored["judge_status"].value_counts().to_dict(),
                      "rating_counts": scored["judge_score"].value_counts(dropna=False).sort_index()
                      .rename(index=str).to_dict()}
    out = {
        "command": "python " + " ".join(sys.argv), "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t_start, 1), "machine": machine(),
        "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "config": vars(args), "lm": lm, "tiers": TIERS, "pool": len(pool), "rejected": rejected,
        "timings": pipe.timings, "notes": ctx.notes, "signals": results,
        "per_source_means": means.reset_index().to_dict(orient="records"),
        "judge": judge_info, "judge_aspects_subset": aspects,
        "ifd": {"set_to_zero": int((scored["ifd_score"] == 0).sum()),
                "issues": scored["ifd_issue"].dropna().str.split(":").str[0].value_counts().to_dict()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    scored.to_parquet(Path(args.out).with_suffix(".parquet"))
    print(markdown(out, means))


def markdown(out: dict, means: pd.DataFrame) -> str:
    rows = [("| signal | coverage | AUROC 003 vs davinci | AUROC LIMA vs davinci | AUROC InstructGPT vs tiers 0–1 "
             "| Spearman (tier) | Spearman within task |"), "|---|---|---|---|---|---|---|"]
    keys = ("auroc_strong_vs_weak", "auroc_lima_vs_weak", "auroc_instructgpt_vs_tiers01", "spearman_tier",
            "spearman_tier_within_task")
    for r in out["signals"].values():
        cells = [f"{r[k]:.3f} [{r['ci95'][k][0]:.2f}, {r['ci95'][k][1]:.2f}]" if np.isfinite(r[k]) else "n/a"
                 for k in keys]
        rows.append(f"| {r['label']} | {r['coverage']:.2f} | " + " | ".join(cells) + " |")
    head = ["source", *means.columns]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table += ["| " + " | ".join([str(i), *(f"{v:g}" for v in r)]) + " |"
              for i, r in zip(means.index, means.to_numpy(), strict=True)]
    return "\n".join(rows) + "\n\nPer source, in tier order:\n\n" + "\n".join(table) + "\n"


if __name__ == "__main__":
    main()
