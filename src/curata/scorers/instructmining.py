"""InstructMining (METHODS §1): per-record quality indicators and a linear rule predicting the evaluation loss.

Indicators (§1.2), written as columns so the rule fit can read them from ``records.parquet``:
``im_len_in`` / ``im_len_out`` (the backend's token counts of instruction+input and of the response),
``im_ppl`` (response perplexity given the prompt, the ppl scorer's request), ``im_mtld`` (MTLD of the
response), ``im_knn6`` (1 − cosine to the 6th nearest other record, on the pool's embeddings), and from the
LLM judge ``im_reward`` (``judge_score``) and ``im_naturalness`` / ``im_coherence`` / ``im_understandability``
(``judge_<aspect>``; InstructMining reads these from UniEval-dialog, not available offline, so the judge
emulates them). Judge columns already in the pool are reused; otherwise the judge runs when the rule needs it.

The rule: ``instructmining_score`` = β0 + Σ βj·(Ij − mean_j)/std_j, a predicted log evaluation loss, so
LOWER IS BETTER (``instructmining_rank`` 1 = best). Prefer a rule fitted by curata (``rule``: a JSON file
``{"coefficients": {"intercept": β0, "<indicator>": βj, ...}, "means": {...}, "stds": {...}}``, indicator
names as above with or without ``im_``, or the short ones ``len_in len_out ppl mtld knn6 rew nat coh und``).
Without one, the v3 rule as recalled in METHODS §1.3 is used (coefficients *recalled, not verified*) on the
indicators z-scored over this pool, since its units (reward-model logits, UniEval probabilities) are not the
judge's. Missing values are imputed with the mean (z = 0) and named in ``instructmining_issue``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from curata.engine.stage import Params, Scorer
from curata.errors import ConfigError
from curata.scorers._knn import shared_self_knn
from curata.scorers._lm import (PromptFormat, check_lm_spec, clean_text, issue_column, ll_problem,
                                lm_field, loglikelihoods, prepare, shared_backend, take_note, user_message)
from curata.scorers.mtld import mtld, tokens

COLUMNS = {"len_in": "im_len_in", "len_out": "im_len_out", "ppl": "im_ppl", "mtld": "im_mtld", "knn6": "im_knn6",
           "rew": "im_reward", "nat": "im_naturalness", "coh": "im_coherence", "und": "im_understandability"}
JUDGE_TERMS = {"rew": ("judge_score", None), "nat": ("judge_naturalness", "naturalness"),
               "coh": ("judge_coherence", "coherence"), "und": ("judge_understandability", "understandability")}
ALIASES = {**{c: s for s, c in COLUMNS.items()}, **{c[3:]: s for s, c in COLUMNS.items()},
           "reward": "rew", "naturalness": "nat", "coherence": "coh", "understandability": "und"}
INTERCEPT = ("intercept", "const", "(intercept)", "b0", "beta0")
#: METHODS §1.3, v3 as recalled: verify before relying on the coefficients
RECALLED_V3 = {"intercept": 0.0274, "rew": -0.0078, "und": 0.4421, "nat": -0.3212, "coh": -0.1520}


def _short(name: str, key: str) -> str:
    s = ALIASES.get(name.lower(), name.lower() if name.lower() in COLUMNS else None)
    if s is None:
        raise ConfigError(key, f"unknown InstructMining indicator {name!r}", f"use one of: {', '.join(COLUMNS)}")
    return s


def load_rule(path: str | None) -> dict:
    """{"intercept", "coefficients", "means", "stds", "source"} with short indicator names."""
    if path == "none":
        return {"intercept": float("nan"), "means": {}, "stds": {}, "coefficients": {},
                "source": "no rule (rule: none): indicators only, fit one with `curata instructmining-fit`"}
    if path is None:
        return {"intercept": RECALLED_V3["intercept"], "means": {}, "stds": {},
                "coefficients": {k: v for k, v in RECALLED_V3.items() if k != "intercept"},
                "source": "recalled v3 rule (METHODS §1.3; recalled, not verified: fit your own)"}
    key = "scorers.instructmining.rule"
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        coefs = dict(raw["coefficients"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(key, f"cannot read the rule {path} ({type(e).__name__}: {e})",
                          'give a JSON file {"coefficients": {...}, "means": {...}, "stds": {...}}') from e
    icpt = [k for k in coefs if k.lower() in INTERCEPT]
    rule = {"intercept": float(coefs.pop(icpt[0])) if icpt else 0.0, "source": str(path),
            "coefficients": {_short(k, key): float(v) for k, v in coefs.items()}}
    for part in ("means", "stds"):
        rule[part] = {_short(k, key): float(v) for k, v in (raw.get(part) or {}).items()}
    return rule


class InstructMiningParams(Params):
    lm: dict = lm_field()
    prompt_format: PromptFormat = "auto"
    rule: str | None = None  # JSON written by the InstructMining fit; None: the recalled v3 rule; "none": no
    # rule, indicator columns only (instructmining_score NaN) — what `curata instructmining-fit` needs first
    use_judge: bool | None = None  # None: run the judge only for rule terms the pool has no judge column for
    judge: dict = Field(default_factory=dict)  # params of the judge scorer; its lm defaults to ``lm``
    k: int = Field(6, ge=1)
    mtld_threshold: float = Field(0.72, gt=0.0, lt=1.0)
    seed: int | None = None  # None: the run's seed (IVF training sample for large pools)

    _check_lm = field_validator("lm")(check_lm_spec)


class InstructMiningScorer(Scorer):
    """``instructmining_score``: InstructMining's predicted log eval loss (lower is better) with its indicators."""

    name = "instructmining"
    outputs = ("instructmining_score", "instructmining_rank", "instructmining_issue", *COLUMNS.values())
    Params = InstructMiningParams
    needs_embeddings = True

    def __init__(self, **params):
        super().__init__(**params)
        from curata.scorers.judge import JudgeScorer
        JudgeScorer(**{"lm": self.params.lm, **self.params.judge})  # a bad ``judge`` fails now, not mid-run

    def _judge_plan(self, pool, rule: dict) -> tuple[list[str], list[str]]:
        """(judge terms read from the pool's judge columns, judge terms to compute by running the judge)."""
        p = self.params
        present = [] if p.use_judge else [t for t, (c, _) in JUDGE_TERMS.items() if c in pool.df.columns]
        needed = list(JUDGE_TERMS) if p.use_judge else [t for t in JUDGE_TERMS if t in rule["coefficients"]]
        run = [] if p.use_judge is False else [t for t in needed if t not in present]
        return present, run

    def score(self, pool, ctx) -> pd.DataFrame:
        p = self.params
        rule = load_rule(p.rule)
        present, run = self._judge_plan(pool, rule)
        usable = [t for t in rule["coefficients"] if t not in JUDGE_TERMS or t in present or t in run]
        if not usable and p.rule != "none":
            raise ConfigError("scorers.instructmining", f"none of the rule's terms ({', '.join(rule['coefficients'])}) "
                              "can be computed: they come from the judge and use_judge is false",
                              "run the judge scorer (with aspects) before this one, set use_judge: true, give "
                              "a fitted rule, or `rule: none` for the indicators alone")
        backend = shared_backend(ctx, p.lm, key="scorers.instructmining.lm")
        prep = prepare(pool, backend, p.prompt_format, self.name)
        n = len(pool)
        ind = pd.DataFrame({c: np.full(n, np.nan) for c in COLUMNS.values()})
        prompts_in = [user_message(clean_text(a)[0], clean_text(b)[0])
                      for a, b in zip(pool.df["instruction"], pool.df["input"])]
        try:
            ind["im_len_in"] = backend.count_tokens(prompts_in)
            ind["im_len_out"] = backend.count_tokens(prep.responses)
        except NotImplementedError:
            ind["im_len_in"] = [len(t.split()) for t in prompts_in]
            ind["im_len_out"] = [len(t.split()) for t in prep.responses]
            ctx.notes.append(f"instructmining: backend {backend.name!r} cannot count tokens: lengths are words")
        ok = np.flatnonzero(prep.ok)
        lls = loglikelihoods(backend, [(prep.prompts[i], prep.responses[i]) for i in ok], ctx)
        problems: list[str | None] = [None] * n
        ppl = np.full(n, np.nan)
        for i, ll in zip(ok, lls):
            problems[i] = ll_problem(ll)
            take_note(prep, i, ll)
            if problems[i] is None:
                ppl[i] = float(np.exp(ll.mean_nll))
        ind["im_ppl"] = ppl
        ind["im_mtld"] = [mtld(tokens(t), p.mtld_threshold) for t in prep.responses]
        ind["im_knn6"] = self._knn(pool, ctx)
        for t in present:
            ind[COLUMNS[t]] = pd.to_numeric(pool.df[JUDGE_TERMS[t][0]], errors="coerce").to_numpy(dtype=float)
        if run:
            from curata.scorers.judge import JudgeScorer
            jparams = {"lm": p.lm, **p.judge}
            aspects = {JUDGE_TERMS[t][1] for t in run if JUDGE_TERMS[t][1]}
            jparams["aspects"] = sorted(aspects | set(jparams.get("aspects", [])))
            jcols = JudgeScorer(**jparams).score(pool, ctx)
            for t in run:
                ind[COLUMNS[t]] = jcols[JUDGE_TERMS[t][0]].to_numpy(dtype=float)
        empty = [t for t in usable if not np.isfinite(ind[COLUMNS[t]].to_numpy(dtype=float)).any()]
        usable = [t for t in usable if t not in empty]
        score, imputed, used = self._apply(rule, ind, usable)
        missing = [t for t in rule["coefficients"] if t not in usable and t not in empty]
        issues = issue_column(prep, [
            "; ".join(x for x in (pr, f"imputed with the mean: {', '.join(imp)}" if imp else None) if x) or None
            for pr, imp in zip(problems, imputed)])
        order = np.lexsort((np.arange(n), score))
        rank = pd.array(np.empty(n, dtype=np.int64), dtype="Int64")
        rank[order] = np.arange(1, n + 1)
        if p.rule == "none":
            rank[:] = pd.NA
        if p.rule == "none":
            ctx.notes.append(f"instructmining: {rule['source']}; indicator columns: {', '.join(COLUMNS.values())}")
        else:
            ctx.notes.append(f"instructmining: {rule['source']}; terms used: {', '.join(usable)}"
                             + (f"; missing (dropped): {', '.join(missing)}" if missing else "")
                             + (f"; no value for any record (dropped): {', '.join(empty)}" if empty else "")
                             + "; score = predicted log eval loss, lower is better")
        ctx.save_artifact("instructmining_rule", {**rule, "used": used, "missing": missing + empty})
        out = pd.DataFrame({"instructmining_score": score, "instructmining_rank": rank})
        out = pd.concat([out, ind], axis=1)
        out["instructmining_issue"] = pd.Series(issues, dtype=object)
        return out

    def _knn(self, pool, ctx) -> np.ndarray:
        n = len(pool)
        if pool.embeddings is None or n < 2:
            return np.full(n, np.nan)
        seed = ctx.seed if self.params.seed is None else self.params.seed
        sims, idx = shared_self_knn(ctx, pool.embeddings, self.params.k, seed=seed, progress=ctx.progress,
                                    desc="instructmining knn")
        found = idx >= 0
        last = np.where(found.any(axis=1), found.sum(axis=1) - 1, 0)
        kth = sims[np.arange(n), last]
        return np.where(np.isfinite(kth), 1.0 - kth, np.nan)

    @staticmethod
    def _apply(rule: dict, ind: pd.DataFrame, terms: list[str]) -> tuple[np.ndarray, list[list[str]], dict]:
        """(predicted log-loss per record, imputed indicators per record, {term: (β, mean, std)} used)."""
        n = len(ind)
        score = np.full(n, rule["intercept"], dtype=np.float64)
        imputed: list[list[str]] = [[] for _ in range(n)]
        used = {}
        for t in [t for t in COLUMNS if t in terms]:
            x = ind[COLUMNS[t]].to_numpy(dtype=np.float64)
            finite = np.isfinite(x)
            mean = rule["means"].get(t, float(x[finite].mean()) if finite.any() else 0.0)
            std = rule["stds"].get(t, float(x[finite].std()) if finite.sum() > 1 else 0.0)
            z = np.where(finite, (x - mean) / std, 0.0) if std > 0 else np.zeros(n)
            score += rule["coefficients"][t] * z
            used[t] = {"coefficient": rule["coefficients"][t], "mean": mean, "std": std}
            for i in np.flatnonzero(~finite):
                imputed[i].append(COLUMNS[t])
        return score, imputed, used
