"""Parquet reading: rows stream in batches; the line of a record is its 1-based row number."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curata.errors import InputError
from curata.io.base import detect_format, open_reader
from curata.io.fields import FieldMap, load_pool
from curata.io.parquet import ParquetReader


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def write_table(path, columns: dict, row_group_size: int | None = None):
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def test_rows_become_records_with_row_numbers(tmp_path, rejections, accounted):
    path = write_table(tmp_path / "pool.parquet", {
        "text": ["refund", None, "late parcel", "", "locked out", "crash"],
        "label": [0, 1, 1, 2, None, 3],
        "when": [dt.datetime(2024, 1, 2, 3, 4, 5)] * 6,
    }, row_group_size=4)
    pool = load(path, batch_size=2)  # batches of 2 across row groups of 4: row numbers must keep counting
    assert pool.df["text"].tolist() == ["refund", "late parcel", "crash"]
    assert pool.df["source_line"].tolist() == [1, 3, 6]
    assert pool.df["label"].tolist() == ["0", "1", "3"]
    assert pool.label_names == ["0", "1", "3"]  # numeric labels sort as numbers
    assert rejections(pool) == [(2, "missing field `text`"), (4, "empty field `text`"),
                                (5, "missing or empty label field `label`")]
    assert json.loads(pool.df["raw"].iloc[0]) == {"text": "refund", "label": 0, "when": "2024-01-02T03:04:05"}
    assert pool.input_format == "parquet" and pool.header is None
    accounted(pool, 6)


def test_non_string_text_is_rejected(tmp_path, rejections, accounted):
    path = write_table(tmp_path / "pool.parquet", {"text": [["a", "b"], ["c"]], "label": ["x", "y"]})
    with pytest.raises(InputError, match="all 2 were rejected"):
        load(path)
    path = write_table(tmp_path / "nums.parquet", {"text": [1.5, 2.0], "label": ["x", "y"]})
    assert load(path).df["text"].tolist() == ["1.5", "2.0"]


def test_ids_from_an_id_column_and_from_content(tmp_path, rejections, accounted):
    path = write_table(tmp_path / "ids.parquet", {"id": [10, 11, 10], "text": ["a", "b", "c"],
                                                  "label": ["x"] * 3})
    pool = load(path)
    assert pool.df["id"].tolist() == ["10", "11"]
    assert rejections(pool) == [(3, "duplicate id '10' (first at line 1)")]
    accounted(pool, 3)
    path = write_table(tmp_path / "noid.parquet", {"text": ["a", "a", "b"], "label": ["x", "x", "x"]})
    ids = load(path).df["id"].tolist()
    assert ids[1] == ids[0] + "~2" and len(set(ids)) == 3
    assert load(path).df["id"].tolist() == ids


def test_label_column_name_and_known_labels(tmp_path, rejections, accounted):
    path = write_table(tmp_path / "test.pq", {"text": ["a", "b", "c"], "y": ["pos", "neg", "meh"]})
    assert detect_format(path) == "parquet"
    pool = load(path, fmap=FieldMap(label_field="y"), known_labels=["neg", "pos"])
    assert pool.df["label"].tolist() == ["pos", "neg"]
    assert rejections(pool) == [(3, "unknown label 'meh': the pool's labels are ['neg', 'pos']")]
    accounted(pool, 3)


def test_strict_names_the_row(tmp_path):
    path = write_table(tmp_path / "pool.parquet", {"text": ["a", None], "label": ["x", "y"]})
    with pytest.raises(InputError, match=r"pool\.parquet:2: missing field `text`"):
        load(path, strict=True)


def test_reader_and_bad_files(tmp_path):
    path = write_table(tmp_path / "pool.parquet", {"text": ["a", "b", "c"]})
    reader = open_reader(path, batch_size=2, encoding="latin-1")  # encoding is ignored for Parquet
    assert isinstance(reader, ParquetReader)
    assert [[r.line for r in b] for b in reader.iter_batches()] == [[1, 2], [3]]
    fake = tmp_path / "fake.parquet"
    fake.write_text("text,label\nnot,parquet\n")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        load(fake)
    empty = write_table(tmp_path / "empty.parquet", {"text": pa.array([], pa.string())})
    with pytest.raises(InputError, match="the file holds no records"):
        load(empty)
