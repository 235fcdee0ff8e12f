"""Command line: select, score, evaluate, report, inspect, run, recipes."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from curata.errors import ConfigError, CurataError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Pick the training subset that gives the best model, explain every choice, prove the gain.")
log = logging.getLogger("curata")

# field-mapping options shared by select and score
_F = {
    "task": typer.Option("auto", help="text | pair | instruction | auto (from the first record's fields)"),
    "text_field": typer.Option("text", help="field holding the text (task=text)"),
    "label_field": typer.Option("label", help="field holding the label ('' for an unlabelled pool)"),
    "left_field": typer.Option("left", help="left record of a pair (task=pair)"),
    "right_field": typer.Option("right", help="right record of a pair (task=pair)"),
    "instruction_field": typer.Option("instruction", help="instruction field (task=instruction)"),
    "input_field": typer.Option("input", help="optional input/context field (task=instruction)"),
    "output_field": typer.Option("output", help="response field (task=instruction)"),
    "id_field": typer.Option(None, help="field with a stable record id (default: `id` if present, "
                                        "else a content hash)"),
    "fmt": typer.Option("auto", "--format", help="jsonl | csv | tsv | parquet | hf | auto (from the name)"),
    "encoding": typer.Option("utf-8", help="text encoding of JSONL/CSV input"),
    "strict": typer.Option(False, help="stop at the first bad record instead of rejecting it"),
}


def _setup_logging(quiet: bool) -> None:
    """Log level and console hygiene; every command gets it (the app callback), --quiet tightens it."""
    from curata.console import quiet_libraries

    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(logging.WARNING if quiet else logging.INFO)
    quiet_libraries(progress=not quiet and sys.stderr.isatty())


def _input(path, task, text_field, label_field, left_field, right_field, instruction_field, input_field,
           output_field, id_field, fmt, encoding, strict) -> dict:
    return {"path": str(path), "format": fmt, "encoding": encoding, "strict": strict, "fields": {
        "task": task, "text_field": text_field, "label_field": label_field or None, "left_field": left_field,
        "right_field": right_field, "instruction_field": instruction_field, "input_field": input_field,
        "output_field": output_field, "id_field": id_field}}


def _embed_spec(embedder: str | None) -> dict | None:
    if embedder is None:
        return None
    if embedder == "static":
        return {"name": "static"}
    return {"name": "sentence_transformer", "model": embedder}


def _finish(result, out: str, report: bool) -> None:
    from curata.io.writers import accounting_line

    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    for alert in result.alerts:
        typer.secho(f"ALERT: {alert}", err=True, fg=typer.colors.RED, bold=True)
    typer.echo(accounting_line(result.accounting))
    if report:
        from curata.report.html import render_report
        path = render_report(out)
        typer.echo(f"report: {path}")
    typer.echo(f"run directory: {out}")


@app.command()
def select(pool: Path = typer.Argument(..., help="pool file (JSONL, CSV/TSV, Parquet) or HF dataset dir"),
           budget: str = typer.Option("0.1", help="0.1 = 10% of the pool; 500 = records; 20000tok = tokens"),
           target: Optional[Path] = typer.Option(None, help="a small set standing for the downstream task"),
           recipe: str = typer.Option("balanced", help="shipped recipe name or YAML file (see `curata recipes`)"),
           selector: Optional[str] = typer.Option(None, help="override the recipe's selector"),
           by: Optional[str] = typer.Option(None, help="score expression for the selector, e.g. "
                                                       "'target_sim:1,proxy_prob:0.5'"),
           embedder: Optional[str] = typer.Option(None, help="minilm (default) | static (fast tier) | a model "
                                                             "path or name"),
           seed: int = typer.Option(0), out: Path = typer.Option(..., help="run directory"),
           cache_dir: Optional[Path] = typer.Option(None, help="share embedding caches between runs "
                                                              "(default: inside the run directory)"),
           no_report: bool = typer.Option(False, help="skip report.html"),
           quiet: bool = typer.Option(False, help="no progress output"),
           force: bool = typer.Option(False, help="reuse --out even if it holds a run of another input or settings "
                                                  "(its results are removed first)"),
           task: str = _F["task"], text_field: str = _F["text_field"], label_field: str = _F["label_field"],
           left_field: str = _F["left_field"], right_field: str = _F["right_field"],
           instruction_field: str = _F["instruction_field"], input_field: str = _F["input_field"],
           output_field: str = _F["output_field"], id_field: Optional[str] = _F["id_field"],
           fmt: str = _F["fmt"], encoding: str = _F["encoding"], strict: bool = _F["strict"]):
    """Score the pool and select a subset under the budget; write the run directory."""
    from curata.config import build_pipeline, load_config, load_recipe, merge

    _setup_logging(quiet)
    data = merge(load_recipe(recipe), {
        "input": _input(pool, task, text_field, label_field, left_field, right_field, instruction_field,
                        input_field, output_field, id_field, fmt, encoding, strict),
        "seed": seed, "out": str(out), **({"cache_dir": str(cache_dir)} if cache_dir else {})})
    data.setdefault("select", {})["budget"] = budget
    if target is not None:
        data["target"] = {**data["input"], "path": str(target), "strict": strict}
    if selector is not None:
        data["select"]["selector"] = {"name": selector}
    if by is not None:
        sel = data["select"].setdefault("selector", {"name": "topk"})
        sel["reward" if sel.get("name") == "bandit" else "by"] = by
    if selector is not None or by is not None:
        data.pop("unlabelled", None)  # the user chose the selector: no recipe path replaces it
    if (spec := _embed_spec(embedder)) is not None:
        data["embed"] = spec
    cfg = load_config(data)
    result = build_pipeline(cfg, progress=not quiet, force=force).run()
    _finish(result, str(out), not no_report)


@app.command()
def score(pool: Path = typer.Argument(..., help="pool file or HF dataset dir"),
          scorers: str = typer.Option("length,mtld", help="comma-separated scorer names"),
          target: Optional[Path] = typer.Option(None, help="target set (for target_sim, zipfit)"),
          embedder: Optional[str] = typer.Option(None, help="minilm | static | model path"),
          seed: int = typer.Option(0), out: Path = typer.Option(..., help="run directory"),
          quiet: bool = typer.Option(False),
          force: bool = typer.Option(False, help="reuse --out even if it holds a run of another input or settings"),
          task: str = _F["task"], text_field: str = _F["text_field"], label_field: str = _F["label_field"],
          left_field: str = _F["left_field"], right_field: str = _F["right_field"],
          instruction_field: str = _F["instruction_field"], input_field: str = _F["input_field"],
          output_field: str = _F["output_field"], id_field: Optional[str] = _F["id_field"],
          fmt: str = _F["fmt"], encoding: str = _F["encoding"], strict: bool = _F["strict"]):
    """Add score columns only (no selection); writes records.parquet."""
    from curata.config import build_pipeline, load_config

    _setup_logging(quiet)
    data = {"input": _input(pool, task, text_field, label_field, left_field, right_field, instruction_field,
                            input_field, output_field, id_field, fmt, encoding, strict),
            "scorers": [s.strip() for s in scorers.split(",") if s.strip()], "seed": seed, "out": str(out)}
    if target is not None:
        data["target"] = {**data["input"], "path": str(target)}
    if (spec := _embed_spec(embedder)) is not None:
        data["embed"] = spec
    result = build_pipeline(load_config(data), progress=not quiet, force=force).run()
    _finish(result, str(out), report=False)


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run directory made by `select` or `run`"),
             test: Path = typer.Option(..., help="labelled test split (same fields as the pool)"),
             budgets: str = typer.Option("0.05,0.1,0.25", help="comma-separated budgets"),
             seeds: int = typer.Option(5, min=1, help="seeds for random baselines (and seeded selectors/trainers)"),
             trainer: str = typer.Option("logreg", help="logreg | mlp (frozen embeddings) | ido (noise-robust two-stage) | finetune (MiniLM on CPU) | lora_sft (instruction pools; their default)"),
             trainer_params: str = typer.Option("{}", help='trainer parameters as JSON, e.g. \'{"epochs": 2, "max_length": 256}\''),
             no_full: bool = typer.Option(False, help="skip the full-pool baseline"),
             no_report: bool = typer.Option(False), quiet: bool = typer.Option(False)):
    """Train on the selection, on random subsets of the same size and on the full pool; compare on TEST."""
    from curata.engine.evaluate import evaluate_run

    _setup_logging(quiet)
    try:
        params = json.loads(trainer_params)
    except json.JSONDecodeError as e:
        raise ConfigError("--trainer-params", f"not JSON ({e.msg} at character {e.pos})",
                          """give an object, e.g. '{"epochs": 2}'""") from None
    if not isinstance(params, dict):
        raise ConfigError("--trainer-params", "must be a JSON object", """e.g. '{"epochs": 2}'""")
    table = evaluate_run(run, test, budgets=[b.strip() for b in budgets.split(",") if b.strip()], seeds=seeds,
                         trainer={"name": trainer, **params}, full=not no_full, progress=not quiet)
    typer.echo(table.to_string(index=False))
    if not no_report:
        from curata.report.html import render_report
        typer.echo(f"report: {render_report(run)}")


@app.command()
def report(run: Path = typer.Argument(..., help="run directory")):
    """Write RUN/report.html: one self-contained file, works offline."""
    from curata.report.html import render_report

    if not (run / "records.parquet").exists():
        raise CurataError(f"{run}: no records.parquet — is this a run directory? (run `curata select` first)")
    typer.echo(render_report(run))


@app.command()
def inspect(run: Path = typer.Argument(..., help="run directory"),
            sql: str = typer.Argument(..., help="read-only SQL over the table `records` (and `rejected`, "
                                                "`eval`): SELECT, WITH … SELECT, DESCRIBE, SUMMARIZE, SHOW, "
                                                "EXPLAIN; of several `;`-separated statements the last "
                                                "result is printed")):
    """Query a run with read-only SQL (DuckDB), e.g. "SELECT label, count(*) FROM records GROUP BY 1".

    Read-only: only queries run. COPY, EXPORT, ATTACH, INSTALL/LOAD, SET/PRAGMA, CREATE/INSERT and the like are refused, and only the run's own tables can be read (no other files, no network). To keep a result, redirect the output: curata inspect RUN "SELECT …" > out.txt
    """  # noqa: E501 - typer keeps docstring line breaks, so the paragraph is one line
    from curata.engine.inspect import query

    typer.echo(query(run, sql).to_string(index=False))


@app.command()
def run(config: Path = typer.Argument(..., help="pipeline YAML (see docs/config.md)"),
        out: Optional[Path] = typer.Option(None, help="run directory (overrides `out:`)"),
        no_report: bool = typer.Option(False), quiet: bool = typer.Option(False),
        force: bool = typer.Option(False, help="reuse the run directory even if it holds another run")):
    """Run a pipeline from a typed YAML config; evaluates too if it has an `evaluate:` section."""
    from curata.config import build_pipeline, load_config

    _setup_logging(quiet)
    cfg = load_config(config)
    out_dir = str(out or cfg.out or "")
    if not out_dir:
        raise CurataError("config `out`: no run directory — set `out:` in the YAML or pass --out")
    result = build_pipeline(cfg, run_dir=out_dir, progress=not quiet, force=force).run()
    if cfg.evaluate is not None and cfg.evaluate.test is not None and cfg.select is not None:
        from curata.engine.evaluate import evaluate_run
        ev = cfg.evaluate
        evaluate_run(out_dir, ev.test.path, budgets=ev.budgets, seeds=ev.seeds, trainer=ev.trainer.model_dump(),
                     full=ev.full, progress=not quiet)
    _finish(result, out_dir, not no_report)


@app.command()
def recipes():
    """List the shipped recipes."""
    from importlib import resources

    import yaml

    from curata.config import recipe_names
    for name in recipe_names():
        desc = yaml.safe_load((resources.files("curata.recipes") / f"{name}.yaml").read_text()).get("description", "")
        typer.echo(f"{name:10s} {' '.join(str(desc).split())}")


def _register_commands() -> None:
    """Commands that live in their own modules (curata.commands.*), imported only when run."""
    from curata.commands.instructmining import instructmining_fit, instructmining_search
    from curata.commands.label_issues import label_issues as _label_issues

    app.command("label-issues")(_label_issues)
    app.command("instructmining-fit")(instructmining_fit)
    app.command("instructmining-search")(instructmining_search)


_register_commands()


def _version(value: bool) -> None:
    if value:
        from curata import __version__
        typer.echo(f"curata {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")):
    """Pick the training subset that gives the best model, explain every choice, prove the gain."""
    _setup_logging(quiet=False)


def main() -> None:
    try:
        app()
    except CurataError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except OSError as e:  # a file the user named cannot be written or read: say which, no traceback
        where = f"{e.filename}: " if e.filename else ""
        typer.echo(f"error: {where}{e.strerror or e} — check the path and its permissions", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished stages are kept; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
