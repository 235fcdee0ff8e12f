"""``curata instructmining-fit`` and ``curata instructmining-search``: InstructMining's rule and subset size.

Both read a run scored with the ``instructmining`` scorer (``records.parquet`` holds the ``im_*`` indicator
columns and the instruction/input/output fields) and an eval set with the run's field names.

- fit (METHODS §1.3): fine-tune ``lora_sft`` on ``--subsets`` sampled subsets of ``--size`` records, regress
  the log eval loss on the subsets' mean indicators by OLS, keep the significant ones, and write
  ``RUN/instructmining/rule.json`` (give it to the scorer: ``instructmining: {rule: RUN/instructmining/rule.json}``).
- search (METHODS §1.4): rank the records by the rule and search k (top-k) with FLAML BlendSearch; every trial
  goes to ``RUN/instructmining/search.jsonl``, the summary to ``RUN/instructmining/search.json``.

Every fine-tune is recorded in ``RUN/finetunes/<id>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from curata.errors import CurataError

_TRAINER = {
    "model": typer.Option("smollm2", help="causal LM to fine-tune (smollm2 = the shipped SmolLM2-135M-Instruct)"),
    "max_length": typer.Option(256, help="tokens per training/eval record (longer ones are truncated, counted)"),
    "epochs": typer.Option(1, help="epochs per fine-tune"),
    "batch_size": typer.Option(8, help="records per LoRA step"),
    "lr": typer.Option(2e-4, help="learning rate"),
    "dtype": typer.Option("float32", help="float32 | bfloat16 (CPU autocast)"),
    "num_threads": typer.Option(None, help="torch threads (default: 1 on a busy machine, else all cores)"),
}


def _trainer(model, max_length, epochs, batch_size, lr, dtype, num_threads) -> dict:
    return {"model": model, "max_length": max_length, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "dtype": dtype, "num_threads": num_threads}


def load_run_records(run: Path) -> "pd.DataFrame":  # noqa: F821 - pandas is imported when a command runs
    import pandas as pd

    path = Path(run) / "records.parquet"
    if not path.exists():
        raise CurataError(f"{run}: no records.parquet — score the pool first "
                          "(curata score POOL --scorers instructmining --out RUN)")
    df = pd.read_parquet(path)
    if not {"instruction", "output"} <= set(df.columns):
        raise CurataError(f"{run}: not an instruction run (records.parquet has no instruction/output columns)")
    return df


def load_eval_set(run: Path, path: Path):
    """The eval set as an instruction pool, read with the run's field mapping."""
    from curata.config import load_config
    from curata.io.fields import FieldMap, load_pool

    cfg_path = Path(run) / "config.yaml"
    fmap = load_config(cfg_path).input.fields if cfg_path.exists() else FieldMap()
    fmap = fmap.model_copy(update={"task": "instruction"})
    return load_pool(path, fmap, progress=False)


def instructmining_fit(
        run: Path = typer.Argument(..., help="a run scored with the instructmining scorer"),
        eval_set: Path = typer.Option(..., "--eval", help="evaluation set (instruction records) for the loss"),
        subsets: int = typer.Option(24, help="subsets to fine-tune on (the paper: ~100–130)"),
        size: int = typer.Option(96, help="records per subset (the paper: 1,000)"),
        alpha: float = typer.Option(0.05, help="keep regressors with p <= alpha (backward selection)"),
        source_column: Optional[str] = typer.Option(None, help="column of records.parquet naming each record's "
                                                               "source (default: source, else source_file)"),
        concentration: float = typer.Option(1.0, help="Dirichlet concentration of the source mix per subset"),
        out: Optional[Path] = typer.Option(None, help="rule JSON (default RUN/instructmining/rule.json)"),
        seed: int = typer.Option(0), model: str = _TRAINER["model"], max_length: int = _TRAINER["max_length"],
        epochs: int = _TRAINER["epochs"], batch_size: int = _TRAINER["batch_size"], lr: float = _TRAINER["lr"],
        dtype: str = _TRAINER["dtype"], num_threads: Optional[int] = _TRAINER["num_threads"],
        quiet: bool = typer.Option(False)) -> dict:
    """Fit InstructMining's linear rule: log eval loss ~ mean indicators of fine-tuned subsets (OLS)."""
    from curata.engine.lock import run_lock

    with run_lock(run, "instructmining-fit"):
        return _fit(run, eval_set, subsets, size, alpha, source_column, concentration, out, seed,
                    _trainer(model, max_length, epochs, batch_size, lr, dtype, num_threads), quiet)


def _fit(run, eval_set, subsets, size, alpha, source_column, concentration, out, seed, trainer, quiet) -> dict:
    from curata.value.instructmining_fit import lora_train_fn, run_fit, source_labels

    df = load_run_records(run)
    evals = load_eval_set(run, eval_set)
    train_fn = lora_train_fn(df, evals, trainer, run_dir=run, tag="fit")
    rule = run_fit(df, train_fn, n_subsets=subsets, size=size, seed=seed, alpha=alpha,
                   sources=source_labels(df, source_column), concentration=concentration, run_dir=run, out=out,
                   progress=not quiet)
    rows = [f"  {n:<24} {rule['coefficients'][n]:+.4f}  se {rule['standard_errors'][n]:.4f}  "
            f"p {rule['p_values'][n]:.3g}" for n in rule["coefficients"]]
    typer.echo(f"rule (log eval loss, {rule['n_subsets']} subsets of {size}, R² {rule['r2']:.3f}):")
    typer.echo("\n".join(rows))
    typer.echo(f"written: {rule.get('path')}")
    return rule


def instructmining_search(
        run: Path = typer.Argument(..., help="a run scored with the instructmining scorer"),
        eval_set: Path = typer.Option(..., "--eval", help="evaluation set (instruction records) for the loss"),
        rule: Optional[Path] = typer.Option(None, help="rule JSON (default RUN/instructmining/rule.json); "
                                                       "without one, the run's instructmining_score ranks"),
        k_min: int = typer.Option(32, help="smallest subset size (the paper: 1,000)"),
        k_max: Optional[int] = typer.Option(None, help="largest subset size (default: the whole pool)"),
        trials: int = typer.Option(16, help="BlendSearch trials (fine-tunes, fewer when k repeats)"),
        grid: int = typer.Option(3, help="log-spaced starting points, endpoints included"),
        low_cost: bool = typer.Option(False, help="let the local search climb from k_min (cheaper trials first)"),
        seed: int = typer.Option(0), model: str = _TRAINER["model"], max_length: int = _TRAINER["max_length"],
        epochs: int = _TRAINER["epochs"], batch_size: int = _TRAINER["batch_size"], lr: float = _TRAINER["lr"],
        dtype: str = _TRAINER["dtype"], num_threads: Optional[int] = _TRAINER["num_threads"],
        quiet: bool = typer.Option(False)) -> dict:
    """Search how many top-ranked records to keep (BlendSearch over k; the double-descent trace)."""
    from curata.engine.lock import run_lock

    with run_lock(run, "instructmining-search"):
        return _search(run, eval_set, rule, k_min, k_max, trials, grid, low_cost, seed,
                       _trainer(model, max_length, epochs, batch_size, lr, dtype, num_threads), quiet)


def _search(run, eval_set, rule, k_min, k_max, trials, grid, low_cost, seed, trainer, quiet) -> dict:
    import numpy as np

    from curata.engine.atomic import write_json
    from curata.value.instructmining_fit import lora_train_fn, rule_scores
    from curata.value.instructmining_search import search_subset_size, topk_objective

    df = load_run_records(run)
    rule_path = rule or Path(run) / "instructmining" / "rule.json"
    if rule_path.exists():
        scores, ranked_by = rule_scores(json.loads(rule_path.read_text()), df), str(rule_path)
    elif "instructmining_score" in df.columns:
        scores, ranked_by = df["instructmining_score"].to_numpy(dtype=np.float64), "instructmining_score"
    else:
        raise CurataError(f"{run}: no rule ({rule_path}) and no instructmining_score column to rank by")
    order = np.lexsort((np.arange(len(df)), np.nan_to_num(scores, nan=np.inf)))
    evals = load_eval_set(run, eval_set)
    train_fn = lora_train_fn(df, evals, trainer, run_dir=run, tag="search")
    res = search_subset_size(topk_objective(order, train_fn, seed), k_min, k_max or len(df), num_samples=trials,
                             grid=grid, low_cost=low_cost, seed=seed,
                             log_path=Path(run) / "instructmining" / "search.jsonl", progress=not quiet)
    res["ranked_by"] = ranked_by
    write_json(Path(run) / "instructmining" / "search.json", res)
    typer.echo(f"best k = {res['best_k']} (eval loss {res['best_loss']:.4f}) after {len(res['trials'])} trials; "
               f"trace: {Path(run) / 'instructmining' / 'search.jsonl'}")
    return res
