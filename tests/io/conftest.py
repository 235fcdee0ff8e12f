"""Helpers for the input-layer tests: write files byte for byte, list rejections, check the accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from curata.io.writers import accounting


@pytest.fixture
def write(tmp_path):
    """``write("pool.jsonl", text_or_bytes)`` → path; text is encoded as UTF-8, bytes are written as given."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return _write


@pytest.fixture
def rejections():
    """``rejections(pool)`` → [(line, reason)] in the order they were met."""
    return lambda pool: [(r.line, r.reason) for r in pool.rejected]


@pytest.fixture
def accounted():
    """``accounted(pool, n)``: accepted + rejected == n (the lines, or rows, that hold a record)."""

    def _check(pool, n_records: int) -> None:
        assert len(pool.df) + len(pool.rejected) == pool.n_in == n_records
        acc = accounting(pool, None)
        got = (acc["records_in"], acc["accepted"], acc["rejected"])
        assert got == (n_records, len(pool.df), len(pool.rejected))

    return _check
