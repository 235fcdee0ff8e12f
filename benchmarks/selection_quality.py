"""Selection quality: every selector vs random (same size, several seeds) vs the full pool.

For each dataset (SST-2, TREC-6, MR, SMS spam, Amazon-Google, DBLP-ACM), clean and with injected
symmetric label noise, at each budget: train the chosen trainer on each selector's subset, on random
subsets and on the full pool; evaluate on the official (or a seeded) test split. Scores are computed
once per pool (cached under benchmarks/out/quality/) and shared by all selectors.

Two baselines separate where the default's gain comes from (both drawn with the evaluation seed):
``cleanlab_random`` drops what ``cleanlab.filter.find_label_issues`` (default arguments) flags on the same
out-of-fold probabilities curata's proxy computed, then draws a uniform subset of the default's size;
``random_label_counts`` draws uniformly inside each label with exactly the default's per-label counts.

    .venv/bin/python benchmarks/selection_quality.py --datasets sst2,trec6 --noise 0,0.2 \
        --budgets 0.05,0.1,0.25 --seeds 5 --trainer logreg [--embedder static]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import DATASETS, OUT, materialise  # noqa: E402

from curata.config import load_recipe  # noqa: E402
from curata.engine import registry  # noqa: E402
from curata.engine.budget import Budget  # noqa: E402
from curata.engine.evaluate import Arm, evaluate_pool, primary_column, random_arm, select_arm, summarise  # noqa: E402
from curata.engine.pipeline import Pipeline  # noqa: E402
from curata.engine.read import Read  # noqa: E402
from curata.engine.select import ExcludeRule, Select  # noqa: E402

SCORERS = ["length", "mtld", "exact_dup", "nn_sim", "near_dup", "proxy", "knn_agreement", "kmeans", "label_issues"]
DEDUP = [ExcludeRule("exact_dup_score > 0", "exact duplicate"), ExcludeRule("near_dup_score > 0", "near duplicate")]
#: the default's two decomposition baselines (see the module docstring)
BASELINES = ("cleanlab_random", "random_label_counts")


def recipe_rules(rules: list[dict]) -> list[ExcludeRule]:
    """A recipe's ``exclude`` entries as rules, with every option the rule class knows (caps, order...)."""
    known = {f.name for f in dataclasses.fields(ExcludeRule)}
    return [ExcludeRule(**{k: v for k, v in r.items() if k in known}) for r in rules]


def default_select() -> tuple[dict, list[ExcludeRule], dict]:
    """The balanced recipe's selector, rules and other ``Select`` options (``label_floor``): what `curata select`
    does without --recipe."""
    sel = load_recipe("balanced")["select"]
    return sel["selector"], recipe_rules(sel["exclude"]), {k: sel[k] for k in ("label_floor",) if k in sel}


def make_select(sel, budget, rules: list[ExcludeRule], options: dict | None = None) -> Select:
    return Select(sel, budget, exclude=rules, **(options or {}))


def cleanlab_arm(pool, size_of) -> Arm:
    """cleanlab's ``find_label_issues`` (default arguments) on the proxy's out-of-fold probabilities, flagged
    records dropped, then a uniform subset of ``size_of(budget, seed)`` records drawn with the evaluation seed."""
    from cleanlab.filter import find_label_issues

    probs = np.stack(pool.df["proxy_probs"].to_numpy()).astype(np.float64)
    issues = np.asarray(find_label_issues(pool.label_indices(), probs), dtype=bool)
    keep = np.flatnonzero(~issues)

    def rows(budget: Budget, seed: int) -> np.ndarray:
        rng = np.random.default_rng(10_000 + seed)
        return np.sort(rng.choice(keep, size=min(size_of(budget, seed), len(keep)), replace=False))
    rows.flagged = issues
    return rows


def label_counts_arm(pool, ref: Arm) -> Arm:
    """Uniform inside each label, with exactly the per-label counts of ``ref``'s selection (evaluation seed)."""
    codes = pool.label_indices()

    def rows(budget: Budget, seed: int) -> np.ndarray:
        counts = np.bincount(codes[ref(budget, seed)], minlength=len(pool.label_names))
        rng = np.random.default_rng(10_000 + seed)
        parts = [rng.choice(np.flatnonzero(codes == c), size=int(k), replace=False) for c, k in enumerate(counts) if k]
        return np.sort(np.concatenate(parts)) if parts else np.array([], dtype=np.int64)
    return rows


def selectors() -> dict[str, tuple[dict, list[ExcludeRule], dict]]:
    d_sel, d_rules, d_opts = default_select()
    arms = {
        "default": (d_sel, d_rules, d_opts),
        "topk_quality": ({"name": "topk", "by": "proxy_prob:1, knn_agreement:0.5"}, DEDUP),
        "stratified": ({"name": "stratified"}, DEDUP),
        "cluster_balanced": ({"name": "cluster_balanced"}, DEDUP),
        "kcenter": ({"name": "kcenter"}, DEDUP),
        "facility_location": ({"name": "facility_location"}, DEDUP),
        "facility_by_label": ({"name": "facility_location", "stratify": "label"}, DEDUP),
        "bandit_ucb1": ({"name": "bandit", "policy": "ucb1", "reward": "proxy_prob"}, DEDUP),
        "bandit_exp3": ({"name": "bandit", "policy": "exp3", "reward": "proxy_prob"}, DEDUP),
        "bandit_thompson": ({"name": "bandit", "policy": "thompson", "reward": "proxy_prob"}, DEDUP),
    }
    return {k: v if len(v) == 3 else (*v, {}) for k, v in arms.items()}


def embedder(name: str):
    if name == "static":
        return registry.build("embedder", "static")
    return registry.build("embedder", "sentence_transformer", {"model": name})


def train_features(pool_path, test, emb_name: str, run_dir, progress: bool):
    """(pool features, test features) from another embedder: selection keeps its own embeddings, the trainer
    reads these — separates what a cheap embedder costs the *selection* from what it costs the *classifier*."""
    pipe = Pipeline([Read(pool_path), embedder(emb_name)], run_dir=run_dir, seed=0, progress=progress,
                    cache_dir=OUT / "cache")
    pipe.force_embed = True  # no scorer asks for embeddings: embed anyway
    pool, _, _ = pipe.prepare()
    test = test.take(np.arange(len(test)))
    pipe.embed_step().pool(test, desc="embed test")
    return pool, test.features


def run_one(dataset: str, noise: float, budgets: list[Budget], seeds: int, trainer: dict, emb_name: str,
            only: list[str] | None, progress: bool, full_seeds: int | None = None,
            train_emb: str | None = None) -> pd.DataFrame:
    pool_path, test_path, flip = materialise(dataset, noise)
    tag = f"{dataset}-noise{int(noise * 100)}-{emb_name}"
    eval_tag = f"-train-{train_emb}" if train_emb else ""
    run_dir = OUT / "quality" / tag
    stages = [Read(pool_path), embedder(emb_name), *[registry.build("scorer", s) for s in SCORERS]]
    pipe = Pipeline(stages, run_dir=run_dir, seed=0, progress=progress, cache_dir=OUT / "cache")
    t0 = time.perf_counter()
    pool, ctx, _ = pipe.prepare()
    prep_s = time.perf_counter() - t0
    test, _ = pipe._read(Read(test_path), "test", known_labels=pool.label_names, task=pool.task)
    pipe.embed_step().pool(test, desc="embed test")
    arms = {}
    baselines = [a for a in BASELINES if not only or a in only or "default" in only]
    for name, (spec, rules, opts) in selectors().items():
        if only and name not in only and not (name == "default" and baselines):
            continue
        spec = dict(spec)
        sel = registry.build("selector", spec.pop("name"), spec)
        arms[name], _ = select_arm(pool, ctx, lambda b, sel=sel, rules=rules, opts=opts: make_select(sel, b, rules, opts))
    arms["random"] = random_arm(len(pool), lambda b, s: b.max_records(len(pool)))
    if "cleanlab_random" in baselines:
        arms["cleanlab_random"] = cleanlab_arm(pool, lambda b, s: len(arms["default"](b, s)))
    if "random_label_counts" in baselines:
        arms["random_label_counts"] = label_counts_arm(pool, arms["default"])
    if train_emb:
        other, test_features = train_features(pool_path, test, train_emb, OUT / "quality" / f"{tag}{eval_tag}",
                                              progress)
        if other.df["id"].tolist() != pool.df["id"].tolist():
            raise SystemExit(f"{dataset}: the two embedders' pools differ")
        pool.features, test.features = other.features, test_features
    tspec = dict(trainer)
    tcls = registry.get("trainer", tspec.pop("name"))
    res = evaluate_pool(pool, test, arms, budgets, seeds, lambda: tcls(**tspec), full=True,
                        results_path=run_dir / f"eval-{tcls.name}{eval_tag}.jsonl", progress=progress,
                        full_seeds=full_seeds)
    res["dataset"], res["noise"], res["embedder"] = dataset, noise, emb_name + (f" (train {train_emb})" if train_emb else "")
    # how much injected noise each arm's selection carries (selection purity), for the noisy variants
    if noise > 0:
        flips = []
        for name, arm in arms.items():
            for b in budgets:
                rows = arm(b, 0)
                flips.append({"arm": name, "budget_spec": str(b), "noisy_share": float(flip[rows].mean())})
        res = res.merge(pd.DataFrame(flips), on=["arm", "budget_spec"], how="left")
    if "cleanlab_random" in arms:
        flagged = arms["cleanlab_random"].flagged
        res["cleanlab_flagged"] = int(flagged.sum())
        res["cleanlab_flag_precision"] = float(flip[flagged].mean()) if noise > 0 and flagged.any() else np.nan
    res["prepare_seconds"] = prep_s
    return res


def goal_check(res: pd.DataFrame, budget: str = "0.1 of the pool") -> str:
    """The issue's goal: default beats random at 10% by >= 2 points (noisy), within 1 point of full (clean)."""
    lines = ["| dataset | noise | default @10% | random @10% | default − random | full data | default − full | goal |",
             "|---|---|---|---|---|---|---|---|"]
    for (ds, noise, emb), g in res.groupby(["dataset", "noise", "embedder"], sort=False):
        t = summarise(g).set_index(["budget_spec", "arm"])
        if (budget, "default") not in t.index or (budget, "random") not in t.index:
            continue
        d, r = t.loc[(budget, "default"), "mean"], t.loc[(budget, "random"), "mean"]
        full = t.xs("full", level="arm")["mean"].iloc[0] if "full" in t.index.get_level_values(1) else float("nan")
        if noise > 0:
            ok = "met" if d - r >= 0.02 else "NOT met"
            goal = f"gain ≥ 2: {ok}"
        else:
            ok = "met" if d >= full - 0.01 else "NOT met"
            goal = f"within 1 of full: {ok}"
        lines.append(f"| {ds} | {int(noise * 100)}% | {d:.4f} | {r:.4f} | {(d - r) * 100:+.1f} | {full:.4f} | "
                     f"{(d - full) * 100:+.1f} | {goal} |")
    return "\n".join(lines)


def paired(res: pd.DataFrame, arm: str, other: str, budget: str) -> tuple[float, int, int]:
    """(mean of arm − other over the seeds both have, seeds where arm is ahead, seeds compared)."""
    col = primary_column(res)
    a = res[(res["arm"] == arm) & (res["budget_spec"] == budget)].set_index("seed")[col]
    b = res[(res["arm"] == other) & (res["budget_spec"] == budget)].set_index("seed")[col]
    d = (a - b).dropna()
    return float(d.mean()) if len(d) else float("nan"), int((d > 0).sum()), int(len(d))


def margins(res: pd.DataFrame, arm: str = "default", others=("random", *BASELINES)) -> str:
    """The default's margin over each baseline at every budget, paired by seed (points; seeds ahead / seeds)."""
    lines = [f"| dataset | noise | budget | {arm} | " + " | ".join(f"− {o}" for o in others) + " |",
             "|---|---|---|---|" + "---|" * len(others)]
    for (ds, noise, emb), g in res.groupby(["dataset", "noise", "embedder"], sort=False):
        t = summarise(g).set_index(["budget_spec", "arm"])
        for b in [b for b in g["budget_spec"].unique() if b != "1 of the pool"]:
            if (b, arm) not in t.index:
                continue
            cells = []
            for o in others:
                m, won, n = paired(g, arm, o, b)
                cells.append(f"{m * 100:+.1f} ({won}/{n})" if n else "")
            lines.append(f"| {ds} | {int(noise * 100)}% | {b.split()[0]} | {t.loc[(b, arm), 'mean']:.4f} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(res: pd.DataFrame) -> str:
    lines = ["\n##### Goal check (points are ×100 of the primary metric)\n", goal_check(res)]
    if {"default", *BASELINES} <= set(res["arm"]):
        lines += ["\n##### The default's margins (points ×100; paired by seed: seeds where the default is ahead)\n",
                  margins(res)]
        if "cleanlab_flagged" in res.columns:
            lines += ["\ncleanlab `find_label_issues` flags (out of the pool; share of them injected flips): "
                      + "; ".join(f"{ds} {int(nz * 100)}%: {int(g['cleanlab_flagged'].iloc[0])}"
                                  + (f" ({g['cleanlab_flag_precision'].iloc[0]:.0%})" if nz > 0 else "")
                                  for (ds, nz), g in res.groupby(["dataset", "noise"], sort=False))]
    for (ds, noise, emb), g in res.groupby(["dataset", "noise", "embedder"], sort=False):
        t = summarise(g)
        metric = t["metric"].iloc[0]
        full = t[t["arm"] == "full"]
        full_txt = f"{full['mean'].iloc[0]:.4f} ± {full['std'].iloc[0]:.4f}" if len(full) else "n/a"
        lines.append(f"\n#### {ds}, {int(noise * 100)}% label noise ({emb}; metric {metric}; full data {full_txt})\n")
        budgets = [b for b in t["budget_spec"].unique() if b != "1 of the pool"]
        lines.append("| selector | " + " | ".join(budgets) + " |")
        lines.append("|---|" + "---|" * len(budgets))
        for arm in [a for a in t["arm"].unique() if a != "full"]:
            cells = []
            for b in budgets:
                r = t[(t["arm"] == arm) & (t["budget_spec"] == b)]
                if not len(r):
                    cells.append("")
                    continue
                r = r.iloc[0]
                gain = "" if arm == "random" else f" ({r['gain_vs_random'] * 100:+.1f})"
                cells.append(f"{r['mean']:.4f} ± {r['std']:.4f}{gain}")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--noise", default="0,0.2")
    ap.add_argument("--budgets", default="0.05,0.1,0.25")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trainer", default="logreg")
    ap.add_argument("--trainer-params", default="{}", help="JSON of trainer parameters")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--train-embedder", default=None, help="train on this embedder's features (select with --embedder)")
    ap.add_argument("--selectors", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--full-seeds", type=int, default=None, help="seeds for the full-pool baseline")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    budgets = [Budget.parse(b) for b in a.budgets.split(",")]
    trainer = {"name": a.trainer, **json.loads(a.trainer_params)}
    only = [s for s in a.selectors.split(",") if s] or None
    frames = []
    t0 = time.perf_counter()
    for ds in a.datasets.split(","):
        for noise in (float(x) for x in a.noise.split(",")):
            t1 = time.perf_counter()
            frames.append(run_one(ds, noise, budgets, a.seeds, trainer, a.embedder, only, not a.quiet,
                                  a.full_seeds, a.train_embedder))
            print(f"{ds} noise={noise}: {time.perf_counter() - t1:.0f}s", flush=True)
    res = pd.concat(frames, ignore_index=True)
    name = (f"quality-{a.trainer}-{a.embedder}{('-train-' + a.train_embedder) if a.train_embedder else ''}"
            f"{('-' + a.tag) if a.tag else ''}")
    res.to_parquet(OUT / f"{name}.parquet", index=False)
    md = (f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}`  \nDate: {time.strftime('%Y-%m-%d')}; "
          f"machine: {platform.machine()}, {os.cpu_count()} cores; wall time {time.perf_counter() - t0:.0f}s\n"
          + markdown(res))
    (OUT / f"{name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
