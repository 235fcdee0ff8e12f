"""Tables of the instruction selection benchmark → benchmarks/out/instruction_selection.json and the markdown
section benchmarks/results/instruction_selection.md (numbers only; the prose lives in the .md template below)."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench_data import OUT

RESULTS = Path(__file__).resolve().parent / "results" / "instruction_selection.md"
TARGETS = (("loss_gsm8k", "GSM8K test"), ("loss_lima", "LIMA held-out"), ("loss_all", "both"))


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def selection_table(res: pd.DataFrame) -> tuple[list[dict], str]:
    """Per budget and arm: mean ± std of each target loss; for signals, the gap to random and seeds beaten."""
    rows, lines = [], []
    head = "| budget | k | arm | " + " | ".join(n for _, n in TARGETS) + " | Δ both vs random | beats random seeds |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for b in sorted(res["budget"].unique()):
        at = res[res["budget"] == b]
        rnd = at[at["arm"] == "random"]
        for arm in sorted(at["arm"].unique(), key=lambda a: (a != "random", a)):
            g = at[at["arm"] == arm]
            row = {"budget": float(b), "k": int(g["k"].iloc[0]), "arm": arm, "n": int(len(g))}
            cells = []
            for col, _ in TARGETS:
                m, s = float(g[col].mean()), float(g[col].std(ddof=1)) if len(g) > 1 else 0.0
                row[col] = {"mean": m, "std": s}
                cells.append(f"{m:.4f} ± {s:.4f}" if len(g) > 1 else f"{m:.4f}")
            if arm not in ("random", "full", "base") and len(rnd):
                delta = float(g["loss_all"].mean() - rnd["loss_all"].mean())
                beaten = int((g["loss_all"].mean() < rnd["loss_all"]).sum())
                row.update(delta_vs_random=delta, random_seeds_beaten=beaten, random_seeds=int(len(rnd)))
                extra = [f"{delta:+.4f}", f"{beaten}/{len(rnd)}"]
            else:
                extra = ["–", "–"]
            rows.append(row)
            label = f"{b:.0%}" if arm not in ("full", "base") else ("100%" if arm == "full" else "0 (no fine-tune)")
            lines.append(f"| {label} | {row['k']:,} | {arm}{f' ({len(g)} seeds)' if len(g) > 1 else ''} | "
                         + " | ".join(cells) + " | " + " | ".join(extra) + " |")
    return rows, "\n".join(lines)


def rule_table(rule: dict) -> str:
    lines = ["| term | coefficient | SE | t | p |", "|---|---:|---:|---:|---:|"]
    for name, c in rule["coefficients"].items():
        lines.append(f"| {name} | {c:+.4f} | {rule['standard_errors'][name]:.4f} | {rule['t_values'][name]:+.2f} | "
                     f"{rule['p_values'][name]:.3g} |")
    full = rule.get("full_model") or {}
    if full.get("terms"):
        lines += ["", "Full model before selection (all indicators):", "",
                  "| term | coefficient | SE | p |", "|---|---:|---:|---:|"]
        lines += [f"| {t['name']} | {t['coef']:+.4f} | {t['se']:.4f} | {t['p']:.3g} |" for t in full["terms"]]
        lines.append(f"\nR² {full['r2']:.3f} (adjusted {full['adj_r2']:.3f}).")
    return "\n".join(lines)


def trace_table(dd: dict) -> str:
    pts = {t["k"]: (t["loss"], "trial " + str(t["trial"])) for t in dd["trials"] if not t.get("cached")}
    pts.update({g["k"]: (g["loss"], "selection benchmark") for g in dd.get("given", [])})
    lines = ["| k | eval loss (both targets) | from |", "|---:|---:|---|"]
    lines += [f"| {k:,} | {v[0]:.4f} | {v[1]} |" for k, v in sorted(pts.items())]
    if dd.get("full_pool"):
        lines.append(f"| {dd['full_pool']['k']:,} (full pool) | {dd['full_pool']['loss']:.4f} | selection benchmark |")
    return "\n".join(lines)


def collect(here: Path) -> dict:
    res = pd.DataFrame(_read(here / "select.jsonl"))
    out = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    for name in ("build", "score", "dtype"):
        p = (here / "data" / "build.json") if name == "build" else here / f"{name}.json"
        out[name] = json.loads(p.read_text()) if p.exists() else None
    out["rule"] = json.loads((here / "rule.json").read_text()) if (here / "rule.json").exists() else None
    dd = OUT / "double_descent.json"
    out["double_descent"] = json.loads(dd.read_text()) if dd.exists() else None
    if len(res):
        out["selection"], out["selection_md"] = selection_table(res)
        ft = res[res["arm"] != "base"]
        out["throughput"] = {"tokens_per_s_mean": float(ft["tokens_per_s"].mean()),
                             "padding_waste_mean": float(ft["padding_waste"].mean()),
                             "fine_tunes": int(len(ft)), "train_hours": float(ft["train_seconds"].sum() / 3600),
                             "truncated_share": float((ft["truncated"] / ft["k"]).mean())}
        em = res[res.get("gsm8k_em", pd.Series(dtype=float)).notna()] if "gsm8k_em" in res else res.iloc[:0]
        out["gsm8k_em"] = {r["arm"]: {"em": r["gsm8k_em"], "n": r["gsm8k_em_n"]} for _, r in em.iterrows()}
    return out


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)), "load_average": os.getloadavg(), "torch": torch.__version__}


def write_report(here: Path, args) -> dict:
    out = collect(here)
    (OUT / "instruction_selection.json").write_text(json.dumps({k: v for k, v in out.items() if k != "selection_md"},
                                                               indent=1, default=str))
    print(out.get("selection_md", "no selection results yet"))
    if out.get("rule"):
        print(rule_table(out["rule"]))
    if out.get("double_descent"):
        print(trace_table(out["double_descent"]))
    print(json.dumps({k: out.get(k) for k in ("throughput", "gsm8k_em", "dtype")}, indent=1, default=str))
    return out
