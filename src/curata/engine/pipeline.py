"""Run stages in order with per-stage caching in the run directory, so a killed run resumes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from curata.embed.base import EmbedStep, Embedder
from curata.embed.cache import EmbeddingCache
from curata.engine.atomic import write_json, write_lines
from curata.engine.context import RunContext
from curata.engine.read import Read
from curata.engine.run_dir import RunDir
from curata.engine.select import Select
from curata.engine.stage import Scorer, Selector
from curata.errors import ConfigError
from curata.pool import Pool, Rejection

log = logging.getLogger("curata")


def _h(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass
class RunResult:
    pool: Pool
    records: pd.DataFrame
    accounting: dict
    selection: object = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, dict] = field(default_factory=dict)
    run_dir: Path | None = None
    #: loud problems: a label, source or cluster the selection starved (see ``curata.engine.guard``)
    alerts: list[str] = field(default_factory=list)

    @property
    def selected_ids(self) -> list[str]:
        df = self.records
        return df.loc[df["status"] == "selected", "id"].tolist()


class Pipeline:
    """``Pipeline([Read(...), embedder, scorers..., Select(...)]).run()``.

    Every stage is optional but the order is fixed: read → embed → scorers/dedup/cluster → select.
    With ``run_dir`` each finished stage is stored with a key that chains the input hash and every
    upstream stage's parameters; a re-run loads what still matches and computes only the rest.
    """

    def __init__(self, stages: list, run_dir: str | Path | None = None, seed: int = 0, progress: bool = True,
                 target=None, config: dict | None = None, cache_dir: str | Path | None = None,
                 force: bool = False, unlabelled: list | None = None, unlabelled_note: str = ""):
        self.reader, self.embedder, self.scorers, self.select = self._split(stages)
        #: scorers and select step used instead when the pool turns out to have no labels (a recipe's
        #: label-free path, e.g. for instruction pools); chosen after reading, before any slow stage
        self.unlabelled = None
        if unlabelled is not None:
            _, _, scorers, select = self._split(unlabelled)
            self.unlabelled = (scorers, select, unlabelled_note)
        #: reuse a run directory that holds another input or settings (its results are removed first)
        self.force = force
        self.run_dir = RunDir(run_dir) if run_dir is not None else None
        #: content-keyed caches (embeddings); default: inside the run directory. Share one between runs
        #: over the same texts (e.g. several budgets or noise levels) to embed each text once.
        if cache_dir is None and os.environ.get("CURATA_CACHE_DIR"):
            cache_dir = os.environ["CURATA_CACHE_DIR"]  # one content-keyed cache for every run of a session
        self.cache_dir = Path(cache_dir) if cache_dir is not None else (self.run_dir.cache_dir if self.run_dir
                                                                         else None)
        self.seed, self.progress, self.target, self.config = seed, progress, target, config
        self.timings: dict[str, dict] = {}
        self.notes: list[str] = []
        self.alerts: list[str] = []
        #: embed even when no stage needs vectors (e.g. for a trainer on frozen embeddings)
        self.force_embed = False

    @staticmethod
    def _split(stages: list):
        reader, embedder, scorers, select = None, None, [], None
        for st in stages:
            if isinstance(st, Read):
                reader = st
            elif isinstance(st, Embedder):
                embedder = st
            elif isinstance(st, Scorer):
                scorers.append(st)
            elif isinstance(st, Select):
                select = st
            elif isinstance(st, Selector):
                select = Select(st)
            else:
                raise ConfigError("stages", f"{st!r} is not a pipeline stage",
                                  "use Read, an embedder, scorers and Select")
        return reader, embedder, scorers, select

    def identity(self, data=None, target=None) -> tuple[dict, str]:
        """({pool, target} input keys, pipeline key): what a run directory belongs to (see ``ownership``)."""
        from curata.engine.ownership import input_key, pipeline_key

        inputs = {"pool": input_key(data if data is not None else self.reader, "pool"),
                  "target": input_key(target if target is not None else self.target, "target")}
        return inputs, pipeline_key(self.embedder, self.scorers, self.select,
                                    self.unlabelled[:2] if self.unlabelled else None, self.seed)

    # ---------------------------------------------------------------------------------------------------
    def _needs_embeddings(self) -> bool:
        sel = self.select.selector if self.select else None
        return self.force_embed or any(s.needs_embeddings for s in self.scorers) or \
            bool(getattr(sel, "needs_embeddings", False))

    def _timed(self, name: str, cached: bool, seconds: float, **extra) -> None:
        self.timings[name] = {"seconds": round(seconds, 3), "cached": cached, **extra}
        if self.progress:
            log.info("  %-22s %s %.1fs", name, "cached " if cached else "done   ", seconds)

    def _read(self, data, which: str = "pool", known_labels=None, task=None) -> tuple[Pool, str]:
        t0 = time.perf_counter()
        if isinstance(data, Pool):
            return data, _h(which, pd.util.hash_pandas_object(data.df.drop(columns=["raw"]), index=False)
                            .to_numpy().tobytes().hex()[:64])
        if isinstance(data, (str, Path)):
            data = Read(data)
        if not isinstance(data, Read):
            from curata.io.fields import pool_from_records
            pool = pool_from_records(data, known_labels=known_labels)
            return pool, _h(which, json.dumps(pool.df["raw"].tolist()))
        key = _h(which, data.fingerprint(), json.dumps(known_labels), str(task))
        stage = f"read-{which}"
        if self.run_dir is not None:
            cols = self.run_dir.load_stage(0 if which == "pool" else 99, stage, key)
            if cols is not None:
                meta = self.run_dir.stage_meta(0 if which == "pool" else 99, stage)
                rejected = [Rejection(**r) for r in meta["rejected"]]
                pool = Pool(df=cols, task=meta["task"], label_names=meta["label_names"], rejected=rejected,
                            input_format=meta["input_format"], header=meta["header"])
                self._timed(stage, True, time.perf_counter() - t0)
                return pool, key
        pool = data.load(known_labels=known_labels, progress=self.progress, task=task)
        if self.run_dir is not None:
            self.run_dir.save_stage(0 if which == "pool" else 99, stage, key, pool.df, time.perf_counter() - t0, {
                "task": pool.task, "label_names": pool.label_names, "input_format": pool.input_format,
                "header": pool.header, "rejected": [r.to_json() for r in pool.rejected]})
        self._timed(stage, False, time.perf_counter() - t0, records=pool.n_in)
        return pool, key

    def embed_step(self) -> EmbedStep:
        if self.embedder is None:
            from curata.embed.sentence_transformer import SentenceTransformerEmbedder
            self.embedder = SentenceTransformerEmbedder()
        cache = EmbeddingCache(self.cache_dir, self.embedder.model_key) if self.cache_dir else None
        return EmbedStep(self.embedder, cache, progress=self.progress)

    def prepare(self, data=None, target=None) -> tuple[Pool, RunContext, str]:
        """Read, embed and score: everything but selection. Returns (pool, context, chain key)."""
        self.timings, self.notes = {}, []
        data = data if data is not None else self.reader
        if data is None:
            raise ConfigError("input", "no pool given", "pass a dataset to run() or put a Read stage first")
        pool, key = self._read(data)
        if self.select is not None:  # fail before the slow stages
            self.select.budget.max_records(len(pool), key="select.budget")
            if self.select.budget.kind == "tokens":
                tokens = int(pool.df["text"].fillna("").str.split().str.len().sum())
                self.select.budget.check_tokens(tokens, len(pool), key="select.budget")
        ctx = RunContext(run_dir=self.run_dir, seed=self.seed, progress=self.progress)
        target = target if target is not None else self.target
        if target is not None:
            ctx.target, tkey = self._read(target, "target", task=pool.task)
            key = _h(key, tkey)
        active = self._plan(pool, ctx)  # every check that can fail without embedding fails here
        if self._needs_embeddings() and self.embedder is None:
            from curata.embed.sentence_transformer import SentenceTransformerEmbedder
            self.embedder = SentenceTransformerEmbedder()
        if self.embedder is not None:
            key = _h(key, self.embedder.fingerprint())
        if self._needs_embeddings():
            t0 = time.perf_counter()
            step = self.embed_step()
            step.pool(pool, desc="embed pool")
            if ctx.target is not None:
                step.pool(ctx.target, desc="embed target")
            ctx.embedder = step
            stats = {f"embed_{k}" if k == "seconds" else k: v for k, v in step.stats.items()}
            self._timed("embed", step.stats.get("encoded", 0) == 0, time.perf_counter() - t0, **stats)
        for i, scorer in enumerate(self.scorers, start=1):
            key = _h(key, scorer.fingerprint(), str(self.seed))  # seeded scorers follow the run's seed
            if scorer not in active:
                continue
            t0 = time.perf_counter()
            cols = self.run_dir.load_stage(i, scorer.name, key) if self.run_dir else None
            cached = cols is not None
            if cached:
                ctx.notes.extend(self.run_dir.stage_meta(i, scorer.name).get("notes", []))
            else:
                n_notes = len(ctx.notes)
                if self.run_dir is not None:
                    self.run_dir.begin_stage(i, scorer.name)  # a kill from here on leaves no stale marker
                cols = scorer.score(pool, ctx)
                if len(cols) != len(pool):
                    raise RuntimeError(f"scorer {scorer.name} returned {len(cols)} rows for {len(pool)} records")
                if self.run_dir is not None:
                    self.run_dir.save_stage(i, scorer.name, key, cols.reset_index(drop=True),
                                            time.perf_counter() - t0, {"notes": ctx.notes[n_notes:]})
            cols = cols.reset_index(drop=True)
            for c in cols.columns:
                pool.df[c] = cols[c]  # a Series keeps None in object columns (ids of duplicates, neighbours)
            self._timed(scorer.name, cached, time.perf_counter() - t0)
        self.notes.extend(ctx.notes)
        return pool, ctx, key

    def _plan(self, pool: Pool, ctx: RunContext) -> list[Scorer]:
        """After reading, before embedding: take the label-free path when the pool has no labels, skip optional
        scorers that cannot run (with a note), and fail now on what would fail later — a required scorer that
        cannot run, a rule or selector naming a column no scorer writes, stratifying an unlabelled pool."""
        if self.unlabelled is not None and not pool.has_labels:
            self.scorers, self.select, note = self.unlabelled[0], self.unlabelled[1], self.unlabelled[2]
            self.unlabelled = None
            self.notes.append(note or "the pool has no labels: the recipe's label-free path is used")
        active = []
        for scorer in self.scorers:
            skip = self._skip_reason(scorer, pool, ctx)
            if skip:
                if not getattr(scorer, "optional", False):
                    raise ConfigError(f"scorers.{scorer.name}", skip, "remove it or give what it needs")
                self.notes.append(f"scorer {scorer.name} skipped: {skip}")
                continue
            active.append(scorer)
        if self.select is not None:
            columns: set[str] | None = set(pool.df.columns)
            for scorer in active:
                if scorer.outputs is None:
                    columns = None
                    break
                columns |= set(scorer.outputs)
            self.select.check(columns, pool.has_labels and len(pool.label_names or []) >= 1, self.notes)
        return active

    @staticmethod
    def _skip_reason(scorer: Scorer, pool: Pool, ctx: RunContext) -> str | None:
        if scorer.needs_labels and not pool.has_labels:
            return "the pool has no labels"
        if scorer.needs_labels and len(pool.label_names or []) < 2:
            return "the pool has fewer than two labels"
        if scorer.needs_target and ctx.target is None:
            return "no target set was given (--target)"
        return None

    def run(self, data=None, target=None) -> RunResult:
        """Read, embed, score, select and write the run directory (held under its lock for the whole run)."""
        if self.run_dir is None:
            return self._run(data, target, [])
        from curata.engine.lock import run_lock
        from curata.engine.ownership import claim, refuse_foreign

        refuse_foreign(self.run_dir.root)  # before the lock file is made in someone else's directory
        with run_lock(self.run_dir.root, "run"):
            inputs, pipeline = self.identity(data, target)
            claimed = claim(self.run_dir.root, inputs, pipeline, force=self.force)
            return self._run(data, target, claimed)

    def _run(self, data, target, claimed: list[str]) -> RunResult:
        from curata.io.writers import accounting, accounting_line, records_table, write_outputs, write_summary

        t_start = time.perf_counter()
        if self.run_dir is not None and self.config is not None:
            import yaml
            from curata.engine.atomic import write_text
            write_text(self.run_dir.path("config.yaml"), yaml.safe_dump(self.config, sort_keys=False))
        pool, ctx, key = self.prepare(data, target)
        self.notes[:0] = claimed
        select_cols, result, alerts = None, None, []
        if self.select is not None:
            t0 = time.perf_counter()
            key = _h(key, self.select.fingerprint(), str(self.seed))
            idx = len(self.scorers) + 1
            cached = self.run_dir.load_stage(idx, "select", key) if self.run_dir else None
            if cached is not None:
                select_cols = cached
                meta = self.run_dir.stage_meta(idx, "select")
                self.notes.extend(meta.get("notes", []))
                alerts = list(meta.get("alerts", []))
                result = meta.get("selector")
            else:
                notes: list[str] = []
                if self.run_dir is not None:
                    self.run_dir.begin_stage(idx, "select")
                select_cols, res = self.select.run(pool, ctx, notes, alerts)
                self.notes.extend(notes)
                result = {"describe": res.describe, "summary": res.summary, "n_log": len(res.log)}
                if self.run_dir is not None:
                    log_path = self.run_dir.path("bandit_log.jsonl")
                    if res.log:
                        write_lines(log_path, (json.dumps(x) for x in res.log))
                    elif log_path.exists():
                        log_path.unlink()  # a log from another selection must not stay beside this one
                    self.run_dir.save_stage(idx, "select", key, select_cols, time.perf_counter() - t0,
                                            {"notes": notes, "alerts": alerts, "selector": result})
            self._timed("select", cached is not None, time.perf_counter() - t0)
        self.notes = list(dict.fromkeys(self.notes))  # a note said by two stages is shown once
        self.alerts = alerts
        if pool.embeddings is not None and len(pool):
            from curata.embed.projection import pca_2d
            xy = pca_2d(pool.embeddings, seed=self.seed)
            pool.df["map_x"], pool.df["map_y"] = xy[:, 0], xy[:, 1]
        records = records_table(pool, select_cols)
        acc = accounting(pool, select_cols)
        if self.run_dir is not None:
            t0 = time.perf_counter()
            write_outputs(self.run_dir, pool, select_cols, records)
            self._timed("write", False, time.perf_counter() - t0)
            write_summary(self.run_dir, {"accounting": acc, "accounting_line": accounting_line(acc),
                                         "budget": str(self.select.budget) if self.select else None,
                                         "selector": result, "alerts": alerts, "notes": self.notes,
                                         "task": pool.task, "labels": pool.label_names, "timings": self.timings,
                                         "seconds": round(time.perf_counter() - t_start, 3)})
        self._write_manifest(data, target)
        return RunResult(pool=pool, records=records, accounting=acc, selection=result, notes=self.notes,
                         alerts=alerts, timings=self.timings,
                         run_dir=self.run_dir.root if self.run_dir else None)

    def _write_manifest(self, data, target) -> None:
        if self.run_dir is None:
            return
        from curata.engine.manifest import manifest
        write_json(self.run_dir.path("manifest.json"), manifest(self, data, target))
