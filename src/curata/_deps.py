"""Declared optional dependencies, checked when an operator is built rather than halfway through a run."""

from __future__ import annotations

import importlib.util

from curata.errors import MissingDependencyError


def require(operator: str, *modules: str, extra: str | None = None) -> None:
    for mod in modules:
        if importlib.util.find_spec(mod) is None:
            raise MissingDependencyError(operator, mod.replace("_", "-"), extra)


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
