"""Tokens per second of perplexity/IFD-style log-likelihood scoring through curata's LM backends.

On instruction/response pairs from ../shared/data/lima, each pair gives the two requests IFD needs:
(chat-formatted instruction, response) and ("", response). For each dtype (float32, bfloat16 autocast),
batch by batch in the same run: curata's ``TransformersLM.loglikelihood`` (tokenising, packing, forward,
log-probs; no cache) and the bare model forward pass ``model(input_ids, attention_mask).logits`` on the
exact tensors of that batch, alternating which goes first (ABBA) because the machine is shared. Then the
bfloat16 mean NLL vs float32, and llama.cpp (``LlamaCppLM``) on the same requests where it is installed.

    .venv/bin/python benchmarks/lm_throughput.py [--n 300] [--max-length 512] [--threads 2] [--rounds 2]

Writes benchmarks/out/lm_throughput.json and benchmarks/results/lm_throughput.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, SHARED, require_shared  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def lima_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rows = [d for d in json.loads((SHARED / "lima" / "lima.json").read_text()) if not d.get("history")]
    random.Random(seed).shuffle(rows)
    return [(d["instruction"], d["output"]) for d in rows[:n]]


def ifd_requests(pairs, tok) -> list[tuple[str, str]]:
    out = []
    for instruction, response in pairs:
        prompt = tok.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                         add_generation_prompt=True)
        out += [(prompt, response), ("", response)]
    return out


def interleaved(lm, requests, rounds: int) -> dict:
    """Time curata vs the bare forward pass batch by batch (ABBA); returns totals and per-request NLLs."""
    import torch

    model, _ = lm.load()
    rows, _ = lm.encode_requests(requests)
    batches = lm.batches(rows)
    n_tokens = sum(len(r["prompt"]) + len(r["cont"]) for r in rows)
    padded = 0
    t_ours = t_bare = 0.0
    results = [None] * len(requests)
    lm.loglikelihood([requests[rows[batches[-1][0]]["i"]]])  # warm-up
    for rnd in range(rounds):
        for bi, batch in enumerate(batches):
            part = [rows[b] for b in batch]
            sub = [requests[r["i"]] for r in part]
            ids, mask, pos = lm.batch_tensors([r["prompt"] + r["cont"] for r in part])
            if rnd == 0:
                padded += ids.numel()

            def ours(sub=sub):
                return lm.loglikelihood(sub)

            def bare(ids=ids, mask=mask, pos=pos):
                with torch.inference_mode(), lm._autocast():
                    return model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits

            order = (ours, bare) if (bi + rnd) % 2 == 0 else (bare, ours)
            for fn in order:
                t0 = time.perf_counter()
                out = fn()
                dt = time.perf_counter() - t0
                if fn is ours:
                    t_ours += dt
                    for r, res in zip(part, out):
                        results[r["i"]] = res
                else:
                    t_bare += dt
    n_tok = n_tokens * rounds
    return {"requests": len(requests), "tokens": n_tokens, "padded_tokens": padded,
            "padding_waste": round(1 - n_tokens / padded, 4), "batches": len(batches), "rounds": rounds,
            "ours_seconds": round(t_ours, 2), "bare_seconds": round(t_bare, 2),
            "ours_tokens_per_s": round(n_tok / t_ours, 1), "bare_tokens_per_s": round(n_tok / t_bare, 1),
            "ratio_ours_over_bare": round(t_bare / t_ours, 3), "results": results}


def nll_summary(results) -> dict:
    cond = np.array([r.mean_nll for r in results[0::2]])
    uncond = np.array([r.mean_nll for r in results[1::2]])
    return {"mean_nll": float(np.mean([r.mean_nll for r in results])), "cond": cond, "uncond": uncond,
            "ifd": cond / uncond, "truncated": int(sum(r.truncated for r in results))}


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="instruction/response pairs (two requests each)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="passes over all batches (timings are summed)")
    ap.add_argument("--tolerance", type=float, default=0.01, help="allowed relative bf16 mean-NLL difference")
    ap.add_argument("--no-llamacpp", action="store_true")
    args = ap.parse_args()
    require_shared()
    from curata.lm.transformers_backend import TransformersLM

    if not args.no_llamacpp and importlib.util.find_spec("llama_cpp"):
        import curata.lm.llamacpp_backend  # noqa: F401  (imported up front: the run takes an hour or more)

    started = datetime.now(UTC)
    report: dict = {"command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "date": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(args.threads),
                    "n_pairs": args.n, "max_length": args.max_length, "batch_size": args.batch_size}
    base = TransformersLM(max_length=args.max_length, batch_size=args.batch_size, num_threads=args.threads)
    requests = ifd_requests(lima_pairs(args.n), base.load()[1])
    summaries = {}
    for dtype in ("float32", "bfloat16"):
        lm = TransformersLM(max_length=args.max_length, batch_size=args.batch_size, num_threads=args.threads,
                            dtype=dtype)
        print(f"[{dtype}] {len(requests)} requests ...", flush=True)
        res = interleaved(lm, requests, args.rounds)
        summaries[dtype] = nll_summary(res.pop("results"))
        res["mean_nll"] = round(summaries[dtype]["mean_nll"], 5)
        res["truncated_requests"] = summaries[dtype]["truncated"]
        report[dtype] = res
        print(json.dumps(res), flush=True)
    f32, b16 = summaries["float32"], summaries["bfloat16"]
    rel = abs(b16["mean_nll"] - f32["mean_nll"]) / f32["mean_nll"]
    per_record = np.abs(b16["cond"] - f32["cond"]) / f32["cond"]
    report["bf16_vs_fp32"] = {
        "mean_nll_rel_diff": round(float(rel), 5), "tolerance": args.tolerance, "within": bool(rel <= args.tolerance),
        "per_record_rel_diff_median": round(float(np.median(per_record)), 5),
        "per_record_rel_diff_max": round(float(per_record.max()), 5),
        "spearman_ppl": round(spearman(f32["cond"], b16["cond"]), 4),
        "spearman_ifd": round(spearman(f32["ifd"], b16["ifd"]), 4),
        "speedup_ours": round(report["bfloat16"]["ours_tokens_per_s"] / report["float32"]["ours_tokens_per_s"], 3)}
    print(json.dumps(report["bf16_vs_fp32"]), flush=True)
    if not args.no_llamacpp and importlib.util.find_spec("llama_cpp"):
        report["llamacpp"] = run_llamacpp(requests, args, f32)
        print(json.dumps(report["llamacpp"]), flush=True)
    else:
        report["llamacpp"] = {"skipped": "llama-cpp-python not installed" if not args.no_llamacpp else "--no-llamacpp"}
    report["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lm_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lm_throughput.md").write_text(markdown(report))
    print(f"wrote {OUT / 'lm_throughput.json'} and {RESULTS / 'lm_throughput.md'}")


def run_llamacpp(requests, args, f32) -> dict:
    from curata.lm.llamacpp_backend import LlamaCppLM

    lm = LlamaCppLM(max_length=args.max_length, num_threads=args.threads)
    lm.load()
    lm.loglikelihood(requests[:2])
    t0 = time.perf_counter()
    res = lm.loglikelihood(requests)
    dt = time.perf_counter() - t0
    ok = [r for r in res if r.error is None]
    tokens = sum(r.n_prompt_tokens + r.n_tokens for r in ok)
    cond = np.array([r.mean_nll for r in res[0::2]])
    return {"requests": len(requests), "errors": len(res) - len(ok), "tokens": tokens, "seconds": round(dt, 2),
            "tokens_per_s": round(tokens / dt, 1), "mean_nll": round(float(np.nanmean([r.mean_nll for r in ok])), 5),
            "spearman_ppl_vs_transformers_fp32": round(spearman(f32["cond"], cond), 4),
            "note": "Q4_1 GGUF weights through llama.cpp (the transformers copy is the same weights dequantised); "
                    "the GGUF adds no BOS, the transformers tokenizer does, so NLLs differ slightly"}


def machine(threads: int) -> dict:
    import torch

    with open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    return {"cpu": cpu, "cores_available": len(os.sched_getaffinity(0)), "threads": threads,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


def markdown(r: dict) -> str:
    m, b, lc = r["machine"], r["bf16_vs_fp32"], r["llamacpp"]
    lines = [
        "## LM scoring throughput (perplexity / IFD log-likelihoods)", "",
        f"Command: `{r['command']}`  ", f"Date: {r['date']}  ",
        (f"Machine: {m['cpu']}, {m['cores_available']} cores shared with other jobs (load average at start "
         f"{m['load_average_at_start'][0]}), {m['threads']} torch thread(s), torch {m['torch']}."), "",
        (f"Workload: {r['n_pairs']} LIMA instruction/response pairs → {r['float32']['requests']} requests (IFD "
         f"needs the response with and without its chat-formatted instruction), max_length {r['max_length']}, "
         f"batch size {r['batch_size']}, SmolLM2-135M-Instruct (the shipped GGUF, dequantised copy). curata = "
         "`TransformersLM.loglikelihood` with the cache off (tokenise, sort by length, pack, forward, float32 "
         "log-probs); bare = `model(input_ids, attention_mask).logits` on the exact padded tensors of the same "
         "batches. Timed batch by batch in one process, alternating which runs first (ABBA)."), "",
        "| backend | tokens | padding waste | curata tok/s | bare forward tok/s | curata / bare |",
        "|---|---:|---:|---:|---:|---:|"]
    for d in ("float32", "bfloat16"):
        x = r[d]
        lines.append(f"| transformers {d} | {x['tokens']:,} | {x['padding_waste']:.1%} | "
                     f"{x['ours_tokens_per_s']:,.0f} | {x['bare_tokens_per_s']:,.0f} | "
                     f"{x['ratio_ours_over_bare']:.2f} |")
    if "tokens_per_s" in lc:
        lines.append(f"| llama.cpp (Q4_1) | {lc['tokens']:,} | none (one sequence at a time) | "
                     f"{lc['tokens_per_s']:,.0f} | – | – |")
    met = {d: r[d]["ratio_ours_over_bare"] >= 0.8 for d in ("float32", "bfloat16")}
    lines += ["", (f"Goal (curata ≥ 80% of the bare forward pass): float32 {'met' if met['float32'] else 'NOT met'}, "
                   f"bfloat16 {'met' if met['bfloat16'] else 'NOT met'}. curata runs the LM head only on the "
                   "positions it scores (left padding + `logits_to_keep`), which the bare pass does not, and pays "
                   "for tokenising, packing and the float32 log-softmax (in cache-sized chunks), which the bare "
                   "pass does not.")]
    lines += ["", (f"bfloat16 autocast vs float32: mean NLL differs by {b['mean_nll_rel_diff']:.2%} (tolerance "
                   f"{b['tolerance']:.0%}: {'within' if b['within'] else 'NOT within'}); per record median "
                   f"{b['per_record_rel_diff_median']:.2%}, max {b['per_record_rel_diff_max']:.2%}; Spearman "
                   f"between the two of response perplexity {b['spearman_ppl']:.4f} and of IFD "
                   f"{b['spearman_ifd']:.4f}; bfloat16 speed-up {b['speedup_ours']:.2f}×.")]
    if "tokens_per_s" in lc:
        lines += ["", (f"llama.cpp: Spearman of response perplexity vs transformers float32 "
                       f"{lc['spearman_ppl_vs_transformers_fp32']:.4f} ({lc['note']}).")]
    else:
        lines += ["", f"llama.cpp: {lc.get('skipped')}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
