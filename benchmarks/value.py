"""Data value: exact KNN-Shapley vs Monte-Carlo, MovieLens rating values vs random removal, noise detection.

(i)   shapley:   200 SST-2 sentences valued against 100 others (MiniLM); exact KNN-Shapley vs permutation
                 sampling at several budgets: Spearman, Kendall, errors in units of the MC standard error.
(ii)  movielens: item-kNN on ml-100k u1.base; per-rating values (curata.value.rating_value, cross-fitted
                 inside u1.base); NDCG@10 on u1.test after removing the lowest-valued 5/10/20% vs random
                 removal vs keeping all. τ is chosen on a development split carved from u1.base, never u1.test.
(iii) noise:     SST-2 train with 20% symmetric label noise: precision/recall of the lowest-valued 20%.

    .venv/bin/python benchmarks/value.py [--parts shapley,movielens,noise] [--seeds 10]

Writes benchmarks/out/value.json and benchmarks/results/value.md. MovieLens is read from ../shared/data only.
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
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, SHARED, inject_noise, require_shared, sst2  # noqa: E402
from value_report import markdown  # noqa: E402

from curata.engine.context import RunContext  # noqa: E402
from curata.value.knn_shapley import knn_shapley, knn_utility  # noqa: E402
from curata.value.monte_carlo import monte_carlo_knn_shapley  # noqa: E402
from curata.value.rating_value import exact_loo_change, first_order_values, rating_values  # noqa: E402
from curata.value.recsys import Ratings, cosine_item_similarity, evaluate, load_movielens  # noqa: E402
from curata.value.recsys import ndcg_at_k, split_ratings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FRACS = (0.05, 0.10, 0.20)


def embed(texts: list[str]) -> np.ndarray:
    """MiniLM vectors through the benchmarks' shared content-keyed cache."""
    from curata.embed.cache import EmbeddingCache, embed_texts
    from curata.embed.sentence_transformer import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    return embed_texts(texts, emb, EmbeddingCache(OUT / "cache", emb.model_key), progress=True)[0]


def sst2_pool(rows: list[dict]):
    from curata.io.fields import pool_from_records

    pool = pool_from_records([{"id": str(i), **r} for i, r in enumerate(rows)])
    pool.embeddings = pool.features = embed(pool.df["text"].tolist())
    return pool


def knn_shapley_scores(pool, k: int = 10, validation: str = "auto", folds: int = 5, seed: int = 0,
                       target=None, max_validation: int | None = 10_000) -> np.ndarray:
    """``knn_shapley_score`` of every record of an embedded, labelled pool (NaN where unlabelled): the
    detector to put beside confident learning and wrong events. Lower = more likely harmful / mislabelled."""
    from curata.scorers.knn_shapley import KnnShapleyScorer

    ctx = RunContext(seed=seed, progress=False, target=target)
    scorer = KnnShapleyScorer(k=k, validation=validation, folds=folds, max_validation=max_validation)
    return scorer.score(pool, ctx)["knn_shapley_score"].to_numpy()


# ---------------------------------------------------------------------------------------------------- (i)
def part_shapley(n_pool: int, n_val: int, k: int, budgets: list[int], seed: int) -> dict:
    train, _ = sst2()
    idx = np.random.default_rng(seed).choice(len(train), n_pool + n_val, replace=False)
    pool = sst2_pool([train[i] for i in idx])
    x, y = pool.embeddings, pool.label_indices()
    xt, yt, xv, yv = x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:]
    t0 = time.perf_counter()
    exact = knn_shapley(xt, yt, xv, yv, k=k)
    exact_s = time.perf_counter() - t0
    rows = []
    for p in budgets:
        t0 = time.perf_counter()
        mc = monte_carlo_knn_shapley(xt, yt, xv, yv, k=k, n_permutations=p, seed=seed)
        secs = time.perf_counter() - t0
        z = np.abs(mc.values - exact) / np.maximum(mc.stderr, 1e-15)
        rows.append({"permutations": p, "seconds": secs, "spearman": spearmanr(exact, mc.values).statistic,
                     "kendall": kendalltau(exact, mc.values).statistic,
                     "max_abs_err": float(np.abs(mc.values - exact).max()),
                     "mean_abs_err": float(np.abs(mc.values - exact).mean()),
                     "mean_stderr": float(mc.stderr.mean()), "within_2se": float((z <= 2).mean()),
                     "mc_sum": float(mc.values.sum())})
        print(f"MC {p}: spearman {rows[-1]['spearman']:.4f} ({secs:.1f}s)", flush=True)
    return {"n_pool": n_pool, "n_validation": n_val, "k": k, "exact_seconds": exact_s,
            "utility_full": knn_utility(xt, yt, xv, yv, k=k), "exact_sum": float(exact.sum()),
            "n_negative": int((exact < 0).sum()), "distinct_values": len(np.unique(exact.round(12))),
            "mc": rows}


# --------------------------------------------------------------------------------------------------- (ii)
def removal_curve(train: Ratings, held: Ratings, order: np.ndarray) -> list[float]:
    """NDCG@10 on ``held`` without the first 5/10/20% of ``order`` (the seen filter keeps all of train)."""
    out = []
    for f in FRACS:
        keep = np.ones(len(train), dtype=bool)
        keep[order[:round(f * len(train))]] = False
        out.append(evaluate(train.take(keep), held, seen=train))
    return out


def compare(train: Ratings, held: Ratings, values: dict[str, np.ndarray], seeds: int) -> dict:
    """Removal curves by each value (lowest first), random removal over seeds, and keeping everything."""
    res = {"keep_all": evaluate(train, held)}
    rnd = np.array([removal_curve(train, held, np.random.default_rng(s).permutation(len(train)))
                    for s in range(seeds)])
    res["random"] = {"mean": rnd.mean(axis=0).tolist(), "std": rnd.std(axis=0, ddof=1).tolist(),
                     "runs": rnd.tolist()}
    tie = np.random.default_rng(0).random(len(train))
    res["lowest_stars"] = removal_curve(train, held, np.lexsort((tie, train.rating)))
    for name, v in values.items():
        res[name] = removal_curve(train, held, np.lexsort((tie, v)))
        res[f"{name}_highest_first"] = removal_curve(train, held, np.lexsort((tie, -v)))
    return res


def approximation_check(base: Ratings, tau: float, n: int, seed: int) -> dict:
    """First-order values vs the exact leave-one-out change of the surrogate (and of NDCG@10) on a sample."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, 5, len(base))
    tr, va = base.take(fold != 0), base.take(fold == 0)
    r = tr.matrix()
    cand, rel = r == 0, va.relevant()
    fo_all = first_order_values(r, cand, rel, tau)
    pick = rng.choice(len(tr), n, replace=False)
    pairs = np.c_[tr.user[pick], tr.item[pick]]
    fo = fo_all[pairs[:, 0], pairs[:, 1]]
    t0 = time.perf_counter()
    ex = exact_loo_change(r, cand, rel, pairs, tau)
    loo_s = (time.perf_counter() - t0) / n
    base_ndcg = np.nanmean(ndcg_at_k(r @ cosine_item_similarity(r), ~cand, rel))
    hard = []
    for u, a in pairs:
        r2 = r.copy()
        r2[u, a] = 0
        hard.append(base_ndcg - np.nanmean(ndcg_at_k(r2 @ cosine_item_similarity(r2), ~cand, rel)))
    hard = np.array(hard)
    return {"tau": tau, "sample": n, "spearman_vs_exact_surrogate": spearmanr(fo, ex).statistic,
            "pearson_vs_exact_surrogate": float(np.corrcoef(fo, ex)[0, 1]),
            "sign_agreement": float((np.sign(fo) == np.sign(ex)).mean()),
            "median_ratio_first_order_to_exact": float(np.median(fo / ex)),
            "spearman_vs_exact_ndcg10": spearmanr(fo, hard).statistic,
            "ndcg10_loo_zero_share": float((hard == 0).mean()), "exact_loo_seconds_each": loo_s}


def part_movielens(seeds: int, taus: list[float], folds: int, n_check: int) -> dict:
    root = SHARED / "movielens-100k"
    base, test = load_movielens(root, "u1")
    out = {"split": "u1", "n_base": len(base), "n_test": len(test), "folds": folds, "dev": {}}
    # development: choose τ on a holdout carved from u1.base
    dev_train, dev_held = split_ratings(base, 0.2, seed=123)
    dev_values = {}
    for tau in taus:
        t0 = time.perf_counter()
        dev_values[f"value_tau{tau:g}"] = rating_values(dev_train, folds=folds, tau=tau, seed=0).values
        print(f"dev values τ={tau:g}: {time.perf_counter() - t0:.1f}s", flush=True)
    out["dev"] = compare(dev_train, dev_held, dev_values, seeds)
    best = max(taus, key=lambda t: np.mean(out["dev"][f"value_tau{t:g}"]))
    out["tau"] = best
    print(f"chosen τ = {best:g}", flush=True)
    # final: value u1.base by cross-fitting inside it, check once on u1.test
    t0 = time.perf_counter()
    rv = rating_values(base, folds=folds, tau=best, seed=0, progress=True)
    out["value_seconds"] = time.perf_counter() - t0
    v = rv.values
    lowest = base.rating[np.argsort(v)[:len(v) // 10]]
    out["values"] = {"negative_share": float((v < 0).mean()),
                     "spearman_with_stars": spearmanr(v, base.rating).statistic,
                     "mean_by_stars": {s: float(v[base.rating == s].mean()) for s in range(1, 6)},
                     "lowest_10pct_star_share": {s: float((lowest == s).mean()) for s in range(1, 6)},
                     "star_share": {s: float((base.rating == s).mean()) for s in range(1, 6)}}
    out["test"] = compare(base, test, {"value": v}, seeds)
    out["approximation"] = approximation_check(base, best, n_check, seed=1)
    return out


# -------------------------------------------------------------------------------------------------- (iii)
def part_noise(rate: float, seed: int, k: int) -> dict:
    train, _ = sst2()
    noisy, flip = inject_noise(train, rate, seed)
    pool = sst2_pool(noisy)
    flip = flip[pool.df["id"].astype(int).to_numpy()]
    t0 = time.perf_counter()
    scores = knn_shapley_scores(pool, k=k, seed=seed)
    secs = time.perf_counter() - t0
    flagged = np.zeros(len(pool), dtype=bool)
    flagged[np.argsort(scores, kind="stable")[:round(rate * len(pool))]] = True
    tp = int((flagged & flip).sum())
    return {"dataset": "sst2", "n": len(pool), "noise": rate, "k": k, "seconds": secs,
            "flagged": int(flagged.sum()),
            "precision": tp / max(1, flagged.sum()), "recall": tp / max(1, flip.sum()),
            "negative_share": float((scores < 0).mean()),
            "precision_of_negative": float((flip & (scores < 0)).sum() / max(1, (scores < 0).sum())),
            "auc": _auc(-scores, flip)}


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = positive.sum(), (~positive).sum()
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="shapley,movielens,noise")
    ap.add_argument("--seeds", type=int, default=10, help="random-removal seeds (MovieLens)")
    ap.add_argument("--permutations", default="100,1000,10000")
    ap.add_argument("--taus", default="0.3,1,3")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--check", type=int, default=150, help="ratings in the exact leave-one-out check")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    require_shared()
    path = OUT / "value.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    command = " ".join([".venv/bin/python", *sys.argv])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    perms, taus = [int(p) for p in a.permutations.split(",")], [float(t) for t in a.taus.split(",")]
    jobs = {"shapley": lambda: part_shapley(200, 100, 10, perms, seed=0),
            "movielens": lambda: part_movielens(a.seeds, taus, a.folds, a.check),
            "noise": lambda: part_noise(0.2, 0, 10)}
    for part in a.parts.split(","):
        t0 = time.perf_counter()
        res[part] = jobs[part]()
        res[part]["run"] = {"command": command, "date": time.strftime("%Y-%m-%d"), "machine": machine,
                            "seconds": time.perf_counter() - t0}
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1, default=float))
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = markdown(res)
    (RESULTS / "value.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
