"""`curata inspect` is read-only: queries over records/rejected/eval work; writes, attachments, extensions,
reads of other files and attempts to unlock the settings are refused with a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from curata.engine.inspect import query
from curata.errors import CurataError


@pytest.fixture
def run(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    (root / "eval").mkdir(parents=True)
    pd.DataFrame({"id": [f"r{i}" for i in range(10)], "status": ["selected"] * 3 + ["not_selected"] * 7,
                  "selected": [True] * 3 + [False] * 7, "cluster": [0, 1, 1, 0, 1, 2, 2, 0, 1, 2],
                  "length_score": range(10)}).to_parquet(root / "records.parquet")
    (root / "rejected.jsonl").write_text("".join(json.dumps({"file": "pool.jsonl", "line": n, "reason": "empty"})
                                                 + "\n" for n in (4, 9)))
    pd.DataFrame({"budget": [0.1, 0.1], "arm": ["selected", "random"], "seed": [0, 0],
                  "macro_f1": [0.8, 0.7]}).to_parquet(root / "eval" / "results.parquet")
    (root / "summary.json").write_text("{}")
    return root


def refused(run: Path, sql: str) -> str:
    with pytest.raises(CurataError) as e:
        query(run, sql)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_selects_on_every_table(run):
    got = query(run, "SELECT cluster, count(*) AS n FROM records WHERE selected GROUP BY 1 ORDER BY 1")
    assert got.to_dict("list") == {"cluster": [0, 1], "n": [1, 2]}
    assert query(run, "SELECT line FROM rejected ORDER BY line")["line"].tolist() == [4, 9]
    assert query(run, "SELECT arm FROM eval WHERE macro_f1 > 0.75")["arm"].tolist() == ["selected"]
    cte = query(run, "WITH s AS (SELECT * FROM records WHERE selected) SELECT max(length_score) AS m FROM s")
    assert cte["m"].tolist() == [2]
    assert query(run, "FROM records SELECT count(*) AS n")["n"].tolist() == [10]


def test_describe_summarize_show_explain_and_several_statements(run):
    assert "length_score" in query(run, "DESCRIBE records")["column_name"].tolist()
    assert len(query(run, "SUMMARIZE records")) == 5
    assert set(query(run, "SHOW TABLES")["name"]) == {"records", "rejected", "eval"}
    assert len(query(run, "EXPLAIN SELECT * FROM records"))
    # several statements run in order; the last one's result is returned
    assert query(run, "SELECT 1 AS a; SELECT 2 AS b").to_dict("list") == {"b": [2]}
    # the run's own files may also be named directly
    assert query(run, f"SELECT count(*) AS n FROM read_parquet('{run / 'records.parquet'}')")["n"].tolist() == [10]


def test_copy_to_is_refused_and_writes_nothing(run, tmp_path):
    out = tmp_path / "leak.csv"
    for sql in (f"COPY records TO '{out}'", f"COPY (SELECT * FROM records) TO '{out}' (FORMAT csv)",
                f"SELECT 1; COPY records TO '{out}'", f"COPY records TO '{run / 'copy.parquet'}'"):
        msg = refused(run, sql)
        assert msg.startswith("inspect is read-only: COPY writes files; use SELECT")
    assert not out.exists() and not (run / "copy.parquet").exists()
    assert refused(run, f"EXPORT DATABASE '{tmp_path / 'dump'}'").startswith(
        "inspect is read-only: EXPORT DATABASE writes files")
    assert "EXPLAIN only explains a SELECT" in refused(run, f"EXPLAIN ANALYZE COPY records TO '{out}'")
    assert not out.exists() and not (tmp_path / "dump").exists()


def test_attach_and_extensions_are_refused(run, tmp_path):
    db = tmp_path / "other.duckdb"
    assert refused(run, f"ATTACH '{db}' AS other").startswith("inspect is read-only: ATTACH opens another")
    assert not db.exists()
    for sql in ("INSTALL httpfs", "LOAD httpfs"):
        assert refused(run, sql).startswith("inspect is read-only: INSTALL/LOAD")


@pytest.mark.parametrize("reader", ["read_csv('/etc/passwd')", "read_text('/etc/hostname')",
                                    "glob('/etc/*')", "'/etc/passwd'", "read_json_auto('{run}/summary.json')",
                                    "read_parquet('https://example.com/x.parquet')"])
def test_reading_other_files_is_refused(run, reader):
    msg = refused(run, f"SELECT * FROM {reader.format(run=run)}")
    assert msg.startswith("inspect is read-only and reads only this run's tables (records, rejected, eval)") \
        or "does not exist" in msg  # a quoted path that is not allowed is not even resolved as a file
    assert "/etc/passwd" in msg or "hostname" in msg or "/etc/*" in msg or "summary.json" in msg \
        or "example.com" in msg


@pytest.mark.parametrize("sql", ["SET enable_external_access = true", "RESET enable_external_access",
                                 "SET lock_configuration = false", "PRAGMA enable_profiling",
                                 "SET allowed_directories = ['/']", "USE memory",
                                 "CALL pragma_version()", "CREATE TABLE t AS SELECT 1",
                                 "SELECT 1; SET enable_external_access = true"])
def test_statements_that_would_unlock_or_change_are_refused(run, sql):
    assert refused(run, sql).startswith("inspect is read-only: ")


def test_the_sandbox_holds_without_the_statement_check(run, tmp_path):
    """Even if a statement slipped through the check, the configuration is locked and files are off-limits
    (DuckDB's own spill directory, private and deleted afterwards, is the only other place it may touch)."""
    import duckdb

    from curata.engine import inspect

    spill = tmp_path / "spill"
    spill.mkdir()
    files = {t: (p.resolve(), r) for t, (p, r) in inspect._run_files(run).items()}
    con = inspect._connect(files, str(spill))
    for sql in ("SET enable_external_access = true", "SET lock_configuration = false"):
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute(sql)
    with pytest.raises(duckdb.Error, match="disabled by configuration"):
        con.execute(f"COPY records TO '{run / 'x.csv'}'")
    assert not (run / "x.csv").exists()


def test_errors_stay_one_line(run):
    assert refused(run, "SELEC 1").startswith("inspect: Parser Error")
    assert refused(run, "  ;  ").startswith("inspect: no SQL statement given")
    assert "pivot" in refused(run, "PIVOT records ON cluster USING count(*)").lower()


def test_not_a_run_directory(tmp_path):
    assert refused(tmp_path, "SELECT 1") == f"{tmp_path}: no records.parquet — is this a run directory?"


def test_a_run_without_rejected_or_eval(run):
    (run / "rejected.jsonl").write_text("")
    (run / "eval" / "results.parquet").unlink()
    assert set(query(run, "SHOW TABLES")["name"]) == {"records"}
