"""The proof loop: train on the selection, on random subsets of the same size and on the full pool.

Labelled pools get a third arm, ``random_label_mix``: random records with the selection's per-label counts, so
the gain of choosing records is told apart from the gain of re-balancing the labels.

Results are appended to ``eval/results.jsonl`` as each model finishes (a killed evaluation resumes),
then summarised to ``eval/results.parquet`` and ``eval/summary.json``.

Classification pools are scored by F1/accuracy (higher is better). Instruction pools are fine-tuned with an
SFT trainer (``lora_sft``) and scored by the test set's response-token loss, ``eval_loss`` (lower is better;
``f1``/``accuracy``/``macro_f1`` are NaN, ``exact_match`` is filled where the trainer answers numeric references).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from curata.console import tqdm

from curata.engine.atomic import write_json, write_parquet
from curata.engine.budget import Budget
from curata.errors import ConfigError, CurataError, InputError

log = logging.getLogger("curata")

#: an arm maps (budget, seed) to the pool rows to train on
Arm = Callable[[Budget, int], np.ndarray]
#: primary metrics where smaller values mean a better model
LOWER_IS_BETTER = frozenset({"eval_loss"})
DEFAULT_TRAINER = {"text": "logreg", "pair": "logreg", "instruction": "lora_sft"}


def primary_column(results: pd.DataFrame) -> str:
    """The results column holding the primary metric: ``eval_loss`` for instruction runs, else ``f1``."""
    primary = results["primary"].dropna() if "primary" in results.columns else pd.Series(dtype=object)
    name = str(primary.iloc[0]) if len(primary) else "f1"
    return name if name in LOWER_IS_BETTER and name in results.columns else "f1"


def random_arm(n_pool: int, size_of: Callable[[Budget, int], int]) -> Arm:
    def rows(budget: Budget, seed: int) -> np.ndarray:
        rng = np.random.default_rng(10_000 + seed)
        return np.sort(rng.choice(n_pool, size=size_of(budget, seed), replace=False))
    return rows


def label_mix_arm(pool, chosen: Arm) -> Arm:
    """Random records with the selection's per-label counts: what re-balancing labels alone is worth, so the
    gain of *choosing* records shows apart from the gain of changing the label mix."""
    codes = pool.label_indices()

    def rows(budget: Budget, seed: int) -> np.ndarray:
        sel = chosen(budget, seed)
        rng = np.random.default_rng(20_000 + seed)
        out = []
        for code, k in zip(*np.unique(codes[sel], return_counts=True)):
            members = np.flatnonzero(codes == code)
            out.append(rng.choice(members, size=int(k), replace=False))
        return np.sort(np.concatenate(out)) if out else np.array([], dtype=np.int64)
    return rows


def select_arm(pool, ctx, select_factory) -> tuple[Arm, dict]:
    """An arm from a ``Select`` built per budget; the selector's seed follows the evaluation seed."""
    memo: dict[tuple, np.ndarray] = {}

    def rows(budget: Budget, seed: int) -> np.ndarray:
        k = (budget.kind, budget.value, seed)
        if k not in memo:
            sel = select_factory(budget)
            old, ctx.seed = ctx.seed, seed
            try:
                cols, _ = sel.run(pool, ctx, notes=[])
            finally:
                ctx.seed = old
            memo[k] = np.flatnonzero(cols["selected"].to_numpy())
        return memo[k]
    return rows, memo


def evaluate_pool(pool, test, arms: dict[str, Arm], budgets: list[Budget], seeds: int, trainer_factory,
                  full: bool = True, results_path: Path | None = None, progress: bool = True,
                  full_seeds: int | None = None, run_dir: Path | None = None) -> pd.DataFrame:
    """One row per trained model: budget, arm, seed, n_train, metrics. Resumes from ``results_path``.

    The full-pool baseline is trained once for a deterministic trainer, else ``full_seeds`` times
    (default: ``seeds``). Instruction pools: the trainer's ``fit(train, seed, run_dir=...)`` then
    ``evaluate(test)`` (an SFT trainer, which records each fine-tune under ``run_dir/finetunes/``)."""
    from curata.train.metrics import classification_metrics

    instruction = pool.task == "instruction"
    if not instruction and not pool.has_labels:
        raise CurataError("evaluate needs a labelled pool (the run has no labels)")
    done: dict[str, dict] = {}
    torn = False
    if results_path is not None and results_path.exists():
        text = results_path.read_text()
        torn = bool(text) and not text.endswith("\n")  # a kill mid-append: start the next record on a new line
        for line in text.splitlines():
            try:
                r = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue  # that model is trained again
            if r is not None:
                done[r["key"]] = r
    y_test = None if instruction else test.label_indices(pool.label_names)
    probe = trainer_factory()
    deterministic = bool(getattr(probe, "deterministic", False))
    trainer_desc = probe.describe()
    # everything a trained model's score depends on besides its rows: the pool it indexes, the test set, the
    # features both are seen through, the trainer and its parameters (a result never answers another question)
    context = evaluation_context(pool, test, probe)
    jobs = []
    for b in budgets:
        for name, arm in arms.items():
            for s in range(seeds):
                jobs.append((b, name, arm, s))
    if full:
        for s in range(1 if deterministic else (full_seeds or seeds)):
            jobs.append((Budget("fraction", 1.0), "full", lambda b, s: np.arange(len(pool)), s))
    rows_out: list[dict] = []
    cache: dict[str, dict] = {}
    for b, name, arm, s in tqdm(jobs, desc="evaluate", disable=not progress, leave=False):
        rows = arm(b, s)
        sig = hashlib.sha1(rows.tobytes()).hexdigest()[:16]
        key = f"{context}|{trainer_desc}|{b.kind}:{b.value}|{name}|{s}|{sig}"
        if key in done:
            rows_out.append(done[key])
            continue
        train_key = sig + ("" if deterministic else f"|{s}")
        if train_key in cache:
            metrics, seconds = cache[train_key]
        else:
            t0 = time.perf_counter()
            if instruction:
                trainer = trainer_factory().fit(pool.take(rows), seed=s, progress=False, run_dir=run_dir)
                metrics = {"accuracy": np.nan, "macro_f1": np.nan, "f1": np.nan, **trainer.evaluate(test)}
            else:
                trainer = trainer_factory().fit(pool.take(rows), seed=s, progress=False)
                metrics = classification_metrics(y_test, trainer.predict_proba(test), pool.label_names, pool.task)
            seconds = time.perf_counter() - t0
            cache[train_key] = (metrics, seconds)
        frac = len(rows) / len(pool)
        rec = {"key": key, "budget": b.value if b.kind == "fraction" else frac, "budget_spec": str(b),
               "arm": name, "seed": s, "n_train": int(len(rows)), "trainer": trainer_desc,
               "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "f1": metrics["f1"],
               "primary": metrics["primary"], "seconds": round(seconds, 3)}
        if instruction:
            rec.update(eval_loss=metrics["eval_loss"], exact_match=metrics.get("exact_match", np.nan))
        rows_out.append(rec)
        if results_path is not None:
            results_path.parent.mkdir(parents=True, exist_ok=True)
            with open(results_path, "a") as fh:
                fh.write(("\n" if torn else "") + json.dumps(rec) + "\n")
            torn = False
    return pd.DataFrame(rows_out)


def _digest(h, frame: pd.DataFrame | None = None, array: np.ndarray | None = None) -> None:
    if frame is not None:
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if array is not None:
        h.update(str(array.shape).encode())
        h.update(np.ascontiguousarray(array).tobytes())


def evaluation_context(pool, test, trainer) -> str:
    """Key part shared by every model of one evaluation: pool, test set (content and features), trainer."""
    h = hashlib.sha256()
    cols = [c for c in ("id", "text", "label", "left", "right", "instruction", "input", "output")]
    for p in (pool, test):
        _digest(h, p.df[[c for c in cols if c in p.df.columns]].astype(str))
        _digest(h, array=p.features)
    h.update(trainer.fingerprint().encode())
    return h.hexdigest()[:16]


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """mean ± std of the primary metric (``mean``/``std``) and of accuracy per budget and arm, with the
    primary metric's gain over random at the same budget (``mean − random``: negative is better for a loss)."""
    column = primary_column(results)
    g = results.groupby(["budget_spec", "arm"], sort=False)
    table = g.agg(budget=("budget", "mean"), n_train=("n_train", "mean"), n=("seed", "count"),
                  mean=(column, "mean"), std=(column, "std"), acc_mean=("accuracy", "mean"),
                  acc_std=("accuracy", "std"), metric=("primary", "first")).reset_index()
    table[["std", "acc_std"]] = table[["std", "acc_std"]].fillna(0.0)
    rand = table[table["arm"] == "random"].set_index("budget_spec")["mean"]
    table["gain_vs_random"] = table.apply(
        lambda r: r["mean"] - rand[r["budget_spec"]] if r["budget_spec"] in rand.index else np.nan, axis=1)
    return table.sort_values(["budget", "arm"]).reset_index(drop=True)


def evaluate_run(run: str | Path, test: str | Path, budgets: list, seeds: int = 5, trainer: dict | None = None,
                 full: bool = True, progress: bool = True) -> pd.DataFrame:
    """`curata evaluate`: rebuild the run's pipeline (all stages load from cache), then compare arms."""
    run = Path(run)
    if not (run / "config.yaml").exists():
        raise CurataError(f"{run}: no config.yaml — evaluate needs a run made by `curata select` or `curata run`")
    if not Path(test).exists():
        raise InputError(str(test), "test set not found", "give the labelled test split with --test")
    from curata.engine.lock import run_lock

    with run_lock(run, "evaluate"):
        return _evaluate_run(run, test, budgets, seeds, trainer, full, progress)


def _evaluate_run(run: Path, test, budgets: list, seeds: int, trainer: dict | None, full: bool,
                  progress: bool) -> pd.DataFrame:
    from curata.config import build_pipeline, load_config
    from curata.engine import registry
    from curata.engine.ownership import check_inputs
    from curata.engine.read import Read
    from curata.engine.select import Select

    if seeds < 1:
        raise ConfigError("evaluate.seeds", f"must be at least 1, got {seeds}",
                          "the comparison with random needs at least one random subset per budget")
    cfg = load_config(run / "config.yaml")
    if cfg.select is None:
        raise CurataError(f"{run}: this run has no selection step (made by `curata score`?)")
    parsed = [Budget.parse(b, key="budgets") for b in budgets]
    spec = dict(trainer or {"name": DEFAULT_TRAINER.get(cfg.input.fields.task, "logreg")})
    tname = spec.pop("name")
    spec.pop("optional", None)
    tcls = registry.get("trainer", tname, key="evaluate.trainer")
    pipe = build_pipeline(cfg, run_dir=run, progress=progress)
    check_inputs(run, pipe.identity()[0])  # the pool must still be the one the selection was made on
    pipe.force_embed = bool(getattr(tcls, "needs_features", True))
    pool, ctx, _ = pipe.prepare()
    tcls = _trainer_for_task(tcls, tname, spec, pool.task)
    for b in parsed:
        b.max_records(len(pool), key="budgets")
    inp = cfg.input
    test_read = Read(test, fmt="auto", strict=inp.strict, encoding=inp.encoding, fieldmap=inp.fields)
    try:
        test_pool, _ = pipe._read(test_read, "test", known_labels=pool.label_names, task=pool.task)
    except InputError as e:
        f = inp.fields
        roles = f"text_field={f.text_field!r}" if pool.task == "text" else \
            f"left_field={f.left_field!r}, right_field={f.right_field!r}" if pool.task == "pair" else \
            f"instruction_field={f.instruction_field!r}, output_field={f.output_field!r}"
        raise InputError(e.path, e.problem, f"the test set is read with the run's field mapping ({roles}, "
                         f"label_field={f.label_field!r}): give it the same fields as the pool", e.line) from None
    if test_pool.rejected:
        log.warning("test set: %d records rejected (e.g. %s:%s %s)", len(test_pool.rejected),
                    test_pool.rejected[0].file, test_pool.rejected[0].line, test_pool.rejected[0].reason)
    if pool.features is not None and pool.task != "instruction":
        pipe.embed_step().pool(test_pool, desc="embed test")
    sel = pipe.select

    def factory(budget: Budget) -> Select:
        return Select(sel.selector, budget=budget, exclude=sel.exclude, token_column=sel.token_column,
                      label_floor=sel.label_floor)

    chosen, _ = select_arm(pool, ctx, factory)
    arms = {"selected": chosen, "random": random_arm(len(pool), lambda b, s: len(chosen(b, s)))}
    if pool.task != "instruction" and len(pool.label_names or []) > 1:
        arms["random_label_mix"] = label_mix_arm(pool, chosen)
    try:
        results = evaluate_pool(pool, test_pool, arms, parsed, seeds, lambda: tcls(**spec), full=full,
                                results_path=run / "eval" / "results.jsonl", progress=progress, run_dir=run)
    except ValueError as e:
        raise ConfigError("evaluate.trainer", str(e)) from None
    table = summarise(results)
    write_parquet(run / "eval" / "results.parquet", results.drop(columns=["key"]))
    primary = results["primary"].iloc[0] if len(results) else None
    write_json(run / "eval" / "summary.json", {
        "primary": primary, "trainer": results["trainer"].iloc[0]
        if len(results) else None, "seeds": seeds, "lower_is_better": primary in LOWER_IS_BETTER,
        "test": {"path": str(test), "records": test_pool.n_in, "rejected": len(test_pool.rejected),
                 "sha256": test_read.sha256},
        "table": table.to_dict(orient="records")})
    return table


def _trainer_for_task(tcls, tname: str, spec: dict, task: str):
    """A trainer class able to train on ``task``. The command line's default ``logreg`` on an instruction pool
    becomes ``lora_sft`` (said in the log); any other classifier there is an error, and so is an SFT trainer
    on a classification pool."""
    from curata.engine import registry

    if task in getattr(tcls, "task_kinds", ("text", "pair")):
        return tcls
    if task == "instruction" and tname == "logreg" and not spec:
        log.warning("instruction pool: trainer logreg trains classifiers; using lora_sft (eval loss on the test set)")
        return registry.get("trainer", "lora_sft", key="evaluate.trainer")
    raise ConfigError("evaluate.trainer", f"trainer {tname!r} cannot train on a {task} pool",
                      "use lora_sft for instruction pools" if task == "instruction" else "use logreg, mlp or finetune")
