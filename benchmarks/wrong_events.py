"""Wrong events (IDO): detection of injected label noise, and test accuracy of the `ido` trainer.

On a benchmark pool with injected symmetric noise, embedded with MiniLM (the shared embedding cache):
precision / recall / F1 against the flip mask of (a) `ido_clean_prob < 0.5` and (b) the top share (the noise
rate) by `wrong_events_score`, from the `wrong_events` scorer, with the out-of-fold logistic-regression loss of
the `proxy` scorer as a reference; then test accuracy of `logreg`, `mlp` and `ido` trained on the noisy pool
(and of `logreg` and `mlp` on the clean labels, as the ceiling).

    .venv/bin/python benchmarks/wrong_events.py --dataset sst2 --noise 0.2,0.4 --seeds 3 --sizes 350,1000,3000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, materialise  # noqa: E402

from curata.engine import registry  # noqa: E402
from curata.engine.context import RunContext  # noqa: E402
from curata.engine.pipeline import Pipeline  # noqa: E402
from curata.engine.read import Read  # noqa: E402
from curata.train.metrics import classification_metrics  # noqa: E402


def load(dataset: str, noise: float):
    """(noisy pool, clean-label copy, test pool, flip mask), embedded with MiniLM through the shared cache."""
    pool_path, test_path, flip = materialise(dataset, noise)
    pipe = Pipeline([Read(pool_path), registry.build("embedder", "sentence_transformer", {"model": "minilm"})],
                    seed=0, progress=False, cache_dir=OUT / "cache")
    pipe.force_embed = True
    pool, _, _ = pipe.prepare()
    test, _ = pipe._read(Read(test_path), "test", known_labels=pool.label_names, task=pool.task)
    pipe.embed_step().pool(test, desc="embed test")
    clean_path, _, _ = materialise(dataset, 0.0)
    clean_labels = {r["id"]: r["label"] for r in map(json.loads, open(clean_path, encoding="utf-8"))}
    clean = pool.take(np.arange(len(pool)))
    clean.df["label"] = clean.df["id"].map(clean_labels)
    flip = flip[pool.df["id"].astype(int).to_numpy()]  # rows the reader rejected have no flag
    return pool, clean, test, flip


def prf(flagged: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return {"flagged": int(flagged.sum()), "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def top_share(score: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` of rows with the highest score (ties broken by position)."""
    out = np.zeros(len(score), dtype=bool)
    out[np.argsort(-score, kind="stable")[: int(round(share * len(score)))]] = True
    return out


def accuracy(name: str, params: dict, train, test, seed: int) -> float:
    model = registry.build("trainer", name, params).fit(train, seed=seed, progress=False)
    return classification_metrics(test.df["label"], model.predict_proba(test), train.label_names,
                                  train.task)["accuracy"]


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


def by_size(pool, test, sizes: list[int], seeds: list[int], threads: dict) -> list[str]:
    """Test accuracy on random subsets of the noisy pool (a subset and a model seed per seed)."""
    trainers = {"logreg": {}, "mlp": threads, "mlp base_model=true": {**threads, "base_model": True},
                "ido": threads}
    lines = ["| records | " + " | ".join(trainers) + " |", "|---|" + "---|" * len(trainers)]
    for n in sizes:
        cells = []
        for label, params in trainers.items():
            name = label.split()[0]
            accs = [accuracy(name, params, pool.take(np.sort(np.random.default_rng(s).choice(len(pool), n,
                                                                                            replace=False))),
                             test, s) for s in seeds]
            cells.append(mean_std(accs))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def run(dataset: str, noise: float, seeds: list[int], threads: dict, sizes: list[int]) -> list[str]:
    t0 = time.perf_counter()
    pool, clean, test, flip = load(dataset, noise)
    scorer_rules = ("ido_clean_prob < 0.5 (wrong_events scorer)", f"top {noise:.0%} by wrong_events_score")
    trainer_rule = "ido_clean_prob < 0.5 (ido trainer, after Stage 2)"
    proxy_rule = f"top {noise:.0%} by proxy_loss_score (5-fold logreg, reference)"
    detect: dict[str, list[dict]] = {r: [] for r in (*scorer_rules, trainer_rule, proxy_rule)}
    notes, timing = [], {}
    for s in seeds:
        ctx = RunContext(seed=s, progress=False)
        t = time.perf_counter()
        cols = registry.build("scorer", "wrong_events", {"trainer_params": threads}).score(pool, ctx)
        timing.setdefault("wrong_events scorer", []).append(time.perf_counter() - t)
        notes.append(ctx.notes[-1])
        detect[scorer_rules[0]].append(prf(cols["ido_clean_prob"].to_numpy() < 0.5, flip))
        detect[scorer_rules[1]].append(prf(top_share(cols["wrong_events_score"].to_numpy(), noise), flip))
    proxy = registry.build("scorer", "proxy").score(pool, RunContext(seed=0, progress=False))
    detect[proxy_rule].append(prf(top_share(proxy["proxy_loss_score"].to_numpy(), noise), flip))

    acc: dict[str, list[float]] = {"logreg (noisy)": [accuracy("logreg", {}, pool, test, 0)],
                                   "logreg (clean labels)": [accuracy("logreg", {}, clean, test, 0)]}
    for s in seeds:
        acc.setdefault("mlp (noisy)", []).append(accuracy("mlp", threads, pool, test, s))
        acc.setdefault("mlp base_model=true (noisy)", []).append(
            accuracy("mlp", {**threads, "base_model": True}, pool, test, s))
        acc.setdefault("mlp (clean labels)", []).append(accuracy("mlp", threads, clean, test, s))
        t = time.perf_counter()
        ido = registry.build("trainer", "ido", threads).fit(pool, seed=s, progress=False)
        timing.setdefault("ido trainer", []).append(time.perf_counter() - t)
        acc.setdefault("ido (noisy)", []).append(classification_metrics(
            test.df["label"], ido.predict_proba(test), pool.label_names, pool.task)["accuracy"])
        detect[trainer_rule].append(prf(ido.bmm_.predict(ido.wrong_events_).p_clean < 0.5, flip))

    lines = [f"#### {dataset}, {noise:.0%} symmetric label noise\n",
             f"Pool {len(pool)} records, {int(flip.sum())} flipped ({flip.mean():.1%}); test {len(test)} "
             f"records; wall time {time.perf_counter() - t0:.0f}s. Mean ± std over seeds {seeds} (one run for "
             "the deterministic logreg rows).\n",
             "| detection rule | flagged | precision | recall | F1 |", "|---|---|---|---|---|"]
    for rule, rows in detect.items():
        cells = " | ".join(mean_std([r[k] for r in rows]) for k in ("precision", "recall", "f1"))
        lines.append(f"| {rule} | {np.mean([r['flagged'] for r in rows]):.0f} | {cells} |")
    lines += ["", "| trainer | test accuracy |", "|---|---|"]
    lines += [f"| {name} | {mean_std(v)} |" for name, v in acc.items()]
    if sizes:
        lines += ["", "Test accuracy when trained on a random part of the noisy pool:", ""]
        lines += by_size(pool, test, sizes, seeds, threads)
    lines += ["", "Seconds per run: " + ", ".join(f"{k} {np.mean(v):.0f}" for k, v in timing.items()) + ".  ",
              f"Scorer note (seed 0): {notes[0]}", ""]
    (OUT / f"wrong_events-{dataset}-noise{int(noise * 100)}.json").write_text(json.dumps(
        {"detect": detect, "accuracy": acc, "notes": notes, "timing": timing}, indent=1))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--noise", default="0.2")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="", help="training-set sizes for the accuracy-by-size table, e.g. 350,1000")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    body = []
    for noise in (float(x) for x in a.noise.split(",")):
        body += run(a.dataset, noise, list(range(a.seeds)), {"num_threads": a.threads},
                    [int(x) for x in a.sizes.split(",") if x])
    head = [f"### Wrong events (IDO) on {a.dataset} with MiniLM features\n",
            f"Command: `.venv/bin/python benchmarks/wrong_events.py --dataset {a.dataset} --noise {a.noise} "
            f"--seeds {a.seeds} --threads {a.threads}" + (f" --sizes {a.sizes}" if a.sizes else "") + "`  ",
            f"Date: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, {os.cpu_count()} cores shared "
            f"with other jobs, torch threads {a.threads}; wall time {time.perf_counter() - t0:.0f}s\n"]
    md = "\n".join(head + body)
    out = Path(__file__).resolve().parent / "results" / "wrong_events.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
