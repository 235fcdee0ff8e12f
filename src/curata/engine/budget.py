"""Budgets in records, as a fraction of the pool, or in tokens."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from curata.errors import ConfigError

_TOKENS = re.compile(r"^\s*([0-9][0-9_,.]*)\s*([km]?)\s*(t|tok|tokens)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """``kind`` is 'records', 'fraction' or 'tokens'; ``value`` is the amount."""

    kind: str
    value: float

    @classmethod
    def parse(cls, spec: str | int | float, key: str = "budget") -> "Budget":
        """``0.1`` or ``10%`` → 10% of the pool; ``500`` → 500 records; ``20k tokens`` / ``20000tok`` → tokens.

        A whole number (``500``, ``1``) is a record count; a number with a decimal point in (0, 1] is a fraction.
        """
        hint = "use a fraction like 0.1, a count like 500, or tokens like 20000tok"
        if isinstance(spec, bool) or spec is None:
            raise ConfigError(key, f"{spec!r} is not a budget", hint)
        if isinstance(spec, int):
            return cls._check("records", float(spec), key)
        if isinstance(spec, float):
            return cls._check("fraction" if 0 < spec <= 1 else "records", spec, key)
        text = str(spec).strip().replace("_", "")
        m = _TOKENS.match(text)
        try:
            if m:
                mult = {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
                return cls._check("tokens", float(m.group(1).replace(",", "")) * mult, key)
            if text.endswith("%"):
                return cls._check("fraction", float(text[:-1]) / 100, key)
            if text.isdigit():
                return cls._check("records", float(text), key)
            value = float(text)
        except ValueError:
            raise ConfigError(key, f"cannot read {spec!r} as a budget", hint) from None
        return cls._check("fraction" if 0 < value <= 1 else "records", value, key)

    @classmethod
    def _check(cls, kind: str, value: float, key: str) -> "Budget":
        if not math.isfinite(value):
            raise ConfigError(key, f"budget must be a finite number, got {value:g}")
        if not value > 0:
            raise ConfigError(key, f"budget must be positive, got {value:g}")
        if kind == "tokens" and value < 1:
            raise ConfigError(key, f"a token budget must be at least 1 token, got {value:g}")
        if kind == "records" and value != int(value):
            raise ConfigError(key, f"a budget above 1 is a record count and must be whole, got {value:g}",
                              "use a fraction between 0 and 1, or a whole number of records")
        if kind == "fraction" and value > 1:
            raise ConfigError(key, f"a fraction budget must be at most 1 (100%), got {value:g}")
        return cls(kind, value)

    def max_records(self, n_pool: int, key: str = "budget") -> int | None:
        """Records allowed for a pool of ``n_pool`` (None for token budgets). Errors if larger than the pool."""
        if self.kind == "fraction":
            return max(1, int(self.value * n_pool + 0.5))  # half up: 10% of 25 is 3, not 2
        if self.kind == "records":
            if self.value > n_pool:
                raise ConfigError(key, f"budget of {int(self.value)} records is larger than the pool "
                                  f"({n_pool} usable records)", f"use at most {n_pool}, or a fraction such as 1.0")
            return int(self.value)
        return None

    def check_tokens(self, pool_tokens: int, n_pool: int, key: str = "budget") -> None:
        """A token budget larger than the pool's tokens is an error, as a record count larger than the pool is."""
        if self.kind == "tokens" and self.value > pool_tokens:
            raise ConfigError(key, f"budget of {int(self.value):,} tokens is larger than the pool ({pool_tokens:,} "
                              f"whitespace tokens in {n_pool:,} usable records)",
                              f"use at most {pool_tokens}tok, or a fraction such as 1.0")

    def __str__(self) -> str:
        if self.kind == "fraction":
            return f"{self.value:.4g} of the pool"
        if self.kind == "records":
            return f"{int(self.value)} records"
        return f"{int(self.value)} tokens"
