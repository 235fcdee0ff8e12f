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
    max_share_per_label: float | str | None = None  # a share in (0, 1], or a column holding one per label
    protect_labels: bool = False  # never leave a label fewer than 2 × its label-floor quota of candidates

    @field_validator("max_share_per_label")
    @classmethod
    def _share(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 < v <= 1:
            raise ValueError(f"a share must be in (0, 1], got {v}")
        return v
    worst_first: str | None = None


class SelectConfig(_Strict):
    selector: OperatorSpec = Field(default_factory=lambda: OperatorSpec(name="random"))
    budget: str | float | int = 0.1
    exclude: list[ExcludeSpec] = Field(default_factory=list)
    #: every label keeps at least ⌈label_floor · budget / labels⌉ selected records; 0 turns it off
    label_floor: float = Field(0.25, ge=0, le=1)

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
    #: sections used instead of ``scorers``/``select`` when the pool has no labels (``note`` says so in the run)
    unlabelled: dict[str, Any] | None = None

    @field_validator("unlabelled")
    @classmethod
    def _unlabelled(cls, v):
        if v is not None:
            extra = set(v) - {"scorers", "select", "note"}
            if extra:
                raise ValueError(f"may hold only scorers, select and note, not {sorted(extra)}")
        return v

    def dump(self) -> dict:
        """The config as plain data (``config.yaml``): top-level sections that are not set are left out, but a
        ``null`` inside a section is kept — ``label_field: null`` (an unlabelled pool) must survive a reload."""
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}

    def unlabelled_config(self) -> "Config | None":
        """The whole config of the label-free path: this one with ``unlabelled``'s sections in place."""
        if self.unlabelled is None:
            return None
        data = self.dump()
        data.pop("unlabelled", None)
        alt = {k: v for k, v in self.unlabelled.items() if k != "note"}
        merged = merge(data, alt)
        if "selector" in alt.get("select", {}):
            merged["select"]["selector"] = alt["select"]["selector"]  # a selector is replaced, never mixed
        try:
            return Config.model_validate(merged)
        except ValidationError as e:
            _raise(e, "unlabelled")


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
    """``override`` over ``base``, section by section. An operator given by another ``name`` replaces the base's
    operator whole: the parameters of one operator never leak into another (a recipe's ``stratify`` into a
    selector that has none)."""
    if "name" in override and "name" in base and override["name"] != base["name"]:
        return dict(override)
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
    from curata.engine.select import ExcludeRule

    for c, prefix in ((cfg, ""), (cfg.unlabelled_config(), "unlabelled.")):
        if c is None:
            continue
        try:
            build_operators(c)
        except ConfigError as e:
            raise ConfigError(prefix + e.key, e.problem, e.fix) from None
        for i, rule in enumerate(c.select.exclude if c.select else []):
            try:
                ExcludeRule(rule.when, worst_first=rule.worst_first).missing(set())
            except ConfigError as e:
                raise ConfigError(f"{prefix}select.exclude[{i}].when", e.problem) from None
    for key, inp in (("input.path", cfg.input), ("target.path", cfg.target)):
        from curata.io.base import input_exists  # a file, a directory, or a glob matching something
        if inp is not None and not input_exists(inp.path):
            raise ConfigError(key, f"file not found: {inp.path}")


def build_operators(cfg: Config) -> dict[str, Any]:
    return {
        "embedder": _build("embedder", cfg.embed, "embed"),
        "scorers": [_build("scorer", s, f"scorers[{i}]") for i, s in enumerate(cfg.scorers)],
        "selector": _build("selector", cfg.select.selector, "select.selector") if cfg.select else None,
        "trainer": _build("trainer", cfg.evaluate.trainer, "evaluate.trainer") if cfg.evaluate else None,
    }


def _select_stage(sel: SelectConfig, selector):
    from curata.engine.select import ExcludeRule, Select

    return Select(selector, budget=Budget.parse(sel.budget, "select.budget"), label_floor=sel.label_floor,
                  exclude=[ExcludeRule(r.when, r.reason, r.optional, r.max_share_per_label, r.protect_labels,
                                       r.worst_first) for r in sel.exclude])


def build_pipeline(cfg: Config, run_dir: str | os.PathLike | None = None, progress: bool = True,
                   force: bool = False):
    """The ``Pipeline`` a config describes (the same objects the Python API uses)."""
    from curata.engine.pipeline import Pipeline
    from curata.engine.read import Read

    ops = build_operators(cfg)

    def read(inp: InputConfig) -> Read:
        return Read(inp.path, fmt=inp.format, strict=inp.strict, encoding=inp.encoding, split=inp.split,
                    fieldmap=inp.fields, reader_options=inp.reader_options)

    stages: list = [read(cfg.input), ops["embedder"], *ops["scorers"]]
    if cfg.select is not None:
        stages.append(_select_stage(cfg.select, ops["selector"]))
    unlabelled, note = None, ""
    alt = cfg.unlabelled_config()
    if alt is not None:
        alt_ops = build_operators(alt)
        unlabelled = [*alt_ops["scorers"], *([_select_stage(alt.select, alt_ops["selector"])] if alt.select else [])]
        note = str(cfg.unlabelled.get("note") or "")
    out = run_dir if run_dir is not None else cfg.out
    return Pipeline(stages, run_dir=out, seed=cfg.seed, progress=progress,
                    target=read(cfg.target) if cfg.target else None, cache_dir=cfg.cache_dir,
                    config=cfg.dump(), force=force,
                    unlabelled=unlabelled, unlabelled_note=note)
