"""Typed configuration (pydantic), loaded from YAML and validated before any work starts.

A config has sections: input, target, embed, scorers, select, evaluate. Operators are written
``{name: target_sim, k: 5}`` (or just ``target_sim``); their parameters are checked against the
operator's own ``Params`` model, so an error names the exact key (``scorers[2].k``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curata.engine import registry
from curata.engine.budget import Budget
from curata.engine.stage import format_validation_error
from curata.errors import ConfigError, CurataError
from curata.io.fields import FieldMap


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class OperatorSpec(BaseModel):
    """``name`` plus the operator's parameters; ``optional`` operators are skipped (with a note) when the
    pool lacks what they need (labels, a target set) instead of failing the run."""

    model_config = ConfigDict(extra="allow")
    name: str
    optional: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"name": v} if isinstance(v, str) else v

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class InputConfig(_Strict):
    path: str
    format: str = "auto"
    encoding: str = "utf-8"
    strict: bool = False
    split: str | None = None
    fields: FieldMap = Field(default_factory=FieldMap)
    reader_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"path": v} if isinstance(v, str) else v


class ExcludeSpec(_Strict):
    when: str
    reason: str = ""
    optional: bool = False


class SelectConfig(_Strict):
    selector: OperatorSpec = Field(default_factory=lambda: OperatorSpec(name="random"))
    budget: str | float | int = 0.1
    exclude: list[ExcludeSpec] = Field(default_factory=list)

    @field_validator("budget")
    @classmethod
    def _budget(cls, v):
        Budget.parse(v, key="select.budget")
        return v


class EvaluateConfig(_Strict):
    test: InputConfig | None = None
    budgets: list[str | float | int] = Field(default_factory=lambda: [0.05, 0.1, 0.25])
    seeds: int = Field(5, ge=1)
    trainer: OperatorSpec = Field(default_factory=lambda: OperatorSpec(name="logreg"))
    full: bool = True


class Config(_Strict):
    input: InputConfig
    target: InputConfig | None = None
    embed: OperatorSpec = Field(default_factory=lambda: OperatorSpec(name="sentence_transformer"))
    scorers: list[OperatorSpec] = Field(default_factory=list)
    select: SelectConfig | None = None
    evaluate: EvaluateConfig | None = None
    out: str | None = None
    cache_dir: str | None = None  # content-keyed caches; default <out>/cache
    seed: int = 0
    task: Literal["auto", "text", "pair", "instruction"] | None = None  # shorthand for input.fields.task


def _raise(err: ValidationError, prefix: str = "") -> None:
    e = err.errors()[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
    key = f"{prefix}.{loc}".strip(".") if prefix else loc
    more = len(err.errors()) - 1
    raise ConfigError(key or "config", e["msg"], f"and {more} more problem(s)" if more else "") from None


def recipe_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("curata.recipes").iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str) -> dict:
    """A shipped recipe by name (``balanced``) or a YAML file of config sections."""
    if os.path.exists(name_or_path):
        text = Path(name_or_path).read_text()
    else:
        f = resources.files("curata.recipes") / f"{name_or_path}.yaml"
        if not f.is_file():
            raise ConfigError("recipe", f"unknown recipe {name_or_path!r}",
                              f"choose one of: {', '.join(recipe_names())}, or give a YAML file")
        text = f.read_text()
    data = yaml.safe_load(text) or {}
    data.pop("description", None)
    return data


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(source: str | os.PathLike | dict) -> Config:
    """Parse and validate a config (a YAML path or a dict); a ``recipe:`` key is expanded first."""
    if isinstance(source, dict):
        data = dict(source)
    else:
        try:
            data = yaml.safe_load(Path(source).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError("config", f"file not found: {source}") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError("config", f"{source}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
        if not isinstance(data, dict):
            raise ConfigError("config", f"{source}: expected a mapping of sections (input, scorers, select, ...)")
    if "recipe" in data:
        data = merge(load_recipe(data.pop("recipe")), data)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        _raise(e)
    if cfg.task and cfg.task != "auto":
        cfg.input.fields.task = cfg.task
    check_operators(cfg)
    return cfg


def _build(role: str, spec: OperatorSpec, key: str):
    cls = registry.get(role, spec.name, key=f"{key}.name")
    try:
        cls.Params(**spec.params())
    except ValidationError as e:
        raise format_validation_error(key, e) from None
    try:
        op = cls(**spec.params())
    except CurataError:
        raise
    op.optional = spec.optional
    return op


def check_operators(cfg: Config) -> None:
    """Build every operator once so that a bad name, parameter or missing extra fails now."""
    build_operators(cfg)
    for i, rule in enumerate(cfg.select.exclude if cfg.select else []):
        from curata.engine.select import ExcludeRule
        try:
            ExcludeRule(rule.when).columns()
        except ConfigError as e:
            raise ConfigError(f"select.exclude[{i}].when", e.problem) from None
    for key, inp in (("input.path", cfg.input), ("target.path", cfg.target)):
        if inp is not None and not os.path.exists(inp.path):
            raise ConfigError(key, f"file not found: {inp.path}")


def build_operators(cfg: Config) -> dict[str, Any]:
    return {
        "embedder": _build("embedder", cfg.embed, "embed"),
        "scorers": [_build("scorer", s, f"scorers[{i}]") for i, s in enumerate(cfg.scorers)],
        "selector": _build("selector", cfg.select.selector, "select.selector") if cfg.select else None,
        "trainer": _build("trainer", cfg.evaluate.trainer, "evaluate.trainer") if cfg.evaluate else None,
    }


def build_pipeline(cfg: Config, run_dir: str | os.PathLike | None = None, progress: bool = True):
    """The ``Pipeline`` a config describes (the same objects the Python API uses)."""
    from curata.engine.pipeline import Pipeline
    from curata.engine.read import Read
    from curata.engine.select import ExcludeRule, Select

    ops = build_operators(cfg)

    def read(inp: InputConfig) -> Read:
        return Read(inp.path, fmt=inp.format, strict=inp.strict, encoding=inp.encoding, split=inp.split,
                    fieldmap=inp.fields, reader_options=inp.reader_options)

    stages: list = [read(cfg.input), ops["embedder"], *ops["scorers"]]
    if cfg.select is not None:
        stages.append(Select(ops["selector"], budget=Budget.parse(cfg.select.budget, "select.budget"),
                             exclude=[ExcludeRule(r.when, r.reason, r.optional) for r in cfg.select.exclude]))
    out = run_dir if run_dir is not None else cfg.out
    return Pipeline(stages, run_dir=out, seed=cfg.seed, progress=progress,
                    target=read(cfg.target) if cfg.target else None, cache_dir=cfg.cache_dir,
                    config=cfg.model_dump(mode="json", exclude_none=True))
