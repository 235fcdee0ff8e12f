"""A bandit over clusters: spend the budget on the clusters whose records earn the most reward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from curata.engine.stage import Params, Selector, SelectorResult
from curata.errors import ConfigError
from curata.selectors.bandit_policies import ArmManager, centroid_neighbours
from curata.selectors.expr import Expression, ExprSpec, validate_spec
from curata.selectors.groups import group_codes, in_group_key, rank_in_groups
from curata.selectors.kcenter import require_embeddings

RewardFn = Callable[[object, np.ndarray], float]
MAX_LOGGED_SCORES = 50  # arms; above this a pull's log entry leaves out the per-arm policy values


class BanditParams(Params):
    policy: Literal["ucb1", "exp3", "thompson"] = "ucb1"
    reward: ExprSpec | None = None  # a column or expression, z-scored over the candidates
    by: ExprSpec | None = None  # in-arm order; None: seeded random
    batch: int = Field(8, ge=1)
    alpha: float = Field(1.0, ge=0)  # UCB exploration weight; 1.0 since curata's rewards are in [0, 1]
    gamma: float = Field(0.1, gt=0, le=1)  # EXP3 exploration rate
    share_neighbours: bool = False  # UCB1 only: rewards spread to clusters with centroids within tau
    tau: float = Field(0.2, gt=0)
    seed: int | None = None  # None: the run's seed

    _check = field_validator("reward", "by")(validate_spec)


class ClusterBanditSelector(Selector):
    """Clusters are arms; each pull takes ``batch`` unused records of one cluster and earns their mean reward.

    Quad chooses arms by UCB1 and LEAD by EXP3; Thompson sampling is the Bayesian alternative. Quad's
    α = 1e-4 suits raw influence scores; curata min-max normalises rewards, so α = 1.0 is the default.
    Every pull is logged, so ``replay(log)`` rebuilds the order and can re-check each policy decision.
    """

    name = "bandit"
    needs_columns = ("cluster",)
    Params = BanditParams

    def __init__(self, reward_fn: RewardFn | None = None, **params):
        super().__init__(**params)
        self.reward_fn = reward_fn
        if reward_fn is None and self.params.reward is None:
            raise ConfigError("select.selector.reward", "the bandit needs a reward",
                              "set `reward` to a score column or expression (e.g. `proxy_prob`), "
                              "or pass reward_fn= from Python")
        if self.params.share_neighbours and self.params.policy != "ucb1":
            raise ConfigError("select.selector.share_neighbours", "neighbour sharing is part of Quad's UCB1",
                              "use policy: ucb1, or set share_neighbours: false")

    @property
    def needs_embeddings(self) -> bool:
        return self.params.share_neighbours

    def _fn_name(self) -> str:
        fn = self.reward_fn
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"

    def describe(self) -> str:
        text = super().describe()
        if self.reward_fn is None:
            return text
        return f"{text[:-1]}, reward_fn={self._fn_name()} (not serialisable))"

    def fingerprint(self) -> str:
        import hashlib
        base = super().fingerprint()
        if self.reward_fn is None:
            return base
        return hashlib.sha256(f"{base}|{self._fn_name()}".encode()).hexdigest()[:16]

    def make_manager(self, pool, candidates: np.ndarray, ctx) -> tuple[ArmManager, np.ndarray, list]:
        """(arm manager, arm per candidate, cluster value per arm), exactly as ``order`` builds them.

        Arms are the pool's sorted cluster values (so arm k is cluster k for k-means output); clusters
        without candidates start exhausted.
        """
        p = self.params
        rows = np.asarray(candidates, dtype=np.int64)
        all_codes, clusters = group_codes(pool, np.arange(len(pool)), "cluster", "select.selector")
        codes = all_codes[rows]
        neighbours = None
        if p.share_neighbours:
            emb = require_embeddings(pool, self.name)[rows]
            neighbours = centroid_neighbours(emb, codes, len(clusters), p.tau)
        seed = ctx.seed if p.seed is None else p.seed
        mgr = ArmManager(len(clusters), p.policy, p.alpha, p.gamma, seed, neighbours)
        for arm in np.flatnonzero(np.bincount(codes, minlength=len(clusters)) == 0):
            mgr.exhaust(int(arm))
        return mgr, codes, clusters

    def order(self, pool, candidates: np.ndarray, n_target: int, ctx) -> SelectorResult:
        from curata.console import tqdm

        p = self.params
        seed = ctx.seed if p.seed is None else p.seed
        rows = np.asarray(candidates, dtype=np.int64)
        mgr, codes, clusters = self.make_manager(pool, rows, ctx)
        key, how = in_group_key(pool, rows, p.by, np.random.default_rng([seed, 1]))
        rank = rank_in_groups(codes, key, rows)
        bounds = np.cumsum(np.bincount(codes, minlength=mgr.n))[:-1]
        members = np.split(rows[np.lexsort((rank, codes))], bounds)
        if self.reward_fn is None:
            expr = Expression.parse(p.reward, "select.selector.reward")
            values = np.zeros(len(pool))
            values[rows] = expr.evaluate(pool.df, rows)
            reward_text = f"mean of {expr.describe(pool.df)}"
        else:
            reward_text = f"reward_fn {self._fn_name()} (Python callback, not serialisable)"
        ids = pool.df["id"].to_numpy()
        taken = np.zeros(mgr.n, dtype=np.int64)
        n_target = min(int(n_target), len(rows))
        arm_col = np.full(len(pool), -1, dtype=np.int64)
        round_col = np.full(len(pool), -1, dtype=np.int64)
        log, order, reasons = [], [], {}
        bar = tqdm(total=n_target, desc="bandit", disable=not ctx.progress or n_target < 5000, unit="rec")
        t = 0
        while len(order) < n_target and mgr.any_live:
            arm, scores = mgr.choose()
            size = min(p.batch, len(members[arm]) - taken[arm], n_target - len(order))
            got = members[arm][taken[arm]:taken[arm] + size]
            taken[arm] += size
            reward = float(values[got].mean()) if self.reward_fn is None else float(self.reward_fn(pool, got))
            if not np.isfinite(reward):
                raise ConfigError("select.selector.reward_fn", f"returned a non-finite reward ({reward}) "
                                  f"for cluster {clusters[arm]}", "return a finite float")
            mgr.update(arm, reward)
            exhausted = taken[arm] >= len(members[arm])
            if exhausted:
                mgr.exhaust(arm)
            entry = {"round": t, "arm": arm, "cluster": _plain(clusters[arm]), "rows": got.tolist(),
                     "ids": [_plain(i) for i in ids[got]], "reward": reward, "policy": p.policy,
                     "exhausted": bool(exhausted)}
            if mgr.n <= MAX_LOGGED_SCORES:
                entry["scores"] = {int(a): (round(float(v), 6) if np.isfinite(v) else None)
                                   for a, v in enumerate(scores)}
            log.append(entry)
            for r in got.tolist():
                reasons[r] = f"bandit round {t + 1} ({p.policy}): cluster {clusters[arm]}, " \
                             f"batch reward {reward:.3g}"
            arm_col[got], round_col[got] = arm, t
            order.extend(got.tolist())
            bar.update(len(got))
            t += 1
        bar.close()
        means = mgr.mean_reward()
        skipped = {}
        for i in np.flatnonzero(arm_col[rows] < 0).tolist():
            a = int(codes[i])
            if mgr.pulls[a] == 0:
                skipped[int(rows[i])] = f"cluster {clusters[a]} never pulled ({p.policy})"
            else:
                skipped[int(rows[i])] = (f"cluster {clusters[a]}: {mgr.pulls[a]} pull(s), mean reward "
                                         f"{means[a]:.3g}; record not reached")
        pulled = np.flatnonzero(mgr.pulls)
        walk = f"by {how}" if p.by is not None else "in seeded random order"
        describe = f"bandit over {mgr.n} clusters, {mgr.describe()}, {p.batch} records per pull {walk}; " \
                   f"reward = {reward_text}"
        summary = {"policy": p.policy, "rounds": t, "arms": mgr.n, "arms_pulled": len(pulled),
                   "reward": reward_text,
                   "pulls": {str(_plain(clusters[a])): int(mgr.pulls[a]) for a in pulled},
                   "mean_reward": {str(_plain(clusters[a])): round(float(means[a]), 4) for a in pulled}}
        return SelectorResult(order=np.asarray(order, dtype=np.int64), describe=describe, reasons=reasons,
                              skipped_reasons=skipped, log=log, summary=summary,
                              columns={"bandit_arm": arm_col, "bandit_round": round_col})


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def replay(log: list[dict], manager: ArmManager | None = None) -> np.ndarray:
    """The selection order a bandit log describes (rows of each pull, round by round).

    With a fresh ``manager`` built like the selector's (``make_manager``), the logged rewards are fed
    back and every arm choice is checked; a mismatch raises ``ValueError`` naming the round.
    """
    entries = sorted(log, key=lambda e: e["round"])
    for e in entries:
        if manager is not None:
            arm, _ = manager.choose()
            if arm != e["arm"]:
                raise ValueError(f"round {e['round']}: the policy chooses arm {arm}, the log says {e['arm']}")
            manager.update(arm, e["reward"])
            if e.get("exhausted"):
                manager.exhaust(arm)
    order = np.asarray([r for e in entries for r in e["rows"]], dtype=np.int64)
    if len(np.unique(order)) != len(order):
        raise ValueError("the log takes some rows twice")
    return order
