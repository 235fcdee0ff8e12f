"""Errors a user can act on: each names where the problem is and what to do about it."""

from __future__ import annotations


class CurataError(Exception):
    """Base class; ``str(err)`` is a single line meant for the terminal."""


class InputError(CurataError):
    """A problem with an input file: names the file, the line (when known) and the fix."""

    def __init__(self, path: str, problem: str, fix: str = "", line: int | None = None):
        self.path, self.problem, self.fix, self.line = str(path), problem, fix, line
        where = f"{self.path}:{line}" if line is not None else self.path
        msg = f"{where}: {problem}"
        if fix:
            msg += f" — {fix}"
        super().__init__(msg)


class ConfigError(CurataError):
    """A problem with the configuration or command-line arguments, naming the key."""

    def __init__(self, key: str, problem: str, fix: str = ""):
        self.key, self.problem, self.fix = key, problem, fix
        msg = f"config `{key}`: {problem}"
        if fix:
            msg += f" — {fix}"
        super().__init__(msg)


class MissingDependencyError(CurataError):
    """An optional extra needed by an operator is not installed (raised at construction)."""

    def __init__(self, operator: str, package: str, extra: str | None = None):
        hint = f"pip install 'curata[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{operator} needs the package `{package}`, which is not installed — {hint}")
