"""Read-only SQL over a run directory with DuckDB: tables `records`, `rejected` and (after evaluate) `eval`.

``curata inspect`` is a query tool, never a way to change or leak files. Two independent guards:

1. **Statement check.** The SQL is split into statements by DuckDB's own parser; each must be a query:
   ``SELECT`` (also ``WITH … SELECT``, ``FROM …``, ``VALUES``, ``DESCRIBE``, ``SUMMARIZE``, ``SHOW``) or
   ``EXPLAIN [ANALYZE]`` of one. Anything else (``COPY``, ``EXPORT``, ``ATTACH``, ``INSTALL``/``LOAD``,
   ``SET``/``RESET``/``PRAGMA``, ``CALL``, ``CREATE``/``INSERT``/…) is refused before anything runs, with a
   one-line reason. Several statements (``;``-separated) run in order and the last one's result is returned.
2. **Sandbox.** The in-memory database may read only the run's own files (``records.parquet``,
   ``rejected.jsonl``, ``eval/results.parquet``, through ``allowed_paths``); every other file-system or
   network access is off (``enable_external_access = false``: no ``read_csv('/etc/passwd')``, no
   ``COPY … TO``, no extensions), automatic extension installs are off, and the configuration is then
   locked, so no statement can switch any of it back on. DuckDB may spill large sorts/joins to its temp
   directory: a private directory created for the query and deleted after it.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

from curata.errors import CurataError

#: what each refused statement type would do, for the one-line refusal
_REFUSED = {
    "COPY": "COPY writes files",
    "COPY_DATABASE": "COPY FROM DATABASE writes a database",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database file",
    "DETACH": "DETACH changes the attached databases",
    "LOAD": "INSTALL/LOAD download or run extensions",
    "EXTENSION": "extension statements run extensions",
    "SET": "SET/RESET/USE change the settings that keep it read-only",
    "VARIABLE_SET": "SET VARIABLE changes session state",
    "PRAGMA": "PRAGMA changes settings or imports files",
    "CALL": "CALL runs procedures",
    "CREATE": "CREATE changes the database",
    "CREATE_FUNC": "CREATE FUNCTION/MACRO changes the database",
    "INSERT": "INSERT changes data",
    "UPDATE": "UPDATE changes data",
    "DELETE": "DELETE changes data",
    "MERGE_INTO": "MERGE changes data",
    "DROP": "DROP changes the database",
    "ALTER": "ALTER changes the database",
    "VACUUM": "VACUUM changes the database",
    "ANALYZE": "ANALYZE changes the database",
    "TRANSACTION": "transactions are for changes",
    "PREPARE": "PREPARE/EXECUTE are not plain queries",
    "EXECUTE": "PREPARE/EXECUTE are not plain queries",
    "MULTI": "this statement (e.g. PIVOT without an IN list) creates types first",
}
_HINT = "use SELECT … FROM records (or rejected, eval)"
_LEADING_COMMENTS = re.compile(r"\A\s*(?:(?:--[^\n]*(?:\n|\Z)|/\*.*?\*/)\s*)*", re.S)
_EXPLAIN = re.compile(r"explain\s+(?:analy[sz]e\s+|\([^)]*\)\s*)?", re.I)


def _run_files(run: Path) -> dict[str, tuple[Path, str]]:
    """{table: (file, DuckDB reader)} for the run's files that exist."""
    files = {"records": (run / "records.parquet", "read_parquet('{}')")}
    rej = run / "rejected.jsonl"
    if rej.is_file() and rej.stat().st_size > 0:
        files["rejected"] = (rej, "read_json_auto('{}', format='newline_delimited')")
    ev = run / "eval" / "results.parquet"
    if ev.is_file():
        files["eval"] = (ev, "read_parquet('{}')")
    return files


def _refusal(kind: str) -> str:
    why = _REFUSED.get(kind, f"{kind} statements are not queries")
    return f"inspect is read-only: {why}; {_HINT}"


def check_statements(con, sql: str) -> list:
    """DuckDB's parsed statements of ``sql``, each checked to be a query; raises ``CurataError`` otherwise."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise CurataError(f"inspect: {str(e).splitlines()[0]}") from None
    if not statements:
        raise CurataError(f"inspect: no SQL statement given; {_HINT}")
    for st in statements:
        kind = st.type.name
        if kind == "EXPLAIN":
            text = _LEADING_COMMENTS.sub("", st.query)
            m = _EXPLAIN.match(text)
            try:
                inner = con.extract_statements(text[m.end():]) if m else []
            except duckdb.Error:
                inner = []
            if len(inner) != 1 or inner[0].type.name != "SELECT":
                kinds = inner[0].type.name if len(inner) == 1 else "that statement"
                raise CurataError(f"inspect is read-only: EXPLAIN only explains a SELECT here, not "
                                  f"{kinds}; {_HINT}")
        elif kind != "SELECT":
            raise CurataError(_refusal(kind))
    return statements


def _connect(files: dict[str, tuple[Path, str]], spill_dir: str):
    """An in-memory DuckDB that sees the run's tables and nothing else, with its configuration locked."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    paths = ", ".join(f"'{_q(p)}'" for p, _ in files.values())
    con.execute(f"SET allowed_paths = [{paths}]")
    con.execute(f"SET temp_directory = '{_q(Path(spill_dir))}'")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    for table, (path, reader) in files.items():
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {reader.format(_q(path))}")
    con.execute("SET lock_configuration = true")
    return con


def query(run: str | Path, sql: str) -> pd.DataFrame:
    """Run read-only ``sql`` over the run's tables; the result of the last statement as a DataFrame."""
    import duckdb

    run = Path(run)
    if not (run / "records.parquet").is_file():
        raise CurataError(f"{run}: no records.parquet — is this a run directory?")
    files = {t: (p.resolve(), r) for t, (p, r) in _run_files(run).items()}
    with tempfile.TemporaryDirectory(prefix="curata-inspect-") as spill:
        con = _connect(files, spill)
        try:
            statements = check_statements(con, sql)
            result = None
            for st in statements:
                result = con.execute(st).fetchdf()
            return result
        except duckdb.PermissionException as e:
            detail = str(e).splitlines()[0].removeprefix("Permission Error: ")
            raise CurataError(f"inspect is read-only and reads only this run's tables ({', '.join(files)}): "
                              f"{detail}") from None
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            if "configuration has been locked" in msg:
                raise CurataError(f"inspect is read-only: settings cannot be changed ({msg})") from None
            raise CurataError(f"inspect: {msg}") from None
        finally:
            con.close()


def _q(p: Path) -> str:
    return str(p).replace("'", "''")
