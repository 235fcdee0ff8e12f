"""Label-noise detection from raw text: confident learning, wrong events (IDO) and KNN-Shapley side by side
with cleanlab's Datalab on the same embeddings and the same out-of-fold classifier probabilities; then
test quality after training on the cleaned pool vs the noisy pool vs the clean pool.

Noise is injected into the training pool only: symmetric (a uniformly drawn other label) or asymmetric
(pair flip c -> c+1; for two classes only the second class flips). Each detector is scored with its own
flag rule (precision/recall/F1 against the injected flips) and threshold-free (AUROC of its score).

    .venv/bin/python benchmarks/label_noise_detection.py --datasets sst2,trec6,amazon_google \
        --rates 0.1,0.2,0.4 --kinds symmetric,asymmetric
"""

from __future__ import annotations

import argparse
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
from bench_data import OUT, materialise  # noqa: E402

from curata.engine import registry  # noqa: E402
from curata.engine.pipeline import Pipeline  # noqa: E402
from curata.engine.read import Read  # noqa: E402
from curata.train.metrics import classification_metrics  # noqa: E402

SCORERS = ["proxy", "label_issues", "wrong_events", "knn_shapley"]


def prf(flag: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((flag & truth).sum())
    p = tp / max(1, int(flag.sum()))
    r = tp / max(1, int(truth.sum()))
    return {"flagged": int(flag.sum()), "precision": p, "recall": r, "f1": 2 * p * r / max(1e-12, p + r)}


def auroc(score_high_is_noisy: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    s = np.nan_to_num(score_high_is_noisy, nan=np.nanmedian(score_high_is_noisy))
    return float(roc_auc_score(truth, s)) if 0 < truth.sum() < len(truth) else float("nan")


def datalab_flags(pool, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from cleanlab import Datalab

    y = pool.label_indices()
    lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
    t0 = time.perf_counter()
    lab.find_issues(pred_probs=probs, features=pool.features, issue_types={"label": {}})
    issues = lab.get_issues("label")
    return (issues["is_label_issue"].to_numpy(), 1 - issues["label_score"].to_numpy(),
            time.perf_counter() - t0)


def train_eval(pool, test, rows: np.ndarray, labels: list[str] | None = None) -> float:
    from curata.train.logreg import LogRegTrainer
    sub = pool.take(rows)
    if labels is not None:
        sub.df["label"] = np.asarray(labels, dtype=object)[rows]
    m = LogRegTrainer().fit(sub, seed=0, progress=False)
    return classification_metrics(test.label_indices(pool.label_names), m.predict_proba(test), pool.label_names,
                                  pool.task)["f1"]


def run_one(ds: str, rate: float, kind: str, progress: bool) -> list[dict]:
    pool_path, test_path, flip = materialise(ds, rate, kind=kind)
    clean_path, _, _ = materialise(ds, 0.0)
    tag = f"{ds}-{kind}{int(rate * 100)}"
    stages = [Read(pool_path), registry.build("embedder", "sentence_transformer"),
              *[registry.build("scorer", s) for s in SCORERS]]
    pipe = Pipeline(stages, run_dir=OUT / "noise" / tag, seed=0, progress=progress, cache_dir=OUT / "cache")
    t0 = time.perf_counter()
    pool, ctx, _ = pipe.prepare()
    times = {k: v["seconds"] for k, v in pipe.timings.items()}
    test, _ = pipe._read(Read(test_path), "test", known_labels=pool.label_names, task=pool.task)
    pipe.embed_step().pool(test)
    df = pool.df
    probs = np.asarray(df["proxy_probs"].tolist(), dtype=np.float64)
    truth = flip
    n_est = int(round(float(df["label_noise_rate"].iloc[0]) * len(df)))
    dl_flag, dl_score, dl_s = datalab_flags(pool, probs)
    ks = df["knn_shapley_score"].to_numpy()
    ks_flag = np.zeros(len(df), dtype=bool)
    ks_flag[np.argsort(ks, kind="stable")[:n_est]] = True
    detectors = {
        "confident_learning (curata, prune_by_noise_rate)": (df["is_label_issue"].to_numpy(bool),
                                                             1 - df["label_issue_score"].to_numpy(), times.get("label_issues")),
        "wrong_events (IDO, ido_clean_prob < 0.5)": ((df["ido_clean_prob"] < 0.5).to_numpy(),
                                                     df["wrong_events_score"].to_numpy(float), times.get("wrong_events")),
        "knn_shapley (lowest n_est values)": (ks_flag, -ks, times.get("knn_shapley")),
        "cleanlab Datalab (label issues)": (dl_flag, dl_score, dl_s),
    }
    # training after cleaning: everything vs minus each detector's flags vs the clean labels
    all_rows = np.arange(len(df))
    clean_labels = [json.loads(line)["label"] for line in open(clean_path)]
    base = {"noisy pool": train_eval(pool, test, all_rows),
            "clean labels (oracle)": train_eval(pool, test, all_rows, clean_labels)}
    out = []
    for name, (flag, score, secs) in detectors.items():
        out.append({"dataset": ds, "noise": rate, "kind": kind, "detector": name, **prf(flag, truth),
                    "auroc": auroc(score, truth), "seconds": secs, "n_flipped": int(truth.sum()),
                    "estimated_errors": n_est, "f1_after_removal": train_eval(pool, test, all_rows[~flag]),
                    "f1_noisy_pool": base["noisy pool"], "f1_clean_labels": base["clean labels (oracle)"],
                    "prepare_seconds": time.perf_counter() - t0})
    return out


def markdown(res: pd.DataFrame, cmd: str, seconds: float) -> str:
    lines = [f"Command: `{cmd}`  \nDate: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, "
             f"{os.cpu_count()} cores (shared with other jobs); wall time {seconds:.0f}s\n",
             "Detection against the injected flips (precision / recall / F1 of each detector's own flag rule; "
             "AUROC of its score), and the test metric of logistic regression on MiniLM embeddings trained on "
             "the pool after removing that detector's flags, next to training on the noisy pool and on the "
             "clean labels. `seconds` is the detector's time in this run: about 0 when its stage was read back "
             "from the cache of an earlier run (curata's CL itself takes milliseconds on these probabilities).\n"]
    for (ds, kind, rate), g in res.groupby(["dataset", "kind", "noise"], sort=False):
        r0 = g.iloc[0]
        lines.append(f"\n#### {ds}, {kind} noise {int(rate * 100)}% ({r0['n_flipped']} flipped; CL estimate "
                     f"{r0['estimated_errors']}); test metric: noisy pool {r0['f1_noisy_pool']:.4f}, clean labels "
                     f"{r0['f1_clean_labels']:.4f}\n")
        lines.append("| detector | flagged | precision | recall | F1 | AUROC | test metric after removal | seconds |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for _, r in g.iterrows():
            secs = "" if r["seconds"] is None or pd.isna(r["seconds"]) else f"{r['seconds']:.1f}"
            lines.append(f"| {r['detector']} | {r['flagged']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                         f"{r['f1']:.3f} | {r['auroc']:.3f} | {r['f1_after_removal']:.4f} | {secs} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="sst2,trec6,amazon_google")
    ap.add_argument("--rates", default="0.1,0.2,0.4")
    ap.add_argument("--kinds", default="symmetric,asymmetric")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    rows = []
    for ds in a.datasets.split(","):
        for kind in a.kinds.split(","):
            for rate in (float(x) for x in a.rates.split(",")):
                t1 = time.perf_counter()
                rows.extend(run_one(ds, rate, kind, not a.quiet))
                print(f"{ds} {kind} {rate}: {time.perf_counter() - t1:.0f}s", flush=True)
    res = pd.DataFrame(rows)
    res.to_parquet(OUT / "label_noise_detection.parquet", index=False)
    md = markdown(res, " ".join([".venv/bin/python", *sys.argv]), time.perf_counter() - t0)
    (OUT / "label_noise_detection.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
