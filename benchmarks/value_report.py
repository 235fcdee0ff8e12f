"""Markdown for benchmarks/value.py: the section the lead merges into BENCHMARKS.md."""

from __future__ import annotations

FRACS = ("5%", "10%", "20%")


def _run(part: dict) -> str:
    r = part.get("run", {})
    return (f"Command: `{r.get('command', '?')}`  \nDate: {r.get('date', '?')}; "
            f"machine: {r.get('machine', '?')}; wall time {r.get('seconds', 0):.0f}s\n")


def _shapley(s: dict) -> list[str]:
    intro = (f"{s['n_pool']} SST-2 training sentences valued against {s['n_validation']} others "
             f"(K = {s['k']}, cosine on MiniLM embeddings). Exact: {s['exact_seconds'] * 1000:.1f} ms; "
             f"Σ values = {s['exact_sum']:.6f} = U(all) = {s['utility_full']:.6f}; {s['n_negative']} records "
             f"have a negative value. Monte-Carlo: plain permutation sampling (no truncation), seeded.\n")
    out = ["### Exact KNN-Shapley vs Monte-Carlo Shapley (SST-2, MiniLM)\n", _run(s), intro,
           ("| permutations | seconds | Spearman | Kendall τ-b | max abs err | mean abs err | mean MC s.e. "
            "| within 2 s.e. |"),
           "|---|---|---|---|---|---|---|---|"]
    for r in s["mc"]:
        out.append(f"| {r['permutations']:,} | {r['seconds']:.1f} | {r['spearman']:.4f} | {r['kendall']:.4f} "
                   f"| {r['max_abs_err']:.2e} | {r['mean_abs_err']:.2e} | {r['mean_stderr']:.2e} "
                   f"| {r['within_2se'] * 100:.1f}% |")
    out.append("\nThe Monte-Carlo error shrinks like 1/√permutations and ≈95% of records lie within two "
               "standard errors of the exact value, as they should if the closed form is the limit the "
               "sampler converges to (the unit tests check exact equality with brute-force Shapley on pools "
               "of ≤ 8).")
    return out


def _row(name: str, vals, base: float) -> str:
    return f"| {name} | " + " | ".join(f"{v:.4f} ({(v - base) * 100:+.2f})" for v in vals) + " |"


def _table(res: dict, value_names: list[str]) -> list[str]:
    base, rnd = res["keep_all"], res["random"]
    out = [f"Keep everything: **{base:.4f}**. Cells: NDCG@10 (change vs keeping everything, in points).\n",
           "| removed | 5% | 10% | 20% |", "|---|---|---|---|",
           f"| random ({len(rnd['runs'])} seeds, mean ± std) | "
           + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in zip(rnd["mean"], rnd["std"])) + " |"]
    out += [_row(f"lowest {n} first", res[n], base) for n in value_names]
    out += [_row(f"highest {n} first (sanity)", res[f"{n}_highest_first"], base) for n in value_names]
    out.append(_row("lowest stars first (heuristic reference)", res["lowest_stars"], base))
    return out


def _verdict(m: dict) -> str:
    t, tau = m["test"], m["tau"]
    best, rnd = t["value"], t["random"]
    gain = [b - t["keep_all"] for b in best]
    if all(g > 0 for g in gain):
        helps = "helps"
    elif any(g > 0 for g in gain):
        helps = "helps at " + ", ".join(f for f, g in zip(FRACS, gain) if g > 0)
    else:
        helps = "does not help"
    beats_rnd = [f for f, b, r in zip(FRACS, best, rnd["mean"]) if b > r]
    sds = [(b - r) / s for b, r, s in zip(best, rnd["mean"], rnd["std"])]
    beats_star = [f for f, b, s in zip(FRACS, best, t["lowest_stars"]) if b > s]
    dev_star = [f for f, b, s in zip(FRACS, m["dev"][f"value_tau{tau:g}"], m["dev"]["lowest_stars"]) if b > s]
    gains = " / ".join(f"{g * 100:+.2f}" for g in gain)
    z = ", ".join(f"{x:+.1f}" for x in sds)
    rnd_at, star_at = ", ".join(beats_rnd) or "no fraction", ", ".join(beats_star) or "no fraction"
    dev_at = ", ".join(dev_star) or "no fraction"
    text = (f"**Verdict on u1.test: removing the lowest-valued ratings {helps}** relative to keeping "
            f"everything ({gains} points at 5/10/20%). It beats random removal at {rnd_at} (by {z} "
            f"random-removal standard deviations). It beats the star heuristic (drop the lowest stars "
            f"first) at {star_at} on u1.test, and at {dev_at} on the development split.")
    if len(beats_star) < 3:
        text += (" Where it does not, the free rule built from the star ratings is the better choice for "
                 "this explicit-rating data set.")
    bad = [name for name in m["dev"] if name.startswith("value_tau") and not name.endswith("highest_first")
           and max(m["dev"][name]) < m["dev"]["keep_all"]]
    if bad:
        text += (" The result depends on the temperature τ: on the development split, removal by "
                 + ", ".join(b.replace("value_tau", "τ = ") for b in bad) + " values *hurts* at every "
                 "fraction, so τ matters as much as the method; it was chosen on the development split only.")
    return text + "\n"


def _pct(shares: dict) -> str:
    return ", ".join(f"{s}★ {x * 100:.0f}%" for s, x in shares.items())


def _movielens(m: dict) -> list[str]:
    tau, v, a = m["tau"], m["values"], m["approximation"]
    dev_names = [k for k in m["dev"] if k.startswith("value_tau") and not k.endswith("highest_first")]
    setup = (f"Recommender: item-kNN (cosine on the implicit user × item matrix, every rating an "
             f"interaction), ranking all items the user has not rated in u1.base; relevant = u1.test items "
             f"rated ≥ 4. Values: first-order leave-one-out influence of each rating on a softmax surrogate "
             f"of NDCG (`curata.value.rating_value`), cross-fitted over {m['folds']} folds of u1.base "
             f"({m['n_base']:,} ratings, {m['value_seconds']:.0f}s). A removed rating is dropped from the "
             f"model, but its item stays filtered from that user's ranking (it was still watched).\n")
    by_star = ", ".join(f"{s}★ {x:+.2e}" for s, x in v["mean_by_stars"].items())
    stars = (f"What the values pick up: Spearman with the star rating {v['spearman_with_stars']:.3f}; mean "
             f"value by stars {by_star}; star mix of the lowest-valued 10%: "
             f"{_pct(v['lowest_10pct_star_share'])} (all ratings: {_pct(v['star_share'])}); "
             f"{v['negative_share'] * 100:.1f}% of ratings have a negative value.\n")
    check = (f"Approximation check (fold 0 of u1.base, {a['sample']} random ratings, exact recomputation "
             f"without each rating, {a['exact_loo_seconds_each'] * 1000:.0f} ms each): first-order vs exact "
             f"leave-one-out change of the surrogate: Spearman {a['spearman_vs_exact_surrogate']:.3f}, "
             f"Pearson {a['pearson_vs_exact_surrogate']:.3f}, same sign {a['sign_agreement'] * 100:.0f}%, "
             f"median ratio {a['median_ratio_first_order_to_exact']:.2f}. Against the exact leave-one-out "
             f"change of NDCG@10 itself: Spearman {a['spearman_vs_exact_ndcg10']:.3f} "
             f"({a['ndcg10_loo_zero_share'] * 100:.0f}% of removals leave it unchanged; the others move it "
             f"by discrete rank swaps) — why the valuation targets a smooth surrogate.\n")
    dev = (f"**Development split** (u1.base → 80% train / 20% holdout, seed 123; values cross-fitted inside "
           f"the 80%; used only to choose τ; chosen τ = {tau:g}):\n")
    test = f"\n**Official test split u1.test** (values from u1.base with τ = {tau:g}; u1.test used once):\n"
    return ["### MovieLens-100k: removing low-value ratings (item-kNN, NDCG@10)\n", _run(m), setup, dev,
            *_table(m["dev"], dev_names), test, *_table(m["test"], ["value"]), "", _verdict(m), stars, check]


def _noise(n: dict) -> list[str]:
    text = (f"{n['n']:,} SST-2 training sentences, {n['noise'] * 100:.0f}% of labels flipped (seed 0); "
            f"`knn_shapley` scorer, cross-fitted (5 folds, K = {n['k']}, all other folds as validation), "
            f"{n['seconds']:.1f}s. The lowest-valued {n['flagged']:,} records (20%): precision "
            f"**{n['precision']:.3f}**, recall **{n['recall']:.3f}** (random flagging: 0.200 / 0.200). "
            f"ROC AUC of −value for flipped vs clean: {n['auc']:.3f}. {n['negative_share'] * 100:.1f}% of "
            f"records have a negative value; {n['precision_of_negative'] * 100:.1f}% of those are flipped. "
            f"`benchmarks/value.py:knn_shapley_scores(pool)` returns these scores for any embedded, labelled "
            f"pool.\n")
    return ["### KNN-Shapley as a label-noise detector (SST-2, 20% symmetric noise)\n", _run(n), text]


def markdown(res: dict) -> str:
    lines = ["## Data value\n"]
    if "shapley" in res:
        lines += [*_shapley(res["shapley"]), ""]
    if "movielens" in res:
        lines += [*_movielens(res["movielens"]), ""]
    if "noise" in res:
        lines += _noise(res["noise"])
    return "\n".join(lines) + "\n"
