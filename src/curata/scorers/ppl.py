"""Response perplexity under a causal LM, given the prompt: the PPL indicator of InstructMining."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import field_validator

from curata.engine.stage import Params, Scorer
from curata.scorers._lm import (PromptFormat, check_lm_spec, issue_column, ll_problem, lm_field,
                                loglikelihoods, prepare, shared_backend, summarise, take_note)


class PerplexityParams(Params):
    lm: dict = lm_field()  # {"name": "transformers"|"llamacpp"|"openai", **backend params}
    prompt_format: PromptFormat = "auto"  # auto: the backend's chat template if it has one, else plain

    _check_lm = field_validator("lm")(check_lm_spec)


class PerplexityScorer(Scorer):
    """``ppl_score`` = exp(mean NLL of the response tokens given the rendered prompt); ``ppl_tokens`` = tokens scored.

    Instruction pools score ``output`` after the prompt built from ``instruction`` and ``input`` (see
    ``curata.scorers._lm`` for the formats); other pools score ``text`` with an empty prompt. Records that
    cannot be scored (empty response, truncation over the LM's max length, a backend error) get NaN and the
    reason in ``ppl_issue``; lone surrogates are replaced by U+FFFD and noted there, and still scored.
    """

    name = "ppl"
    outputs = ('ppl_score', 'ppl_tokens', 'ppl_issue')
    Params = PerplexityParams

    def score(self, pool, ctx) -> pd.DataFrame:
        backend = shared_backend(ctx, self.params.lm, key="scorers.ppl.lm")
        prep = prepare(pool, backend, self.params.prompt_format, self.name, need_instruction=False)
        ok = np.flatnonzero(prep.ok)
        lls = loglikelihoods(backend, [(prep.prompts[i], prep.responses[i]) for i in ok], ctx)
        n = len(pool)
        ppl = np.full(n, np.nan)
        tokens = np.zeros(n, dtype=np.int64)
        problems: list[str | None] = [None] * n
        for i, ll in zip(ok, lls):
            tokens[i] = ll.n_tokens
            problems[i] = ll_problem(ll)
            take_note(prep, i, ll)
            if problems[i] is None:
                ppl[i] = float(np.exp(ll.mean_nll))
        issues = issue_column(prep, problems)
        ctx.notes.append(f"ppl: prompts in the {prep.fmt} format (see docs/lm.md)")
        note = summarise(self.name, issues, np.isfinite(ppl))
        if note:
            ctx.notes.append(note)
        return pd.DataFrame({"ppl_score": ppl, "ppl_tokens": tokens,
                             "ppl_issue": pd.Series(issues, dtype=object)})
