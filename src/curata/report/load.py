"""Read a run directory's outputs for the report: every file is optional; a broken one is noted, not fatal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: rejected.jsonl lines kept in memory for the sample table (all are counted)
MAX_REJECTED_KEPT = 200


@dataclass
class RunData:
    """Everything the report shows, as read from one run directory (None where a file is absent)."""

    root: Path
    shown_as: str
    summary: dict | None = None
    manifest: dict | None = None
    config_text: str | None = None
    records: pd.DataFrame | None = None
    rejected: list[dict] | None = None
    n_rejected_lines: int = 0
    bandit: pd.DataFrame | None = None
    eval_results: pd.DataFrame | None = None
    eval_summary: dict | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> pd.DataFrame | None:
        if self.records is None:
            return None
        return self.records[self.records["status"] != "rejected"]

    @property
    def has_selection(self) -> bool:
        return self.records is not None and \
            bool(self.records["status"].isin(["selected", "not_selected"]).any())

    def score_columns(self) -> list[str]:
        if self.records is None:
            return []
        df = self.records
        return [c for c in df.columns if c.endswith("_score") and pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]


def _json(path: Path, problems: list[str]) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{path.name} could not be read: {e}")
        return None


def _parquet(path: Path, problems: list[str], skip_lists: bool = False) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        columns = None
        if skip_lists:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            columns = [f.name for f in schema
                       if not (pa.types.is_list(f.type) or pa.types.is_large_list(f.type))]
        return pd.read_parquet(path, columns=columns)
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes a note in the report
        name = f"eval/{path.name}" if path.parent.name == "eval" else path.name
        problems.append(f"{name} could not be read: {e}")
        return None


def _jsonl(path: Path, problems: list[str], keep: int | None = None) -> tuple[list[dict], int] | None:
    if not path.is_file():
        return None
    rows, n, bad = [], 0, 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            n += 1
            if keep is not None and len(rows) >= keep:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(obj, dict):
                rows.append(obj)
    if bad:
        problems.append(f"{path.name}: {bad} line(s) are not valid JSON and were skipped")
    return rows, n


def _pull_size(pull: dict) -> int | None:
    for key in ("ids", "rows"):
        v = pull.get(key)
        if isinstance(v, list):
            return len(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
    return None


def _bandit(path: Path, problems: list[str]) -> pd.DataFrame | None:
    got = _jsonl(path, problems)
    if got is None or not got[0]:
        return None
    pulls = got[0]
    return pd.DataFrame({
        "round": [p.get("round", i) for i, p in enumerate(pulls)],
        "arm": [str(p.get("arm")) for p in pulls],
        "reward": pd.to_numeric(pd.Series([p.get("reward") for p in pulls], dtype=object), errors="coerce"),
        "size": pd.array([_pull_size(p) for p in pulls], dtype="Int64"),
        "policy": [p.get("policy") for p in pulls],
    })


def load_run(run_dir: str | Path) -> RunData:
    root = Path(run_dir)
    data = RunData(root=root, shown_as=str(run_dir))
    p = data.problems
    data.summary = _json(root / "summary.json", p)
    data.manifest = _json(root / "manifest.json", p)
    if (root / "config.yaml").is_file():
        data.config_text = (root / "config.yaml").read_text(encoding="utf-8", errors="replace")
    data.records = _parquet(root / "records.parquet", p, skip_lists=True)
    if data.records is not None and "status" not in data.records.columns:
        p.append("records.parquet has no `status` column; record sections are not shown")
        data.records = None
    if data.records is not None:
        for col in ("id", "label", "text", "reason"):
            if col not in data.records.columns:
                data.records[col] = None
    got = _jsonl(root / "rejected.jsonl", p, keep=MAX_REJECTED_KEPT)
    if got is not None:
        data.rejected, data.n_rejected_lines = got
    data.bandit = _bandit(root / "bandit_log.jsonl", p)
    data.eval_results = _parquet(root / "eval" / "results.parquet", p)
    data.eval_summary = _json(root / "eval" / "summary.json", p)
    return data
