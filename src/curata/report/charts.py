"""Figures for the run report: matplotlib (Agg, imported lazily) rendered to inline base64 PNG ``<img>``."""

from __future__ import annotations

import base64
import functools
import html
import io

import numpy as np

POOL = "#aab3bf"
SELECTED = "#2563eb"
ARM_COLOURS = {"selected": "#2563eb", "random": "#f59e0b", "full": "#374151"}
OTHER_COLOURS = ("#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#d946ef", "#84cc16", "#f97316", "#14b8a6")
DPI = 150
STYLE = {
    "font.size": 8.5, "axes.titlesize": 9, "axes.titleweight": "bold", "axes.labelsize": 8.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#9ca3af",
    "axes.grid": True, "grid.color": "#e5e7eb", "grid.linewidth": 0.6, "axes.axisbelow": True,
    "xtick.color": "#374151", "ytick.color": "#374151", "axes.labelcolor": "#374151",
    "legend.frameon": False, "legend.fontsize": 8, "figure.facecolor": "white",
}


def arm_colour(arm: str, others: list[str]) -> str:
    if arm in ARM_COLOURS:
        return ARM_COLOURS[arm]
    return OTHER_COLOURS[others.index(arm) % len(OTHER_COLOURS)] if arm in others else OTHER_COLOURS[0]


def _styled(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def _img(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    width = int(round(fig.get_figwidth() * 100))
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<img class="chart" style="max-width:{width}px" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">')


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@_styled
def label_bars(names: list[str], pool_share: np.ndarray, sel_share: np.ndarray | None) -> str:
    """Horizontal grouped bars: share of each label in the pool and in the selection."""
    n = len(names)
    fig, axes = _figure(5.4, max(1.6, 0.3 * n * (1.4 if sel_share is not None else 1) + 0.9))
    ax = axes[0, 0]
    y = np.arange(n)
    h = 0.4 if sel_share is not None else 0.7
    ax.barh(y - (h / 2 if sel_share is not None else 0), pool_share * 100, h, color=POOL, label="pool")
    if sel_share is not None:
        ax.barh(y + h / 2, sel_share * 100, h, color=SELECTED, label="selected")
    ax.set_yticks(y, [_short(x) for x in names])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("% of records (pool; selection)" if sel_share is not None else "% of records in the pool")
    ax.set_ylabel("label")
    fig.legend(loc="outside upper right", ncols=2)
    return _img(fig, "label distribution, pool vs selected")


#: what the values of well-known score columns measure, for the histograms' x axes
SCORE_UNITS = {
    "length_score": "whitespace tokens",
    "mtld_score": "MTLD lexical diversity",
    "nn_sim_score": "cosine similarity to nearest record",
    "knn_dist_score": "cosine distance to k-th neighbour",
    "target_sim_score": "cosine similarity to target set",
    "exact_dup_score": "1 = exact duplicate",
    "ppl_score": "perplexity",
}


def score_axis_label(col: str) -> str:
    """The x-axis label of a score's histogram (the panel's title names the column)."""
    return SCORE_UNITS.get(col) or f"{col.removesuffix('_score')} score value"


@_styled
def score_histograms(values: dict[str, np.ndarray], selected: np.ndarray | None) -> str:
    """One small histogram per score column; selected vs not selected, each normalised to its own total.

    x: the score's value (with its unit where known); y: the percentage of the group's records in each bin.
    """
    cols = list(values)
    ncols = min(3, len(cols))
    nrows = -(-len(cols) // ncols)
    fig, axes = _figure(3.7 * ncols, 2.5 * nrows + 0.3, nrows, ncols)
    groups = [("not selected", POOL, ~selected), ("selected", SELECTED, selected)] if selected is not None \
        else [("pool", POOL, None)]
    for ax, col in zip(axes.flat, cols):
        v = values[col]
        finite = np.isfinite(v)
        lo, hi = np.percentile(v[finite], [0.5, 99.5])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        vals = v[finite]
        if np.all(vals == np.round(vals)) and hi - lo <= 60:
            edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0)
        else:
            edges = np.linspace(lo, hi, 41)
        clipped = np.clip(v, lo, hi)
        for name, colour, mask in groups:
            keep = finite if mask is None else finite & mask
            counts, _ = np.histogram(clipped[keep], edges)
            share = 100 * counts / max(1, counts.sum())
            ax.stairs(share, edges, fill=True, color=colour, alpha=0.45, label=name)
            ax.stairs(share, edges, color=colour, linewidth=1)
        ax.set_title(_short(col, 40), loc="left")
        ax.set_xlabel(_short(score_axis_label(col), 50), fontsize=7.5)
        ax.set_ylabel("% of group's records" if selected is not None else "% of records", fontsize=7.5)
        ax.tick_params(axis="both", labelsize=7)
        ax.grid(axis="x", visible=False)
    for ax in list(axes.flat)[len(cols):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncols=2)
    return _img(fig, "score distributions")


@_styled
def pool_map(pool_xy: np.ndarray, sel_xy: np.ndarray | None,
             centroids: list[tuple[str, float, float]]) -> str:
    """The pool's 2-D projection in grey with the selection on top in colour."""
    fig, axes = _figure(10, 5.6)
    ax = axes[0, 0]
    ax.scatter(pool_xy[:, 0], pool_xy[:, 1], s=4, color=POOL, alpha=0.45, linewidths=0,
               label="not selected" if sel_xy is not None else "pool", rasterized=True)
    if sel_xy is not None:
        ax.scatter(sel_xy[:, 0], sel_xy[:, 1], s=9, color=SELECTED, alpha=0.85, linewidths=0,
                   label="selected")
    for name, cx, cy in centroids:
        ax.annotate(name, (cx, cy), ha="center", va="center", fontsize=8, fontweight="bold", color="#111827",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#9ca3af", "lw": 0.5,
                          "alpha": 0.8})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("map x (2-D projection of the embeddings; unitless)")
    ax.set_ylabel("map y")
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#e5e7eb")
    ax.legend(loc="upper right", markerscale=2.5)
    return _img(fig, "2-D map of the pool with the selection highlighted")


@_styled
def cluster_bars(names: list[str], pool: np.ndarray, sel: np.ndarray | None,
                 expected: np.ndarray | None) -> str:
    """Records per cluster in the pool (top) and in the selection with its proportional share (bottom)."""
    n = len(names)
    panels = 2 if sel is not None else 1
    fig, axes = _figure(11, 2.0 * panels + 0.6, panels, 1, sharex=True)
    x = np.arange(n)
    axes[0, 0].bar(x, pool, color=POOL, width=0.75)
    axes[0, 0].set_ylabel("records in pool")
    if sel is not None:
        ax = axes[1, 0]
        ax.bar(x, sel, color=SELECTED, width=0.75, label="selected")
        if expected is not None:
            ax.scatter(x, expected, marker="_", s=(260 / max(n, 8)) ** 2 * 0.6, color="#111827",
                       linewidths=1.4, label="proportional share", zorder=3)
        ax.set_ylabel("records selected")
        ax.legend(loc="upper right", ncols=2)
    bottom = axes[-1, 0]
    size = 8 if n <= 30 else 6.5 if n <= 60 else 5.5
    bottom.set_xticks(x, names, rotation=0 if n <= 30 else 90, fontsize=size)
    bottom.set_xlabel("cluster (sorted by pool size)")
    for row in axes[:, 0]:
        row.grid(axis="x", visible=False)
        row.set_xlim(-0.6, n - 0.4)
    return _img(fig, "budget per cluster")


@_styled
def bandit_charts(arms: list[str], pulls: np.ndarray, rounds: np.ndarray, rewards: np.ndarray,
                  pull_arms: np.ndarray) -> str:
    """Pulls per arm (left) and the reward of every pull by round, with a running mean (right)."""
    fig, axes = _figure(11, 3.4, 1, 2, width_ratios=[1, 2])
    left, right = axes[0]
    x = np.arange(len(arms))
    left.bar(x, pulls, color=SELECTED, width=0.7)
    left.set_xticks(x, [_short(a, 10) for a in arms], rotation=0 if len(arms) <= 12 else 90,
                    fontsize=8 if len(arms) <= 20 else 6)
    left.set_title("pulls per arm", loc="left")
    left.set_xlabel("arm")
    left.set_ylabel("pulls")
    left.grid(axis="x", visible=False)
    ok = np.isfinite(rewards)
    if ok.any():
        many = len(arms) > len(OTHER_COLOURS)
        if many:
            right.scatter(rounds[ok], rewards[ok], s=18, color=SELECTED, alpha=0.6, linewidths=0,
                          label="pull")
        else:
            for i, arm in enumerate(arms):
                m = ok & (pull_arms == arm)
                if m.any():
                    right.scatter(rounds[m], rewards[m], s=18, color=OTHER_COLOURS[i], alpha=0.75,
                                  linewidths=0, label=f"arm {_short(arm, 10)}")
        order = np.argsort(rounds[ok], kind="stable")
        r = rewards[ok][order]
        window = min(len(r), max(3, len(r) // 10))
        running = np.convolve(r, np.ones(window) / window, mode="valid")
        right.plot(rounds[ok][order][window - 1:], running, color="#111827", linewidth=1.4,
                   label=f"running mean ({window})")
        right.legend(loc="best", ncols=2 if len(arms) > 4 else 1, fontsize=7)
    right.set_title("reward per round", loc="left")
    right.set_xlabel("round")
    right.set_ylabel("reward")
    return _img(fig, "bandit pulls and rewards")


@_styled
def learning_curve(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                   full: tuple[float, float] | None, metric: str, ticks: list[tuple[float, str]]) -> str:
    """Mean ± std of the metric by training budget, one line per arm; full data as a horizontal line."""
    fig, axes = _figure(8.5, 4.2)
    ax = axes[0, 0]
    others = [a for a in curves if a not in ARM_COLOURS]
    xs = np.concatenate([c[0] for c in curves.values()]) if curves else np.array([1.0])
    for arm, (x, mean, std) in curves.items():
        colour = arm_colour(arm, others)
        ax.plot(x, mean, marker="o", markersize=4, color=colour, label=arm, linewidth=1.6)
        ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)
    if full is not None:
        ax.axhline(full[0], color=ARM_COLOURS["full"], linestyle="--", linewidth=1.2,
                   label=f"full data ({full[0]:.3f})")
        if full[1] > 0:
            ax.axhspan(full[0] - full[1], full[0] + full[1], color=ARM_COLOURS["full"], alpha=0.07,
                       linewidth=0)
    if full is not None:
        lo, hi = ax.get_ylim()
        pad = 0.05 * (max(hi, full[0] + full[1]) - min(lo, full[0] - full[1]))
        ax.set_ylim(min(lo, full[0] - full[1] - pad), max(hi, full[0] + full[1] + pad))
    if len(xs) and xs.min() > 0 and xs.max() / xs.min() > 8:
        ax.set_xscale("log")
        ax.minorticks_off()
    if ticks:
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=7.5)
    ax.set_xlabel("training budget (fraction of the pool; n = records trained on)")
    ax.set_ylabel(metric)
    ax.legend(loc="lower right")
    return _img(fig, f"learning curves: {metric} by training budget")
