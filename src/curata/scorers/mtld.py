"""MTLD: the Measure of Textual Lexical Diversity (McCarthy & Jarvis 2010), an InstructMining indicator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pydantic import Field
from curata.console import tqdm

from curata.engine.stage import Params, Scorer

TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def _factors(words: list[str], threshold: float) -> float:
    """One pass: full factors where the running TTR falls to ``threshold``, plus the partial last factor."""
    types: set[str] = set()
    count, factors, ttr = 0, 0.0, 1.0
    for w in words:
        count += 1
        types.add(w)
        ttr = len(types) / count
        if ttr <= threshold:
            factors += 1.0
            types, count, ttr = set(), 0, 1.0
    if count > 0:
        factors += (1.0 - ttr) / (1.0 - threshold)
    return factors


def mtld(words: list[str], threshold: float = 0.72) -> float:
    """Mean of the forward and backward ``len(words) / factors``.

    A pass whose TTR never falls below 1 counts as one factor (MTLD = token count), as ``lexicalrichness``
    does; no tokens gives 0.
    """
    if not words:
        return 0.0
    n = len(words)
    passes = []
    for seq in (words, words[::-1]):
        f = _factors(seq, threshold)
        passes.append(n / f if f > 0 else float(n))
    return float(np.mean(passes))


class MTLDParams(Params):
    field: str | None = None  # None: ``output`` for instruction pools, else ``text``
    threshold: float = Field(0.72, gt=0.0, lt=1.0)


class MTLDScorer(Scorer):
    """``mtld_score``: lexical diversity of the text (for instructions, the response); robust to length.

    Tokens are lower-cased ``\\w+`` runs; the score is bidirectional with the partial-factor rule.
    """

    name = "mtld"
    outputs = ('mtld_score',)
    Params = MTLDParams

    def score(self, pool, ctx) -> pd.DataFrame:
        field = self.params.field or ("output" if pool.task == "instruction" else "text")
        texts = pool.df[field].fillna("").astype(str)
        values = [mtld(tokens(t), self.params.threshold)
                  for t in tqdm(texts, desc="mtld", unit=" rec", disable=not ctx.progress, leave=False)]
        return pd.DataFrame({"mtld_score": np.asarray(values, dtype=np.float64)})
