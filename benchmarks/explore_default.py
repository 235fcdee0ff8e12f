"""Exploration behind the default recipe: variants of (exclusions → selector) at one budget.

Not a headline benchmark: it records how the default was chosen (see BENCHMARKS.md, "Choosing the
default"). Usage: .venv/bin/python benchmarks/explore_default.py --datasets sst2,trec6 --noise 0,0.2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import OUT, materialise  # noqa: E402
from selection_quality import DEDUP, SCORERS, embedder  # noqa: E402

from curata.engine import registry  # noqa: E402
from curata.engine.budget import Budget  # noqa: E402
from curata.engine.evaluate import evaluate_pool, random_arm, select_arm, summarise  # noqa: E402
from curata.engine.pipeline import Pipeline  # noqa: E402
from curata.engine.read import Read  # noqa: E402
from curata.engine.select import ExcludeRule, Select  # noqa: E402

SUSPECT = DEDUP + [ExcludeRule("proxy_suspect", "suspect")]
STRICT = SUSPECT + [ExcludeRule("proxy_margin_score < 0", "proxy predicts another label")]
CL = DEDUP + [ExcludeRule("is_label_issue", "confident learning (prune_by_noise_rate)")]
UNION = CL + [ExcludeRule("proxy_suspect", "suspect")]

VARIANTS = {
    "A_cb_equal_by_prob": ({"name": "cluster_balanced", "by": "proxy_prob", "stratify_label": True}, SUSPECT),
    "B_clean_random": ({"name": "random"}, SUSPECT),
    "C_clean_facility": ({"name": "facility_location"}, SUSPECT),
    "D_clean_cb_sqrt_random": ({"name": "cluster_balanced", "allocation": "sqrt", "stratify_label": True}, SUSPECT),
    "E_clean_cb_sqrt_by_prob": ({"name": "cluster_balanced", "allocation": "sqrt", "by": "proxy_prob",
                                 "stratify_label": True}, SUSPECT),
    "F_clean_stratified": ({"name": "stratified"}, SUSPECT),
    "G_clean_kcenter": ({"name": "kcenter"}, SUSPECT),
    "H_clean_cb_prop_random": ({"name": "cluster_balanced", "allocation": "proportional", "stratify_label": True},
                               SUSPECT),
    "I_clean_cb_sqrt_by_hard": ({"name": "cluster_balanced", "allocation": "sqrt", "by": "-proxy_margin",
                                 "stratify_label": True}, SUSPECT),
    "J_dedup_facility": ({"name": "facility_location"}, DEDUP),
    "K_clean_facility_by_label": ({"name": "facility_location", "stratify": "label"}, SUSPECT),
    "L_clean_facility_by_label_sqrt": ({"name": "facility_location", "stratify": "label", "allocation": "sqrt"},
                                       SUSPECT),
    "M_dedup_facility_by_label": ({"name": "facility_location", "stratify": "label"}, DEDUP),
    "N_clean_cb_sqrt_by_prob_nostrat": ({"name": "cluster_balanced", "allocation": "sqrt", "by": "proxy_prob"},
                                        SUSPECT),
    "P_strict_facility_by_label_sqrt": ({"name": "facility_location", "stratify": "label", "allocation": "sqrt"},
                                        STRICT),
    "R_strict_facility": ({"name": "facility_location"}, STRICT),
    "S_strict_facility_by_label": ({"name": "facility_location", "stratify": "label"}, STRICT),
    "T_cl_facility_by_label_sqrt": ({"name": "facility_location", "stratify": "label", "allocation": "sqrt"}, CL),
    "U_cl_facility": ({"name": "facility_location"}, CL),
    "V_union_facility_by_label_sqrt": ({"name": "facility_location", "stratify": "label", "allocation": "sqrt"},
                                       UNION),
    "W_union_facility_by_label": ({"name": "facility_location", "stratify": "label"}, UNION),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="sst2,trec6")
    ap.add_argument("--noise", default="0,0.2")
    ap.add_argument("--budget", default="0.1")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default="")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    only = [v for v in a.variants.split(",") if v]
    out = []
    for ds in a.datasets.split(","):
        for noise in (float(x) for x in a.noise.split(",")):
            pool_path, test_path, flip = materialise(ds, noise)
            run_dir = OUT / "quality" / f"{ds}-noise{int(noise * 100)}-minilm"
            stages = [Read(pool_path), embedder("minilm"), *[registry.build("scorer", s) for s in SCORERS]]
            pipe = Pipeline(stages, run_dir=run_dir, seed=0, progress=False, cache_dir=OUT / "cache")
            pool, ctx, _ = pipe.prepare()
            test, _ = pipe._read(Read(test_path), "test", known_labels=pool.label_names, task=pool.task)
            pipe.embed_step().pool(test)
            arms = {}
            for name, (spec, rules) in VARIANTS.items():
                if only and name not in only:
                    continue
                spec = dict(spec)
                sel = registry.build("selector", spec.pop("name"), spec)
                arms[name], _ = select_arm(pool, ctx, lambda b, sel=sel, rules=rules: Select(sel, b, exclude=rules))
            arms["random"] = random_arm(len(pool), lambda b, s: b.max_records(len(pool)))
            tcls = registry.get("trainer", "logreg")
            res = evaluate_pool(pool, test, arms, [Budget.parse(a.budget)], a.seeds, tcls, full=True,
                                results_path=run_dir / "explore-logreg.jsonl", progress=False)
            t = summarise(res)
            t["dataset"], t["noise"] = ds, noise
            for name, arm in arms.items():
                rows = arm(Budget.parse(a.budget), 0)
                t.loc[t["arm"] == name, "noisy_share"] = flip[rows].mean()
            out.append(t)
            print(t[["dataset", "noise", "arm", "mean", "std", "gain_vs_random", "noisy_share"]].to_string(), flush=True)
    pd.concat(out).to_csv(OUT / "explore_default.csv", index=False)


if __name__ == "__main__":
    main()
