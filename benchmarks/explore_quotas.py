"""Per-label quotas for the default, chosen on a development split (not on the test set).

Each dataset's test set is split, stratified by label and seeded, into a dev half and a test half. Every variant
runs the balanced recipe's exclusions, then facility location inside each label with other quotas — ``sqrt``
(the recipe's selector), ``proportional``, ``balanced``, ``proportional`` + ``floor: 0.25``, ``sqrt`` + ``floor:
0.25`` — each also with ``prefer: proxy_prob, prefer_share: 0.5`` (``+conf``: the greedy chooses among the more
confident half of each label first). The recipe's select-level ``label_floor`` is off for the variants (their quotas
are the thing tested); arm ``recipe`` is the balanced recipe exactly as it stands, for reference. Baselines (5
seeds): ``random`` and ``cleanlab_random`` (cleanlab ``find_label_issues`` on the proxy's out-of-fold probabilities,
flagged dropped, then uniform) of the variants' selection size, and ``rlc:<variant>`` (uniform inside each label
with that variant's per-label counts). Logistic regression on frozen MiniLM; each model is scored on the dev half,
the test half and the whole test set. One variant is chosen per suite (text; text + pairs) by its mean dev score
over all (dataset, noise, budget) cells; its *test-half* numbers are the result. ``noise_adaptive`` (sqrt when the
pool's estimated label noise ``label_noise_rate`` is below 0.2, else prop_floor+conf) was added after the first text
run had been read, so it is reported beside the choice, never eligible for it. ``--rules uncapped`` runs every
arm but ``recipe`` with the recipe's exclusions minus their per-label cap (``max_share_per_label``); the default
runs both conditions, one section each.

    .venv/bin/python benchmarks/explore_quotas.py                     # all six datasets, 0 and 20% noise
    .venv/bin/python benchmarks/explore_quotas.py --datasets sst2,trec6,mr,sms --write benchmarks/results/selection_quotas.md

Models are cached in benchmarks/out/quotas/*.jsonl keyed by pool, test set, features and selected rows, so a re-run
after a scorer change retrains only what moved.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
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
from selection_quality import SCORERS, cleanlab_arm, default_select, embedder, label_counts_arm  # noqa: E402

from curata.engine import registry  # noqa: E402
from curata.engine.budget import Budget  # noqa: E402
from curata.engine.evaluate import evaluation_context, select_arm  # noqa: E402
from curata.engine.pipeline import Pipeline  # noqa: E402
from curata.engine.read import Read  # noqa: E402
from curata.engine.select import Select  # noqa: E402
from curata.train.metrics import classification_metrics  # noqa: E402

QUOTAS = {"sqrt": {"allocation": "sqrt"}, "proportional": {"allocation": "proportional"},
          "balanced": {"allocation": "balanced"}, "prop_floor": {"allocation": "proportional", "floor": 0.25},
          "sqrt_floor": {"allocation": "sqrt", "floor": 0.25}}
CONF = {"prefer": "proxy_prob", "prefer_share": 0.5}
VARIANTS = {**QUOTAS, **{f"{k}+conf": {**v, **CONF} for k, v in QUOTAS.items()}}
TODAY = "sqrt"  # the recipe's selector before this probe
ADAPTIVE = ("noise_adaptive", "sqrt", "prop_floor+conf", 0.2)  # (name, below the noise threshold, at or above it, threshold)
SUITES = {"text": ("sst2", "trec6", "mr", "sms"), "pairs": ("amazon_google", "dblp_acm")}
HALVES = ("dev", "test", "all")
CONDITIONS = {"recipe": "as in the balanced recipe",
              "uncapped": "the recipe's rules without any max_share_per_label cap (arm `recipe` stays the recipe)"}
NOTES = "<!-- notes: hand-written, kept by re-runs -->"


def prepare(ds: str, noise: float, progress: bool):
    pool_path, test_path, flip = materialise(ds, noise)
    run_dir = OUT / "quality" / f"{ds}-noise{int(noise * 100)}-minilm"
    stages = [Read(pool_path), embedder("minilm"), *[registry.build("scorer", s) for s in SCORERS]]
    pipe = Pipeline(stages, run_dir=run_dir, seed=0, progress=progress, cache_dir=OUT / "cache")
    pool, ctx, _ = pipe.prepare()
    test, _ = pipe._read(Read(test_path), "test", known_labels=pool.label_names, task=pool.task)
    pipe.embed_step().pool(test, desc="embed test")
    return pool, ctx, test, flip


def split_halves(y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Dev and test halves of the test set, stratified by label (seeded), plus the whole set."""
    rng = np.random.default_rng(seed)
    dev = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        dev[idx[:len(idx) // 2]] = True
    return {"dev": np.flatnonzero(dev), "test": np.flatnonzero(~dev), "all": np.arange(len(y))}


def fixed_arm(pool, ctx, factory):
    """A deterministic selection (facility location, no select-level floor): one run per budget, every seed."""
    arm, _ = select_arm(pool, ctx, factory)
    return lambda b, s: arm(b, 0)


def condition_rules(rules: list, condition: str) -> list:
    """The recipe's rules (``recipe``), or the same without their per-label cap (``uncapped``)."""
    if condition == "recipe":
        return rules
    return [dataclasses.replace(r, max_share_per_label=None) if hasattr(r, "max_share_per_label") else r
            for r in rules]


def build_arms(pool, ctx, only: list[str] | None, condition: str) -> dict:
    d_sel, recipe_rules, d_opts = default_select()
    d_rules = condition_rules(recipe_rules, condition)
    off = {"label_floor": 0.0} if "label_floor" in inspect.signature(Select).parameters else {}
    arms = {}
    for name, opts in VARIANTS.items():
        if only and name not in only and name != TODAY:
            continue
        spec = {**d_sel, "stratify": "label", **opts}
        spec.pop("name")
        sel = registry.build("selector", "facility_location", spec)
        arms[name] = fixed_arm(pool, ctx, lambda b, sel=sel: Select(sel, b, exclude=d_rules, **off))
    name, low, high, at = ADAPTIVE
    if low in arms and high in arms:
        rate = pool.df["label_noise_rate"].iloc[0] if "label_noise_rate" in pool.df.columns else np.nan
        arms[name] = arms[high if rate >= at else low]
    spec = dict(d_sel)
    sel = registry.build("selector", spec.pop("name"), spec)
    arms["recipe"], _ = select_arm(pool, ctx, lambda b: Select(sel, b, exclude=recipe_rules, **d_opts))
    size = arms[TODAY]
    arms["random"] = lambda b, s: np.sort(np.random.default_rng(10_000 + s).choice(
        len(pool), size=len(size(b, s)), replace=False))
    arms["cleanlab_random"] = cleanlab_arm(pool, lambda b, s: len(size(b, s)))
    for name in [v for v in VARIANTS if v in arms]:
        arms[f"rlc:{name}"] = label_counts_arm(pool, arms[name])
    return arms


def evaluate(pool, test, arms: dict, budgets: list[Budget], seeds: int, halves: dict, flip: np.ndarray,
             path: Path, progress: bool) -> pd.DataFrame:
    """One row per (budget, arm, seed): primary metric on each half, selection size, label counts, noisy share.
    Resumes from ``path``; a deterministic trainer is fitted once per distinct set of rows."""
    tcls = registry.get("trainer", "logreg")
    context = evaluation_context(pool, test, tcls())
    done, fitted, out = {}, {}, []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            r = json.loads(line)
            done[r["key"]] = r
            if r["key"].startswith(context):  # the same rows under another arm's name: no second fit
                fitted[r["key"].rsplit("|", 1)[1]] = {h: r[h] for h in HALVES}
        except (json.JSONDecodeError, KeyError):
            continue
    y = test.label_indices(pool.label_names)
    codes = pool.label_indices()
    t0, n_fit = time.perf_counter(), 0
    for b in budgets:
        for name, arm in arms.items():
            for s in range(seeds):
                rows = arm(b, s)
                sig = hashlib.sha1(rows.tobytes()).hexdigest()[:16]
                key = f"{context}|{b.kind}:{b.value}|{name}|{s}|{sig}"
                if key in done:
                    out.append(done[key])
                    continue
                if sig not in fitted:
                    proba = tcls().fit(pool.take(rows), seed=s, progress=False).predict_proba(test)
                    fitted[sig] = {h: classification_metrics(y[i], proba[i], pool.label_names, pool.task)["f1"]
                                   for h, i in halves.items()}
                    n_fit += 1
                counts = np.bincount(codes[rows], minlength=len(pool.label_names))
                rec = {"key": key, "budget": b.value, "arm": name, "seed": s, "n_train": int(len(rows)),
                       **fitted[sig], "noisy_share": float(flip[rows].mean()) if len(rows) else np.nan,
                       "counts": dict(zip(map(str, pool.label_names), counts.tolist()))}
                out.append(rec)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
    if progress:
        print(f"  {n_fit} models fitted in {time.perf_counter() - t0:.0f}s", flush=True)
    return pd.DataFrame(out)


def run(datasets: list[str], noises: list[float], budgets: list[Budget], seeds: int, split_seed: int,
        only, condition: str, progress: bool) -> pd.DataFrame:
    frames = []
    for ds in datasets:
        for noise in noises:
            t0 = time.perf_counter()
            pool, ctx, test, flip = prepare(ds, noise, progress)
            halves = split_halves(test.label_indices(pool.label_names), split_seed)
            arms = build_arms(pool, ctx, only, condition)
            tag = "" if condition == "recipe" else f"-{condition}"
            path = OUT / "quotas" / f"{ds}-noise{int(noise * 100)}-split{split_seed}{tag}.jsonl"
            res = evaluate(pool, test, arms, budgets, seeds, halves, flip, path, progress)
            res["dataset"], res["noise"] = ds, noise
            res["cleanlab_flagged"] = int(arms["cleanlab_random"].flagged.sum())
            res["smallest"] = str(pool.label_names[int(np.argmin(np.bincount(pool.label_indices())))])
            rules = condition_rules(default_select()[1], condition)
            res["candidates"] = int((~Select(None, 0.1, exclude=rules).apply_exclusions(pool.df, [])[0]).sum())
            res["pool"] = len(pool)
            res["noise_est"] = float(pool.df["label_noise_rate"].iloc[0]) if "label_noise_rate" in pool.df else np.nan
            frames.append(res)
            print(f"{ds} noise={noise} ({condition}): {time.perf_counter() - t0:.0f}s", flush=True)
    return pd.concat(frames, ignore_index=True)

def wide(res: pd.DataFrame, half: str) -> pd.DataFrame:
    """Scores on ``half``: one row per (dataset, noise, budget, seed), one column per arm."""
    return res.pivot_table(index=["dataset", "noise", "budget", "seed"], columns="arm", values=half)


def margin(w: pd.DataFrame, arm: str, other: str, cells=None) -> pd.Series:
    """``arm − other`` per cell, as text: points and the seeds where ``arm`` is ahead."""
    d = (w[arm] - w[other]).groupby(level=[0, 1, 2], sort=False)
    m, won, n = d.mean(), d.apply(lambda x: int((x > 0).sum())), d.count()
    out = pd.Series([f"{a * 100:+.1f} ({b}/{c})" for a, b, c in zip(m, won, n)], index=m.index)
    return out if cells is None else out.reindex(cells)


def choose(m_dev: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Per variant over the cells (dev scores, seeds averaged): mean score, mean and worst margin over
    cleanlab_random (points), mean rank among ``variants``; best mean score first (the choice rule)."""
    cl = m_dev[variants].sub(m_dev["cleanlab_random"], axis=0) * 100
    t = pd.DataFrame({"mean dev score": m_dev[variants].mean(), "− sqrt": (m_dev[variants].sub(
        m_dev["sqrt"], axis=0)).mean() * 100, "− cleanlab_random": cl.mean(), "worst cell − cleanlab_random": cl.min(),
        "mean rank": m_dev[variants].rank(axis=1, ascending=False).mean()})
    return t.sort_values(["mean dev score", "mean rank"], ascending=[False, True])


def md_table(df: pd.DataFrame, fmt: str = "{:.4f}") -> str:
    names = [n or "" for n in df.index.names]
    lines = ["| " + " | ".join(names + [str(c) for c in df.columns]) + " |", "|" + "---|" * (len(names) + df.shape[1])]
    for idx, row in df.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        lines.append("| " + " | ".join([str(i) for i in idx] + [fmt.format(v) if isinstance(v, float) else str(v)
                                                                  for v in row]) + " |")
    return "\n".join(lines)


def nice(index: pd.MultiIndex) -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples([(d, f"{int(n * 100)}%", f"{b:g}") for d, n, b in index],
                                     names=["dataset", "noise", "budget"])


def pts(df: pd.DataFrame) -> pd.DataFrame:
    return (df * 100).map(lambda v: f"{v:+.1f}")


def report(res: pd.DataFrame, variants: dict, today: str, suites: dict) -> str:
    res = res.assign(budget=res["budget"].astype(float))
    names = [v for v in variants if v in set(res["arm"])]
    adaptive = ADAPTIVE[0] if ADAPTIVE[0] in set(res["arm"]) else None
    present = {k: [d for d in v if d in set(res["dataset"])] for k, v in suites.items()}
    present = {k: v for k, v in present.items() if v}
    if len(present) > 1:
        present["all six"] = [d for v in present.values() for d in v]
    w = {h: wide(res, h) for h in HALVES}
    m = {h: v.groupby(level=[0, 1, 2], sort=False).mean() for h, v in w.items()}  # seeds averaged
    out = ["\nScores: the primary metric (macro-F1; match-class F1 for pairs). Margins: points (×100); in the "
           "per-cell tables paired by seed, with the seeds (of 5) where the first arm is ahead. Variants are "
           "deterministic (their 5 seeds are one model); the baselines' seeds are draws. `noise_adaptive` is "
           "post hoc (see the script's docstring): shown, never chosen.\n"]
    for suite, dss in present.items():
        md = {h: v[v.index.get_level_values(0).isin(dss)] for h, v in m.items()}
        ranking = choose(md["dev"], names + ([adaptive] if adaptive else []))
        best = [v for v in ranking.index if v != adaptive][0]
        ranking.index = [f"{v} (post hoc)" if v == adaptive else v for v in ranking.index]
        out += [f"\n## Suite `{suite}` ({', '.join(dss)}): chosen on dev — **{best}**\n",
                "Dev half only (the rule: highest mean dev score over the suite's cells):\n",
                md_table(ranking.rename_axis("variant"), "{:.4g}"), "\nMeans over the suite's cells:\n"]
        arms = list(dict.fromkeys([best, today, *([adaptive] if adaptive else []), "recipe", "cleanlab_random",
                                   "random"]))
        summ = pd.DataFrame({f"{h}{'' if nz is None else f' {int(nz * 100)}%'}": (
            md[h] if nz is None else md[h][md[h].index.get_level_values(1) == nz])[arms].mean()
            for h in HALVES for nz in (None, 0.0, 0.2)})
        out += [md_table(summ.rename_axis("arm")), f"\n**{best}** on the **test half** (the result):\n"]
        t = w["test"][w["test"].index.get_level_values(0).isin(dss)]
        tab = pd.DataFrame({best: md["test"][best].round(4)})
        for other in ["random", "cleanlab_random", f"rlc:{best}", today, "recipe", adaptive]:
            if other in t.columns and other != best:
                tab[f"− {other}"] = margin(t, best, other, tab.index).values
        out.append(md_table(tab.set_axis(nice(tab.index))))
    for half, what in (("test", "test half"), ("all", "whole test set, as the earlier probe measured")):
        out += [f"\n## Every variant on the {what} (no choice made here): score − cleanlab_random, points\n"]
        tab = pts(m[half][["random", *names, "recipe"]].sub(m[half]["cleanlab_random"], axis=0))
        tab.insert(0, "cleanlab_random", m[half]["cleanlab_random"].map(lambda v: f"{v:.4f}"))
        out.append(md_table(tab.set_axis(nice(tab.index))))
    out += ["\n## The confident half first: `X+conf` − `X`, mean over the suite's cells, points\n"]
    rows = {}
    for suite, dss in present.items():
        for half in HALVES:
            mh = m[half][m[half].index.get_level_values(0).isin(dss)]
            for q in [q for q in QUOTAS if q in names and f"{q}+conf" in names]:
                d = (mh[f"{q}+conf"] - mh[q]).groupby(level=[1, 2]).mean()
                rows[(suite, half, q)] = {f"{int(nz * 100)}% @{b:g}": f"{v * 100:+.1f}" for (nz, b), v in d.items()}
    out.append(md_table(pd.DataFrame(rows).T.rename_axis(["suite", "half", "X"])))
    out += ["\n## Chosen per (dataset, noise) on dev over the budgets → its test-half margins\n"]
    rows = []
    for (ds, nz), g in res.groupby(["dataset", "noise"], sort=False):
        dv, ts = [wide(g, h).groupby(level=[0, 1, 2]).mean() for h in ("dev", "test")]
        pick = dv[names].mean().idxmax()
        rows.append({"dataset": ds, "noise": f"{int(nz * 100)}%", "dev choice": pick,
                     "dev − sqrt": f"{(dv[pick] - dv[today]).mean() * 100:+.1f}",
                     "test − sqrt": f"{(ts[pick] - ts[today]).mean() * 100:+.1f}",
                     "test − cleanlab_random": f"{(ts[pick] - ts['cleanlab_random']).mean() * 100:+.1f}"})
    out.append(md_table(pd.DataFrame(rows).set_index(["dataset", "noise"])))
    out += ["\n## Pools, and the selections at 10%: smallest label's share of the selection / injected-noise "
            "share\n\n`candidates`: records left by the recipe's exclusions; `noise est.`: the pool's "
            "`label_noise_rate` (confident learning).\n"]
    cols = [a for a in [*names, "recipe", "cleanlab_random"] if a in set(res["arm"])]
    sel = res[(res["budget"] == 0.1) & (res["seed"] == 0) & res["arm"].isin(cols)]
    comp = {(r["dataset"], f"{int(r['noise'] * 100)}%", f"{r['candidates']}/{r['pool']}", f"{r['noise_est']:.2f}",
             r["smallest"], r["arm"]): f"{r['counts'][r['smallest']] / max(1, sum(r['counts'].values())):.1%} / "
            f"{r['noisy_share']:.0%}" for _, r in sel.iterrows()}
    ct = pd.Series(comp).unstack()[cols]
    out.append(md_table(ct.rename_axis(["dataset", "noise", "candidates", "noise est.", "smallest label"])))
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--noise", default="0,0.2")
    ap.add_argument("--budgets", default="0.05,0.1,0.25")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--variants", default="", help="comma-separated subset of the variants (sqrt always runs)")
    ap.add_argument("--rules", default="recipe,uncapped", help="exclusion conditions: recipe, uncapped")
    ap.add_argument("--write", default="", help="also write the markdown here (e.g. benchmarks/results/...)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    sections = []
    for cond in a.rules.split(","):
        res = run(a.datasets.split(","), [float(x) for x in a.noise.split(",")],
                  [Budget.parse(b) for b in a.budgets.split(",")], a.seeds, a.split_seed,
                  [v for v in a.variants.split(",") if v] or None, cond, not a.quiet)
        res.to_json(OUT / f"quotas-{cond}.jsonl", orient="records", lines=True)
        rules = condition_rules(default_select()[1], cond)
        sections.append(f"\n# Exclusions: {CONDITIONS[cond]}\n\n" + "; ".join(
            f"`{r.when}`" + (f" (≤ {r.max_share_per_label:.0%} of a label)" if getattr(r, "max_share_per_label", None)
                             else "") for r in rules) + "\n" + report(res, VARIANTS, TODAY, SUITES))
    head = (f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}`  \nDate: {time.strftime('%Y-%m-%d')}; machine: "
            f"{platform.machine()}, {os.cpu_count()} cores; wall time {time.perf_counter() - t0:.0f}s (models cached "
            f"from earlier runs are not retrained); recipe options {default_select()[2]}  \n"
            "The reading of these tables (hand-written, dated) is at the end of the file.\n")
    md = head + "".join(sections)
    (OUT / "selection_quotas.md").write_text(md)
    if a.write:  # hand-written notes below the marker survive a re-run
        old = Path(a.write).read_text() if Path(a.write).exists() else ""
        Path(a.write).write_text(md + (old[old.index(NOTES):] if NOTES in old else ""))
    print(md)


if __name__ == "__main__":
    main()
