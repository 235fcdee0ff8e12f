"""Write a run's public outputs: records.parquet, selected.jsonl (+ selected.csv), rejected.jsonl, summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from curata.engine.atomic import write_json, write_lines, write_parquet
from curata.pool import Pool

#: columns of records.parquet that are always present (public interface; see docs/run-directory.md)
RECORD_COLUMNS = ("id", "status", "source_file", "source_line", "label", "text", "selected", "reason")


def records_table(pool: Pool, select_cols: pd.DataFrame | None) -> pd.DataFrame:
    """One row per record read: accepted ones with every column stages added, then the rejected ones."""
    df = pool.df.drop(columns=["raw"]).copy()
    if select_cols is not None:
        for c in select_cols.columns:
            df[c] = select_cols[c].to_numpy()
        df["status"] = np.where(df["selected"], "selected", "not_selected")
    else:
        df["selected"] = False
        df["reason"] = "scored only (no selection step)"
        df["status"] = "scored"
    int_cols = [c for c in df.columns if pd.api.types.is_integer_dtype(df[c])]
    if pool.rejected:
        rej = pd.DataFrame({
            "id": None, "status": "rejected",
            "source_file": [r.file for r in pool.rejected],
            "source_line": pd.array([r.line for r in pool.rejected], dtype="Int64"),
            "label": None, "text": None, "selected": False,
            "reason": [r.reason for r in pool.rejected],
        })
        df = pd.concat([df, rej], ignore_index=True)
    for c in int_cols + ["source_line"]:
        df[c] = df[c].astype("Int64")  # rejected rows have no value: keep integers integers
    for c in ("excluded", "selected"):
        if c in df.columns:
            df[c] = df[c].fillna(False).astype(bool)
    if "select_rank" in df.columns:
        df["select_rank"] = df["select_rank"].astype("Int64")
    front = [c for c in RECORD_COLUMNS if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def accounting(pool: Pool, select_cols: pd.DataFrame | None) -> dict:
    n_sel = int(select_cols["selected"].sum()) if select_cols is not None else 0
    n_acc = len(pool.df)
    out = {"records_in": pool.n_in, "accepted": n_acc, "selected": n_sel,
           "not_selected": n_acc - n_sel if select_cols is not None else None,
           "excluded": int(select_cols["excluded"].sum()) if select_cols is not None else None,
           "rejected": len(pool.rejected)}
    assert out["records_in"] == n_acc + out["rejected"]
    return out


def accounting_line(acc: dict) -> str:
    if acc["not_selected"] is None:
        return f"records in {acc['records_in']} = scored {acc['accepted']} + rejected {acc['rejected']}"
    return (f"records in {acc['records_in']} = selected {acc['selected']} + not selected {acc['not_selected']} "
            f"+ rejected {acc['rejected']}")


def write_outputs(run_dir, pool: Pool, select_cols: pd.DataFrame | None, records: pd.DataFrame) -> None:
    write_parquet(run_dir.path("records.parquet"), records)
    write_lines(run_dir.path("rejected.jsonl"), (json.dumps(r.to_json(), ensure_ascii=False) for r in pool.rejected))
    if select_cols is None:
        return
    sel = pool.df[select_cols["selected"].to_numpy()]
    if pool.input_format == "jsonl":
        lines = sel["raw"].tolist()  # verbatim source lines
    elif pool.input_format == "json":  # elements of a JSON array may span lines: one compact line each
        lines = [json.dumps(json.loads(r), ensure_ascii=False) for r in sel["raw"]]
    else:
        lines = sel["raw"].tolist() if pool.input_format in ("parquet", "hf") else \
            [json.dumps(_csv_fields(pool, r), ensure_ascii=False) for r in sel.itertuples()]
    write_lines(run_dir.path("selected.jsonl"), lines)
    if pool.input_format in ("csv", "tsv") and pool.header is not None:
        write_lines(run_dir.path(f"selected.{pool.input_format}"), [pool.header, *sel["raw"].tolist()])


def _csv_fields(pool: Pool, row) -> dict:
    import csv
    import io

    delim = "\t" if pool.input_format == "tsv" else ","
    header = next(csv.reader(io.StringIO(pool.header or ""), delimiter=delim), [])
    values = next(csv.reader(io.StringIO(row.raw), delimiter=delim), [])
    return dict(zip(header, values))


def write_summary(run_dir, summary: dict) -> None:
    write_json(run_dir.path("summary.json"), summary)
