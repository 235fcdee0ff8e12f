"""A reusable arm manager for bandits over clusters (Quad, LEAD, EQUAL): UCB1, EXP3 and Thompson sampling."""

from __future__ import annotations

import math

import numpy as np

POLICIES = ("ucb1", "exp3", "thompson")


class ArmManager:
    """Running rewards per arm, an exhausted-arm mask and one policy that picks the next arm.

    * ``ucb1`` (Quad): ``CS_i = R_i/T_i + α·sqrt(2 ln Σ_j T_j / (T_i + 1))`` on rewards min-max
      normalised by the range seen so far; untried arms first. With ``neighbours`` a reward also updates
      nearby arms with weight ``1 − d/τ`` (Quad's sharing), counting one update each.
    * ``exp3`` (LEAD): ``p_i = (1−γ)·w_i/Σw + γ/K`` over live arms; ``w_i ← w_i·exp(γ·r̂/(p_i·K))`` with
      ``r̂`` the reward min-max normalised to [0, 1] when it arrives.
    * ``thompson``: a Gaussian posterior on each arm's mean reward (the pooled mean as a one-observation
      prior, the pooled variance as noise); draws come from a seeded generator.

    Ties go to a seeded random arm priority, so the same seed and rewards give the same choices.
    """

    def __init__(self, n_arms: int, policy: str = "ucb1", alpha: float = 1.0, gamma: float = 0.1,
                 seed: int = 0, neighbours: list[tuple[np.ndarray, np.ndarray]] | None = None):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.n, self.policy, self.alpha, self.gamma = n_arms, policy, alpha, gamma
        self.neighbours = neighbours
        self.rng = np.random.default_rng([seed, 2])
        self.priority = self.rng.permutation(n_arms)
        self.live = np.ones(n_arms, dtype=bool)
        self.weighted = np.zeros(n_arms)  # Σ w·r over updates (raw rewards)
        self.weights = np.zeros(n_arms)  # Σ w
        self.updates = np.zeros(n_arms)  # T_i: how many updates reached the arm
        self.pulls = np.zeros(n_arms, dtype=np.int64)
        self.reward_sum = np.zeros(n_arms)  # raw rewards of the arm's own pulls
        self.log_w = np.zeros(n_arms)
        self.rmin, self.rmax = math.inf, -math.inf
        self.n_obs, self.obs_mean, self.obs_m2 = 0, 0.0, 0.0
        self._p: np.ndarray | None = None

    @property
    def any_live(self) -> bool:
        return bool(self.live.any())

    def exhaust(self, arm: int) -> None:
        self.live[arm] = False

    def normalise(self, r: float) -> float:
        span = self.rmax - self.rmin
        return 0.5 if not span > 0 else (r - self.rmin) / span

    def scores(self) -> np.ndarray:
        """The policy's value per arm (−inf when exhausted); EXP3 and Thompson draw from the generator."""
        if self.policy == "ucb1":
            span = self.rmax - self.rmin
            a, b = (1.0 / span, -self.rmin / span) if span > 0 else (0.0, 0.5)
            tried = self.updates > 0
            mean = np.where(tried, (a * self.weighted + b * self.weights) / np.maximum(self.updates, 1), 0.0)
            total = max(self.updates.sum(), 1.0)
            bonus = self.alpha * np.sqrt(2.0 * math.log(total) / (self.updates + 1))
            s = np.where(tried, mean + bonus, np.inf)
        elif self.policy == "exp3":
            k = int(self.live.sum())
            w = np.exp(self.log_w - self.log_w[self.live].max())
            w[~self.live] = 0.0
            s = (1.0 - self.gamma) * w / w.sum() + self.gamma / k
            s[~self.live] = 0.0
            self._p = s
        else:
            var = max(self.obs_m2 / (self.n_obs - 1), 1e-12) if self.n_obs >= 2 else 1.0
            post_mean = (self.obs_mean + self.reward_sum) / (1.0 + self.pulls)
            s = self.rng.normal(post_mean, np.sqrt(var / (1.0 + self.pulls)))
        return np.where(self.live, s, -np.inf)

    def choose(self) -> tuple[int, np.ndarray]:
        """(arm, policy values per arm). Raises when every arm is exhausted."""
        if not self.any_live:
            raise RuntimeError("every arm is exhausted")
        s = self.scores()
        if self.policy == "exp3":
            return int(self.rng.choice(self.n, p=self._p)), s
        top = np.flatnonzero(s == s.max())
        return int(top[np.argmin(self.priority[top])]), s

    def update(self, arm: int, reward: float) -> None:
        """Record a pull of ``arm`` that earned ``reward`` (raw scale)."""
        r = float(reward)
        self.pulls[arm] += 1
        self.reward_sum[arm] += r
        self.rmin, self.rmax = min(self.rmin, r), max(self.rmax, r)
        self.n_obs += 1
        delta = r - self.obs_mean
        self.obs_mean += delta / self.n_obs
        self.obs_m2 += delta * (r - self.obs_mean)
        if self.policy == "exp3":
            p = self._p[arm] if self._p is not None else 1.0 / max(int(self.live.sum()), 1)
            k = max(int(self.live.sum()), 1)
            self.log_w[arm] += self.gamma * self.normalise(r) / (p * k)
        if self.neighbours is not None:
            idx, w = self.neighbours[arm]
        else:
            idx, w = np.array([arm]), np.array([1.0])
        self.weighted[idx] += w * r
        self.weights[idx] += w
        self.updates[idx] += 1

    def mean_reward(self) -> np.ndarray:
        """Mean raw reward of each arm's own pulls (NaN if never pulled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.pulls > 0, self.reward_sum / np.maximum(self.pulls, 1), np.nan)

    def describe(self) -> str:
        if self.policy == "ucb1":
            share = ", neighbour sharing" if self.neighbours is not None else ""
            return f"UCB1 (Quad form, α={self.alpha:g}, min-max normalised rewards{share})"
        if self.policy == "exp3":
            return f"EXP3 (γ={self.gamma:g}, rewards min-max normalised to [0, 1])"
        return "Thompson sampling (Gaussian posterior per arm)"


def centroid_neighbours(emb: np.ndarray, codes: np.ndarray, n_arms: int, tau: float,
                        block: int = 1024) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per arm: (arms whose normalised centroid lies within cosine distance ``tau``, weights ``1 − d/τ``).

    The arm itself is always first with weight 1. Blocked, so 10k arms never need a 10k×10k matrix.
    """
    cent = np.zeros((n_arms, emb.shape[1]), dtype=np.float64)
    by_arm = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_arm]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    cent[sorted_codes[starts]] = np.add.reduceat(emb[by_arm], starts, axis=0, dtype=np.float64)
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    cent = cent.astype(np.float32)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for a in range(0, n_arms, block):
        d = 1.0 - cent[a:a + block] @ cent.T
        for i, row in enumerate(d, start=a):
            near = np.flatnonzero(row < tau)
            near = near[near != i]
            out.append((np.r_[i, near], np.r_[1.0, 1.0 - row[near] / tau]))
    return out
