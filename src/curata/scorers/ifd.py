"""Instruction-following difficulty (IFD, the Cherry/LEAD score): how much the prompt helps predict the response."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import field_validator

from curata.engine.stage import Params, Scorer
from curata.scorers._lm import (PromptFormat, check_lm_spec, issue_column, ll_problem, lm_field,
                                loglikelihoods, prepare, shared_backend, summarise, take_note)


class IFDParams(Params):
    lm: dict = lm_field()
    prompt_format: PromptFormat = "auto"

    _check_lm = field_validator("lm")(check_lm_spec)


class IFDScorer(Scorer):
    """``ifd_score`` = mean CE(response | prompt) / mean CE(response) (METHODS §3.2); high = the prompt helps little.

    ``ifd_conditional_loss`` and ``ifd_unconditional_loss`` are the two mean token cross-entropies (nats).
    As in LEAD's code, IFD is set to 0 when it exceeds 1 (the prompt makes the response *harder* to predict)
    and when either sequence was truncated (``ifd_issue`` says which); records that cannot be scored at all
    (empty response, backend error) get NaN. The conditional request is the ppl scorer's, so the LM cache
    serves one to the other.
    """

    name = "ifd"
    outputs = ('ifd_score', 'ifd_conditional_loss', 'ifd_unconditional_loss', 'ifd_issue')
    Params = IFDParams

    def score(self, pool, ctx) -> pd.DataFrame:
        backend = shared_backend(ctx, self.params.lm, key="scorers.ifd.lm")
        prep = prepare(pool, backend, self.params.prompt_format, self.name)
        ok = np.flatnonzero(prep.ok)
        cond_req = [(prep.prompts[i], prep.responses[i]) for i in ok]
        uncond_req = [("", prep.responses[i]) for i in ok]
        lls = loglikelihoods(backend, cond_req + uncond_req, ctx)
        n = len(pool)
        cond, uncond, ifd = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        problems: list[str | None] = [None] * n
        n_over = 0
        truncated = np.zeros(n, dtype=bool)
        for j, i in enumerate(ok):
            c, u = lls[j], lls[len(ok) + j]
            pc, pu = ll_problem(c), ll_problem(u)
            take_note(prep, i, c)
            take_note(prep, i, u)
            if c.n_tokens:
                cond[i] = c.mean_nll
            if u.n_tokens:
                uncond[i] = u.mean_nll
            if c.error or u.error or not (c.n_tokens and u.n_tokens):
                problems[i] = "; ".join(f"{w}: {p}" for w, p in (("conditional", pc), ("unconditional", pu)) if p)
                continue
            if c.truncated or u.truncated:
                which = " and ".join(w for w, x in (("conditional", c), ("unconditional", u)) if x.truncated)
                problems[i] = f"truncated: {which} sequence over the LM's max length " \
                              f"({max(c.dropped, u.dropped)} token(s) dropped); IFD set to 0"
                ifd[i], truncated[i] = 0.0, True
                continue
            if not uncond[i] > 0:
                problems[i] = "unconditional loss is 0: IFD undefined"
                continue
            ifd[i] = cond[i] / uncond[i]
            if ifd[i] > 1.0:
                ifd[i], n_over = 0.0, n_over + 1
        issues = issue_column(prep, problems)
        ctx.notes.append(f"ifd: prompts in the {prep.fmt} format (see docs/lm.md)")
        note = summarise(self.name, issues, np.isfinite(ifd) & ~truncated)
        if note:
            ctx.notes.append(note)
        if n_over:
            ctx.notes.append(f"ifd: {n_over:,} of {n:,} records had IFD > 1 (the prompt did not help): set to 0")
        return pd.DataFrame({"ifd_score": ifd, "ifd_conditional_loss": cond, "ifd_unconditional_loss": uncond,
                             "ifd_issue": pd.Series(issues, dtype=object)})
