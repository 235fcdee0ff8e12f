"""Facility location: pick records that best represent the whole pool, F(S) = Σ_i max_{j∈S} sim(i, j)."""

from __future__ import annotations

import heapq
import math
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from curata.engine.stage import Params, Selector, SelectorResult
from curata.errors import ConfigError
from curata.selectors.expr import Expression, ExprSpec, parse_terms, producer_fix, validate_spec
from curata.selectors.groups import allocate, group_codes, interleave
from curata.selectors.kcenter import require_embeddings


class FacilityLocationParams(Params):
    similarity: Literal["clipped", "shifted"] = "shifted"  # max(cos, 0) or (1 + cos) / 2
    dense_max: int = Field(5000, ge=1)  # above this many candidates: a sparse kNN graph
    k: int = Field(50, ge=1)  # neighbours per record in the sparse graph
    #: run the greedy separately inside each value of this column (e.g. "label"), with quotas by
    #: ``allocation``: every class is covered, and diversity is measured among records of the same class
    stratify: str | None = None
    allocation: Literal["proportional", "sqrt", "balanced"] = "proportional"
    #: with ``stratify``: every group gets at least min(size, ⌈floor · budget / K⌉) records (K groups), on top
    #: of ``allocation`` (the others share the rest by its weights); 0 = quotas by ``allocation`` alone
    floor: float = Field(0.0, ge=0, le=1)
    #: inside each group, the greedy first chooses only among the top ``prefer_share`` of the group's
    #: candidates ranked by this column or expression (e.g. ``proxy_prob``); past them only when the quota is
    #: larger.
    #: Every candidate is still served (the objective covers the whole group)
    prefer: ExprSpec | None = None
    prefer_share: float = Field(1.0, gt=0, le=1)

    _check_prefer = field_validator("prefer")(validate_spec)


def prefer_text(expr: Expression, df) -> str:
    """``proxy_prob`` / ``−proxy_prob`` for a single unit-weight term, else the expression's description."""
    if len(expr.terms) == 1 and abs(expr.terms[0][1]) == 1:
        return ("" if expr.terms[0][1] > 0 else "−") + expr.terms[0][0]
    return expr.describe(df)


def to_similarity(cos: np.ndarray, kind: str, inplace: bool = False) -> np.ndarray:
    """Cosine → facility-location similarity: ``max(cos, 0)`` or ``(1 + cos)/2``."""
    out = cos if inplace else cos.copy()
    if kind == "clipped":
        np.maximum(out, 0.0, out=out)
    else:
        out += 1.0
        out *= 0.5
    return out


class FacilityLocationSelector(Selector):
    """Lazy greedy (Minoux) on the monotone submodular facility-location function over the candidates.

    Every record is "served" by its most similar chosen record; each step adds the record that raises
    total service most, which gives a (1 − 1/e) guarantee and a subset that mirrors the pool's density.
    Up to ``dense_max`` candidates the similarity is dense; above, a faiss kNN graph (k per record)
    keeps memory O(n·k) and treats non-neighbours as similarity 0.
    """

    name = "facility_location"
    Params = FacilityLocationParams
    requires = ("faiss",)
    needs_embeddings = True

    def check(self, columns: set[str] | None, has_labels: bool) -> None:
        super().check(columns, has_labels)
        p = self.params
        if columns is not None and p.prefer is not None:
            for name, _ in parse_terms(p.prefer):
                if name not in columns and f"{name}_score" not in columns:
                    raise ConfigError("select.selector.prefer", f"needs the column {name!r}, which no scorer "
                                      "in this pipeline writes", producer_fix(name))

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        p = self.params
        rows = np.asarray(candidates, dtype=np.int64)
        emb_all = require_embeddings(pool, self.name)
        if p.stratify is None:
            groups = [(None, rows, min(int(n_target), len(rows)))]
        else:
            codes, values = group_codes(pool, rows, p.stratify, "select.selector.stratify")
            sizes = np.bincount(codes, minlength=len(values))
            quota = allocate(sizes, int(n_target), allocation=p.allocation, floor=p.floor)
            groups = [(values[g], rows[codes == g], int(quota[g])) for g in range(len(values))]
        prefer = None if p.prefer is None else Expression.parse(p.prefer, "select.selector.prefer")
        pref_txt = "" if prefer is None else f"the top {p.prefer_share:.0%} by {prefer_text(prefer, pool.df)}"
        ids = pool.df["id"].to_numpy()
        parts, reasons, skipped, summaries = [], {}, {}, []
        for gi, (value, grows, k) in enumerate(groups):
            if k == 0 or len(grows) == 0:
                for r in grows.tolist():
                    skipped[int(r)] = f"{p.stratify} {value!r}: quota 0"
                continue
            first = None
            if prefer is not None and p.prefer_share < 1:
                key = prefer.evaluate(pool.df, grows)
                n_first = max(1, math.ceil(p.prefer_share * len(grows) - 1e-9))
                first = np.zeros(len(grows), dtype=bool)
                first[np.lexsort((np.arange(len(grows)), -key))[:n_first]] = True
            picked, gains, graph, graph_text = self._greedy(emb_all, grows, k, ctx, first)
            where = "" if value is None else f"{p.stratify} {value!r}: "
            for step, (i, g) in enumerate(zip(picked, gains)):
                why = "" if first is None else (
                    f"; among {pref_txt} ({int(first.sum())} candidates)" if first[i]
                    else f"; past {pref_txt}: the quota is larger than they are")
                reasons[int(grows[i])] = f"{where}facility-location gain {g:.3g} at step {step + 1} " \
                                         f"(of {len(grows)} candidates{why})"
            chosen = np.zeros(len(grows), dtype=bool)
            chosen[picked] = True
            for i in np.flatnonzero(~chosen).tolist():
                by = graph.cover_by[i]
                out = "" if first is None or first[i] else f"; not among {pref_txt}"
                skipped[int(grows[i])] = (f"{where}represented by chosen record {ids[grows[by]]} "
                                          f"(similarity {graph.cover[i]:.2f}{out})" if by >= 0 else
                                          f"{where}no chosen record among its nearest neighbours{out}")
            parts.append((gi, grows[picked]))
            summaries.append({"group": None if value is None else str(value), "picks": int(k),
                              "candidates": int(len(grows)), "graph": graph_text,
                              **({} if first is None else {"preferred": int(first.sum())}),
                              "objective": round(float(graph.cover.sum()), 4),
                              "mean_cover": round(float(graph.cover.mean()), 4),
                              "evaluations": int(graph.evaluations)})
        if parts:
            codes = np.concatenate([np.full(len(r), gi) for gi, r in parts])
            rank = np.concatenate([np.arange(len(r)) for _, r in parts])
            rate = np.array([len(r) for _, r in parts], dtype=np.float64)
            rate_full = np.zeros(len(groups))
            rate_full[[gi for gi, _ in parts]] = rate / rate.sum()
            flat = np.concatenate([r for _, r in parts])
            order = flat[interleave(codes, rank, rate_full, np.arange(len(groups)))]
        else:
            order = np.array([], dtype=np.int64)
        first_txt = f", first among {pref_txt}" + ("" if p.stratify is None else f" of each {p.stratify}") \
            if pref_txt and p.prefer_share < 1 else ""
        if p.stratify is None:
            one = summaries[0] if summaries else {"graph": "none", "picks": 0}
            describe = f"facility location, lazy greedy ({p.similarity} cosine, {one['graph']}){first_txt}"
            summary = {"similarity": p.similarity, **{k: v for k, v in one.items() if k != "group"},
                       "objective_max": float(len(rows))}
        else:
            floor_txt = f", at least ⌈{p.floor:g} · budget / groups⌉ each" if p.floor > 0 else ""
            describe = (f"facility location, lazy greedy ({p.similarity} cosine), within each {p.stratify} "
                        f"({p.allocation} quotas{floor_txt}){first_txt}")
            summary = {"similarity": p.similarity, "stratify": p.stratify, "allocation": p.allocation,
                       "floor": p.floor, "groups": summaries}
        if first_txt:
            summary.update(prefer=str(p.prefer), prefer_share=p.prefer_share)
        return SelectorResult(order=order, describe=describe, reasons=reasons, skipped_reasons=skipped,
                              summary=summary)

    def _greedy(self, emb_all: np.ndarray, rows: np.ndarray, k: int, ctx, first: np.ndarray | None = None):
        """(picked positions into ``rows``, gains, cover state, graph description). With a ``first`` mask the
        greedy picks among those positions only, then (if ``k`` is larger) among the rest, same cover
        state."""
        p = self.params
        emb = np.ascontiguousarray(emb_all[rows], dtype=np.float32)
        n = len(rows)
        n_nbr = max(1, min(p.k, n - 1))
        if n <= p.dense_max:
            sim = to_similarity(emb @ emb.T, p.similarity, inplace=True)
            np.fill_diagonal(sim, 1.0)
            graph, text = DenseCover(sim), "dense similarity"
        else:
            graph, text = SparseCover(*knn_graph(emb, n_nbr, p.similarity, ctx.progress), n), f"{n_nbr}-NN graph"
        if first is None:
            picked, gains = lazy_greedy(graph, min(k, n), ctx.progress)
        else:
            k1 = min(k, int(first.sum()))
            p1, g1 = lazy_greedy(graph, k1, ctx.progress, np.flatnonzero(first))
            p2, g2 = lazy_greedy(graph, min(k, n) - k1, ctx.progress, np.flatnonzero(~first))
            picked, gains = np.r_[p1, p2].astype(np.int64), np.r_[g1, g2]
        return np.asarray(picked, dtype=np.int64), gains, graph, text


class DenseCover:
    """Coverage state over a dense symmetric similarity matrix (row j = how well j serves each record)."""

    def __init__(self, sim: np.ndarray):
        self.sim = sim
        n = len(sim)
        self.cover = np.zeros(n, dtype=np.float32)
        self.cover_by = np.full(n, -1, dtype=np.int64)
        self.evaluations = 0

    def initial_gains(self) -> np.ndarray:
        return self.sim.sum(axis=0, dtype=np.float64)

    def gain(self, j: int) -> float:
        self.evaluations += 1
        return float(np.maximum(self.sim[j] - self.cover, 0.0).sum(dtype=np.float64))

    def add(self, j: int) -> None:
        col = self.sim[j]
        better = col > self.cover
        self.cover[better] = col[better]
        self.cover_by[better] = j


class SparseCover:
    """Coverage state over a kNN graph stored by column: who each record j would serve, and how well."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, val: np.ndarray, n: int):
        by_dst = np.argsort(dst, kind="stable")
        self.rows, self.vals = src[by_dst], val[by_dst]
        self.indptr = np.r_[0, np.cumsum(np.bincount(dst, minlength=n))]
        self.cover = np.zeros(n, dtype=np.float32)
        self.cover_by = np.full(n, -1, dtype=np.int64)
        self.n, self.evaluations = n, 0

    def initial_gains(self) -> np.ndarray:
        dst = np.repeat(np.arange(self.n), np.diff(self.indptr))
        return np.bincount(dst, weights=self.vals.astype(np.float64), minlength=self.n)

    def _col(self, j: int):
        a, b = self.indptr[j], self.indptr[j + 1]
        return self.rows[a:b], self.vals[a:b]

    def gain(self, j: int) -> float:
        self.evaluations += 1
        r, v = self._col(j)
        return float(np.maximum(v - self.cover[r], 0.0).sum(dtype=np.float64))

    def add(self, j: int) -> None:
        r, v = self._col(j)
        better = v > self.cover[r]
        self.cover[r[better]] = v[better]
        self.cover_by[r[better]] = j


def knn_graph(emb: np.ndarray, k: int, kind: str, progress: bool = False) -> tuple[np.ndarray, ...]:
    """Edges (i, j, sim) from each record i to its k nearest neighbours j (exact inner product), plus i→i."""
    import faiss
    from tqdm.auto import tqdm

    n, d = emb.shape
    index = faiss.IndexFlatIP(d)
    index.add(emb)
    nbr = np.empty((n, k + 1), dtype=np.int64)
    cos = np.empty((n, k + 1), dtype=np.float32)
    step = 4096
    for a in tqdm(range(0, n, step), desc="kNN graph", disable=not progress, unit="block"):
        cos[a:a + step], nbr[a:a + step] = index.search(emb[a:a + step], k + 1)
    src = np.repeat(np.arange(n), k + 1)
    dst, val = nbr.ravel(), to_similarity(cos.ravel(), kind).astype(np.float32)
    keep = (dst >= 0) & (dst != src)
    src, dst, val = src[keep], dst[keep], val[keep]
    per_row = np.bincount(src, minlength=n)
    over = per_row > k  # the record was not among its own neighbours (duplicates): drop the farthest
    if over.any():
        pos = np.arange(len(src)) - np.repeat(np.r_[0, np.cumsum(per_row)[:-1]], per_row)
        keep = pos < k
        src, dst, val = src[keep], dst[keep], val[keep]
    diag = np.arange(n)
    return np.r_[src, diag], np.r_[dst, diag], np.r_[val, np.ones(n, dtype=np.float32)]


def lazy_greedy(graph, k: int, progress: bool = False, allowed: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Minoux's lazy greedy: stale gains are upper bounds (submodularity), so only the top is re-evaluated.

    Ties go to the lowest position, exactly as a naive greedy with ``argmax`` would choose. ``allowed``: pick
    only among these positions (the cover state may already hold earlier picks; initial gains stay bounds).
    """
    from tqdm.auto import tqdm

    if k <= 0:
        return np.array([], dtype=np.int64), np.array([])
    gains0 = graph.initial_gains()
    pos = range(len(gains0)) if allowed is None else np.asarray(allowed, dtype=np.int64).tolist()
    heap = [(-float(gains0[j]), j) for j in pos]
    heapq.heapify(heap)
    picked, gains = [], []
    bar = tqdm(total=k, desc="facility location", disable=not progress or k < 2000, unit="pick")
    while len(picked) < k and heap:
        _, j = heapq.heappop(heap)
        g = graph.gain(j)
        if not heap or (-g, j) <= heap[0]:
            graph.add(j)
            picked.append(j)
            gains.append(g)
            bar.update(1)
        else:
            heapq.heappush(heap, (-g, j))
    bar.close()
    return np.asarray(picked, dtype=np.int64), np.asarray(gains)
