"""SQL over a run directory with DuckDB: tables `records`, `rejected` and (after evaluate) `eval`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curata.errors import CurataError


def query(run: str | Path, sql: str) -> pd.DataFrame:
    import duckdb

    run = Path(run)
    rec = run / "records.parquet"
    if not rec.exists():
        raise CurataError(f"{run}: no records.parquet — is this a run directory?")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW records AS SELECT * FROM read_parquet('{_q(rec)}')")
    rej = run / "rejected.jsonl"
    if rej.exists() and rej.stat().st_size > 0:
        con.execute(f"CREATE VIEW rejected AS SELECT * FROM read_json_auto('{_q(rej)}', format='newline_delimited')")
    ev = run / "eval" / "results.parquet"
    if ev.exists():
        con.execute(f"CREATE VIEW eval AS SELECT * FROM read_parquet('{_q(ev)}')")
    try:
        return con.execute(sql).fetchdf()
    except duckdb.Error as e:
        raise CurataError(f"inspect: {str(e).splitlines()[0]}") from None


def _q(p: Path) -> str:
    return str(p).replace("'", "''")
