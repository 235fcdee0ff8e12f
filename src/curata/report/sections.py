"""Report sections over the record table: labels, score distributions, the 2-D map, clusters, bandit pulls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curata.report import charts
from curata.report.load import RunData
from curata.report.markup import esc, missing, pct, section, table

MAX_POINTS = 5000
MAX_LABELS = 25
MAX_SCORES = 24
MAX_CLUSTER_BARS = 60
MAX_CENTROID_LABELS = 60


def cluster_name(value) -> str:
    try:
        v = float(value)
        return str(int(v)) if np.isfinite(v) and v.is_integer() else str(value)
    except (TypeError, ValueError):
        return str(value)


def _selected(acc: pd.DataFrame) -> np.ndarray:
    return (acc["status"] == "selected").to_numpy()


def labels(d: RunData) -> str:
    acc = d.accepted
    if acc is None:
        return ""
    lab = acc["label"] if "label" in acc.columns else None
    if lab is None or not lab.notna().any():
        return missing("No labels in this pool: the label distribution is not shown.")
    lab = lab.astype(object).where(lab.notna(), None)
    counts = lab.value_counts()
    known = [str(x) for x in (d.summary or {}).get("labels") or []]
    names = [x for x in known if x in counts.index] + [x for x in counts.index if x not in known]
    lead = ""
    if len(names) > MAX_LABELS:
        names = list(counts.index[:MAX_LABELS])
        lead = f"Showing the {MAX_LABELS} most frequent of {len(counts):,} labels."
    pool_n = counts.reindex(names).to_numpy(dtype=float)
    pool_share = pool_n / counts.sum()
    sel_share = sel_n = None
    if d.has_selection:
        sel_counts = lab[_selected(acc)].value_counts()
        sel_n = sel_counts.reindex(names, fill_value=0).to_numpy(dtype=float)
        sel_share = sel_n / max(1, sel_counts.sum())
        sel_total = int(sel_counts.sum())
    unlabelled = int(lab.isna().sum())
    if unlabelled:
        lead += f" {unlabelled:,} accepted records have no label."
    rows = []
    for i, name in enumerate(names):
        row = [name, int(pool_n[i]), pct(pool_n[i], counts.sum())]
        if sel_n is not None:
            row += [int(sel_n[i]), pct(sel_n[i], sel_total), pct(sel_n[i], pool_n[i])]
        rows.append(row)
    heads = ["label", "pool", "% of pool"] + \
        (["selected", "% of selection", "selection rate"] if sel_n is not None else [])
    body = f'<div class="split"><div>{charts.label_bars(names, pool_share, sel_share)}</div>' \
           f"<div>{table(heads, rows, sortable=True)}</div></div>"
    return section("labels", "Label distribution", body, esc(lead.strip()))


def scores(d: RunData) -> str:
    acc = d.accepted
    if acc is None:
        return ""
    values = {}
    for c in d.score_columns():
        v = acc[c].to_numpy(dtype=float, na_value=np.nan)
        if np.isfinite(v).any():
            values[c] = v
    if not values:
        return missing("No numeric score columns (<code>*_score</code>) in records.parquet: "
                       "score distributions are not shown.")
    lead = "x: the score's value; y: the percentage of the group's records in each bin (each group — " \
           "selected, not selected — sums to 100%). Values beyond the 0.5th–99.5th percentile fall in the " \
           "edge bins."
    if not d.has_selection:
        lead = "x: the score's value; y: the percentage of the pool's records in each bin. Values beyond the " \
               "0.5th–99.5th percentile fall in the edge bins."
    if len(values) > MAX_SCORES:
        lead += f" Showing the first {MAX_SCORES} of {len(values)} score columns."
        values = dict(list(values.items())[:MAX_SCORES])
    sel = _selected(acc) if d.has_selection else None
    rows = []
    for c, v in values.items():
        fin = np.isfinite(v)
        row = [c]
        if sel is not None:
            row += [np.median(v[fin & ~sel]) if (fin & ~sel).any() else None,
                    np.median(v[fin & sel]) if (fin & sel).any() else None]
        else:
            row += [np.median(v[fin])]
        rows.append(row + [np.min(v[fin]), np.max(v[fin]), int((~fin).sum())])
    heads = ["score"] + (["median, not selected", "median, selected"] if sel is not None else ["median"]) + \
        ["min", "max", "missing"]
    body = charts.score_histograms(values, sel) + table(heads, rows, cls="narrow", sortable=True)
    return section("scores", "Score distributions", body, lead)


def _sample(idx: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(idx, n, replace=False)) if len(idx) > n else idx


def pool_map(d: RunData, seed: int = 0) -> str:
    acc = d.accepted
    if acc is None:
        return ""
    if not {"map_x", "map_y"} <= set(acc.columns):
        return missing("No 2-D map: records.parquet has no <code>map_x</code>/<code>map_y</code> columns "
                       "(no stage of this run wrote a projection).")
    xy = acc[["map_x", "map_y"]].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return missing("No 2-D map: the map_x/map_y columns are empty.")
    sel = _selected(acc) if d.has_selection else np.zeros(len(acc), dtype=bool)
    rng = np.random.default_rng(seed)
    rest, chosen = np.flatnonzero(ok & ~sel), np.flatnonzero(ok & sel)
    rest_s, chosen_s = _sample(rest, MAX_POINTS, rng), _sample(chosen, MAX_POINTS, rng)
    centroids = []
    if "cluster" in acc.columns:
        cl = acc["cluster"].to_numpy()[ok]
        frame = pd.DataFrame({"c": cl, "x": xy[ok, 0], "y": xy[ok, 1]}).dropna(subset=["c"])
        if 0 < frame["c"].nunique() <= MAX_CENTROID_LABELS:
            med = frame.groupby("c")[["x", "y"]].median()
            centroids = [(cluster_name(c), float(r.x), float(r.y)) for c, r in med.iterrows()]
    what = "not-selected" if d.has_selection else "pool"
    lead = f"{len(rest_s):,} of {len(rest):,} {what} records"
    lead += f" (random sample, seed {seed})" if len(rest_s) < len(rest) else ""
    if d.has_selection:
        lead += f" in grey; {len(chosen_s):,} of {len(chosen):,} selected in blue"
    lead += "." + (" Numbers mark cluster centres (median position)." if centroids else "")
    img = charts.pool_map(xy[rest_s], xy[chosen_s] if d.has_selection else None, centroids)
    return section("map", "Map of the pool", img, esc(lead))


def clusters(d: RunData) -> str:
    acc = d.accepted
    if acc is None:
        return ""
    if "cluster" not in acc.columns or not acc["cluster"].notna().any():
        return missing("No clusters: records.parquet has no <code>cluster</code> column, so the budget per "
                       "cluster is not shown.")
    cl = acc["cluster"]
    ok = cl.notna().to_numpy()
    pool = cl[ok].value_counts()
    pool = pool.iloc[np.lexsort((pool.index.to_numpy(dtype=object).astype(str), -pool.to_numpy()))]
    sel = expected = None
    lead = f"{len(pool):,} clusters."
    if d.has_selection:
        s = _selected(acc)
        sel = cl[ok & s].value_counts().reindex(pool.index, fill_value=0)
        rate = sel.sum() / max(1, pool.sum())
        expected = pool * rate
        covered = int((sel > 0).sum())
        lead += f" The selection draws from {covered:,} of them; the black ticks mark a proportional share " \
                f"({100 * rate:.1f}% of each cluster)."
    names = [cluster_name(c) for c in pool.index]
    top = slice(0, MAX_CLUSTER_BARS)
    if len(pool) > MAX_CLUSTER_BARS:
        lead += f" The chart shows the {MAX_CLUSTER_BARS} largest clusters."
    img = charts.cluster_bars(names[top], pool.to_numpy()[top],
                              None if sel is None else sel.to_numpy()[top],
                              None if expected is None else expected.to_numpy()[top])
    rows = []
    for i, c in enumerate(pool.index):
        row = [names[i], int(pool.iloc[i])]
        if sel is not None:
            row += [int(sel.iloc[i]), pct(sel.iloc[i], pool.iloc[i]), round(float(expected.iloc[i]), 1)]
        rows.append(row)
    heads = ["cluster", "pool"] + \
        (["selected", "selection rate", "proportional share"] if sel is not None else [])
    details = f"<details><summary>table of all {len(pool):,} clusters</summary>" \
              f"{table(heads, rows, cls='narrow', sortable=True)}</details>"
    return section("clusters", "Budget per cluster", img + details, esc(lead))


def _arm_order(arms) -> list[str]:
    def key(a: str):
        try:
            return (0, float(a), a)
        except ValueError:
            return (1, 0.0, a)
    return sorted(set(arms), key=key)


def bandit(d: RunData) -> str:
    b = d.bandit
    if b is None:
        return missing("No bandit log (bandit_log.jsonl): this run's selector did not pull arms.")
    arms = _arm_order(b["arm"])
    pulls = b["arm"].value_counts().reindex(arms, fill_value=0)
    rounds = pd.to_numeric(b["round"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(rounds).all():
        rounds = np.arange(len(b), dtype=float)
    rewards = b["reward"].to_numpy(dtype=float, na_value=np.nan)
    img = charts.bandit_charts(arms, pulls.to_numpy(), rounds, rewards, b["arm"].to_numpy())
    g = b.groupby("arm", sort=False)
    size = g["size"].sum(min_count=1)
    mean = g["reward"].mean()
    last = g["reward"].last()
    rows = [(a, int(pulls[a]), size.get(a), mean.get(a), last.get(a)) for a in arms]
    policies = sorted({str(p) for p in b["policy"].dropna()})
    lead = f"{len(b):,} pulls over {len(np.unique(rounds)):,} rounds across {len(arms):,} arms"
    lead += f"; policy {', '.join(policies)}." if policies else "."
    body = img + f"<details><summary>table of all {len(arms):,} arms</summary>" + \
        table(["arm", "pulls", "records taken", "mean reward", "last reward"], rows, cls="narrow",
              sortable=True) + \
        "</details>"
    return section("bandit", "Bandit pulls and rewards", body, esc(lead))

