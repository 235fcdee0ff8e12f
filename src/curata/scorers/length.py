"""Length: whitespace tokens of the record's text (for pairs, both sides; for instructions, all parts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curata.engine.stage import Params, Scorer


class LengthParams(Params):
    field: str = "text"


class LengthScorer(Scorer):
    """``length_score`` = whitespace-separated tokens; ``length_chars`` = characters.

    Token budgets count ``length_score``. For instructions, ``length_output_score`` is the response length
    (InstructMining's Len_out).
    """

    name = "length"
    outputs = ('length_score', 'length_chars', 'length_output_score')  # the last for instruction pools
    Params = LengthParams

    def score(self, pool, ctx) -> pd.DataFrame:
        text = pool.df[self.params.field].fillna("")
        out = pd.DataFrame({
            "length_score": text.str.split().str.len().fillna(0).astype(np.int64),
            "length_chars": text.str.len().astype(np.int64),
        })
        if pool.task == "instruction":
            out["length_output_score"] = pool.df["output"].fillna("").str.split().str.len().astype(np.int64)
        return out
