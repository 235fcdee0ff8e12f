"""Exact deduplication after light normalisation: the first occurrence in pool order is kept."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from curata.engine.stage import Params, Scorer

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFKC, lower-case, whitespace runs collapsed to one space, stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


class ExactDuplicateParams(Params):
    field: str = "text"  # for pairs ``text`` holds ``left [SEP] right``


class ExactDuplicateScorer(Scorer):
    """``exact_dup_score`` = 1.0 if the normalised text equals an earlier record's; ``exact_dup_of``: its id.

    Normalisation (NFKC, case, whitespace) catches copies that differ only in formatting.
    """

    name = "exact_dup"
    outputs = ('exact_dup_score', 'exact_dup_of')
    Params = ExactDuplicateParams

    def score(self, pool, ctx) -> pd.DataFrame:
        norm = pool.df[self.params.field].fillna("").astype(str).map(normalise_text)
        codes, _ = pd.factorize(norm, sort=False)
        n = len(codes)
        _, first_of_code = np.unique(codes, return_index=True)
        first = first_of_code[codes] if n else np.zeros(0, dtype=np.int64)
        dup = first != np.arange(n)
        of = np.full(n, None, dtype=object)
        of[dup] = pool.ids.to_numpy(dtype=object)[first[dup]]
        return pd.DataFrame({"exact_dup_score": dup.astype(np.float64),
                             "exact_dup_of": pd.Series(of, dtype=object)})
