"""The learning-curves section: the primary metric by training budget per arm, and selected − random.

For a loss (``eval_loss``, instruction runs) lower is better: a negative selected − random is the gain, and a
seed counts as a win when the selection's loss is below random's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curata.engine.evaluate import LOWER_IS_BETTER
from curata.report import charts
from curata.report.load import RunData
from curata.report.markup import Html, esc, missing, section, table

METRICS = ("macro_f1", "accuracy", "f1", "eval_loss", "exact_match")


def budget_label(b: float) -> str:
    v = 100 * float(b)
    return f"{v:.0f}%" if abs(v - round(v)) < 1e-9 else f"{v:.2g}%"


def _aggregate(res: pd.DataFrame, metric: str) -> pd.DataFrame:
    g = res.groupby(["arm", "budget"], sort=True)
    out = g[metric].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    out["n_train"] = g["n_train"].mean() if "n_train" in res.columns else np.nan
    return out.reset_index()


def _from_summary(table_rows: list[dict], metric: str) -> pd.DataFrame | None:
    t = pd.DataFrame(table_rows)
    if not {"arm", "budget", "mean"} <= set(t.columns):
        return None
    if "metric" in t.columns:
        t = t[t["metric"] == metric]
    t = t.assign(std=t["std"].fillna(0.0) if "std" in t.columns else 0.0,
                 n=t["n"] if "n" in t.columns else np.nan,
                 n_train=t["n_train"] if "n_train" in t.columns else np.nan)
    return t[["arm", "budget", "mean", "std", "n", "n_train"]].reset_index(drop=True)


def _wins(res: pd.DataFrame | None, metric: str, budget: float, lower: bool = False) -> str | None:
    if res is None or "seed" not in res.columns:
        return None
    at = res[np.isclose(res["budget"].astype(float), budget)]
    s = at[at["arm"] == "selected"].groupby("seed")[metric].mean()
    r = at[at["arm"] == "random"].groupby("seed")[metric].mean()
    common = s.index.intersection(r.index)
    if not len(common):
        return None
    better = s[common] < r[common] if lower else s[common] > r[common]
    return f"{int(better.sum())}/{len(common)}"


def _cell(row) -> Html:
    n = "" if pd.isna(row["n"]) else f" ({int(row['n'])})"
    return Html(f'{row["mean"]:.3f} <span class="muted">± {row["std"]:.3f}{n}</span>')


def _pick_metric(d: RunData) -> tuple[str, str]:
    """(column holding the primary metric, its name): ``primary`` names it; its value is in ``f1``."""
    res, es = d.eval_results, d.eval_summary or {}
    wanted = es.get("primary")
    if not wanted and res is not None and "primary" in res.columns and res["primary"].notna().any():
        wanted = str(res["primary"].dropna().iloc[0])
    cols = set(res.columns) if res is not None else set()
    if wanted and wanted in cols:
        return wanted, wanted
    if "f1" in cols:
        return "f1", wanted or "f1"
    column = next((m for m in METRICS if m in cols), "macro_f1")
    return column, wanted or column


def learning_curves(d: RunData) -> str:
    res, es = d.eval_results, d.eval_summary or {}
    column, metric = _pick_metric(d)
    lower = metric in LOWER_IS_BETTER
    agg = None
    if res is not None and len(res) and {"arm", "budget", column} <= set(res.columns):
        res = res[res[column].notna()].copy()
        res["arm"] = res["arm"].astype(str)
        agg = _aggregate(res, column)
    elif es.get("table"):
        res = None
        agg = _from_summary(es["table"], metric)
    if agg is None or not len(agg):
        return missing(f"No evaluation yet: run <code>curata evaluate {esc(d.shown_as)} --test TEST</code> "
                       "to train on the selection and on random subsets of the same size.")
    agg["budget"] = agg["budget"].astype(float)
    full_rows = agg[agg["arm"] == "full"]
    full = None
    if len(full_rows):
        f = full_rows.sort_values("budget").iloc[-1]
        full = (float(f["mean"]), float(f["std"]))
    curve_rows = agg[agg["arm"] != "full"]
    arms = [a for a in ("selected", "random") if a in set(curve_rows["arm"])]
    arms += sorted(set(curve_rows["arm"]) - set(arms))
    curves = {}
    for arm in arms:
        c = curve_rows[curve_rows["arm"] == arm].sort_values("budget")
        curves[arm] = (c["budget"].to_numpy(), c["mean"].to_numpy(dtype=float),
                       c["std"].to_numpy(dtype=float))
    budgets = sorted(curve_rows["budget"].unique())
    n_train = {b: curve_rows.loc[curve_rows["budget"] == b, "n_train"].mean() for b in budgets}
    ticks = [(b, budget_label(b) + ("" if pd.isna(n_train[b]) else f"\nn={int(round(n_train[b])):,}"))
             for b in budgets]
    shown = f"{metric} (lower is better)" if lower else metric
    img = charts.learning_curve(curves, full, shown, ticks) if curves or full else ""
    both = {"selected", "random"} <= set(arms)
    rows = []
    for b in budgets:
        at = curve_rows[curve_rows["budget"] == b].set_index("arm")
        row = [budget_label(b), None if pd.isna(n_train[b]) else int(round(n_train[b]))]
        row += [_cell(at.loc[a]) if a in at.index else "–" for a in arms]
        if both:
            if {"selected", "random"} <= set(at.index):
                delta = float(at.loc["selected", "mean"] - at.loc["random", "mean"])
                gain = -delta if lower else delta
                row.append(Html(f'<span class="{"pos" if gain > 0 else "neg" if gain < 0 else ""}">'
                                f"{delta:+.3f}</span>"))
            else:
                row.append("–")
            row.append(_wins(res, column, b, lower) or "–")
        rows.append(row)
    heads = ["budget", "n train"] + arms + \
        (["selected − random", "selected wins (paired seeds)"] if both else [])
    body = img + table(heads, rows, cls="narrow")
    if full is not None:
        f = full_rows.sort_values("budget").iloc[-1]
        n_full = "" if pd.isna(f["n_train"]) else f" on {int(round(f['n_train'])):,} records"
        body += f'<p class="muted">Full data{esc(n_full)}: {esc(metric)} {full[0]:.3f} ± {full[1]:.3f}.</p>'
    if res is not None:
        body += _all_metrics(res)
    test = es.get("test") or {}
    lead = f"Primary metric <b>{esc(metric)}</b>{' (lower is better)' if lower else ''}, mean ± std over seeds " \
           "(runs in brackets)"
    if es.get("trainer"):
        lead += f"; trainer <code>{esc(es['trainer'])}</code>"
    if test.get("path"):
        n = test.get("records")
        n_test = f" ({int(n):,} records)" if isinstance(n, (int, float)) else ""
        lead += f"; test set <code>{esc(test['path'])}</code>{esc(n_test)}"
    return section("learning-curves", "Learning curves", body, lead + ".")


def _all_metrics(res: pd.DataFrame) -> str:
    metrics = [m for m in METRICS if m in res.columns and res[m].notna().any()]
    if not metrics:
        return ""
    g = res.groupby(["budget", "arm"], sort=True)
    mean, std, n = g[metrics].mean(), g[metrics].std().fillna(0.0), g.size()
    rows = []
    for key in mean.index:
        rows.append([budget_label(key[0]), key[1], int(n[key])] +
                    [Html(f'{mean.loc[key, m]:.3f} <span class="muted">± {std.loc[key, m]:.3f}</span>')
                     if pd.notna(mean.loc[key, m]) else "–" for m in metrics])
    return "<details><summary>all metrics</summary>" + \
        table(["budget", "arm", "runs", *metrics], rows, cls="narrow") + "</details>"
