"""A directory of shards or a glob read as one input: order, file/line per record, skipped files, one format,
one CSV header, clear errors, and an input hash that follows the shards' content."""

from __future__ import annotations

import gzip
import json
import logging

import pandas as pd
import pytest

from curata.config import check_operators, load_config
from curata.engine.read import Read
from curata.errors import ConfigError, InputError
from curata.io.base import detect_format, expand_inputs, input_exists, open_reader
from curata.io.fields import load_pool
from curata.io.shards import ShardedReader, shard_root


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def jsonl(*texts, label="a") -> str:
    return "".join(json.dumps({"text": t, "label": label}) + "\n" for t in texts)


@pytest.fixture
def shards(tmp_path):
    """data/ with part-0..2.jsonl (2 records each, part-1 has a bad line), markers and a hidden file."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "part-0.jsonl").write_text(jsonl("a0", "a1"))
    (d / "part-1.jsonl").write_text(jsonl("b0") + "not json\n" + jsonl("b2"))
    (d / "part-2.jsonl").write_text(jsonl("c0", "c1"))
    (d / "_SUCCESS").write_text("")
    (d / ".part-0.jsonl.crc").write_text("crc")
    return d


def test_directory_reads_every_shard_in_name_order_with_its_own_lines(shards, rejections, accounted):
    pool = load(shards)
    assert pool.df["text"].tolist() == ["a0", "a1", "b0", "b2", "c0", "c1"]
    assert pool.df["source_file"].tolist() == [str(shards / f"part-{i}.jsonl") for i in (0, 0, 1, 1, 2, 2)]
    assert pool.df["source_line"].tolist() == [1, 2, 1, 3, 1, 2]
    assert [(r.file, r.line) for r in pool.rejected] == [(str(shards / "part-1.jsonl"), 2)]
    assert pool.input_format == "jsonl" and pool.df["raw"].iloc[0] == '{"text": "a0", "label": "a"}'
    accounted(pool, 7)
    assert detect_format(shards) == "jsonl"
    assert [p.name for p in expand_inputs(shards)] == ["part-0.jsonl", "part-1.jsonl", "part-2.jsonl"]


def test_directory_is_walked_recursively_skipping_hidden_and_underscore_dirs(tmp_path):
    d = tmp_path / "out"
    for sub in ("lang=en", "lang=fr", "_temporary", ".cache"):
        (d / sub).mkdir(parents=True)
        (d / sub / "part-0.jsonl").write_text(jsonl(sub))
    (d / "top.jsonl").write_text(jsonl("top"))
    pool = load(d)
    assert pool.df["text"].tolist() == ["lang=en", "lang=fr", "top"]  # relative paths, compared name by name


def test_glob_expands_sorted_and_recursive(shards, tmp_path):
    pool = load(str(shards / "part-*.jsonl"))
    assert pool.df["text"].tolist() == ["a0", "a1", "b0", "b2", "c0", "c1"]
    assert len(load(str(shards / "part-[02].jsonl"))) == 4
    (shards / "deep").mkdir()
    (shards / "deep" / "part-9.jsonl").write_text(jsonl("deep"))
    pool = load(str(tmp_path / "**" / "*.jsonl"))
    assert pool.df["text"].tolist() == ["deep", "a0", "a1", "b0", "b2", "c0", "c1"]  # data/deep/ < data/part-0
    assert isinstance(open_reader(str(shards / "*.jsonl")), ShardedReader)
    assert shard_root(str(tmp_path / "data" / "*.jsonl")) == tmp_path / "data"


def test_glob_without_match_and_directory_without_data(tmp_path):
    with pytest.raises(InputError, match=r"nothing-\*\.jsonl: the pattern matches no file — check the pattern"):
        load(str(tmp_path / "nothing-*.jsonl"))
    d = tmp_path / "docs"
    d.mkdir()
    (d / "README.md").write_text("hi")
    (d / "_SUCCESS").write_text("")
    with pytest.raises(InputError) as exc:
        load(d)
    msg = str(exc.value)
    assert "no file curata reads (it reads .jsonl/.ndjson/.json, .csv, .tsv/.tab, .parquet/.pq" in msg
    assert "README.md (unknown extension)" in msg and "_SUCCESS" not in msg and "\n" not in msg


def test_explicit_format_reads_files_of_any_name(tmp_path):
    d = tmp_path / "spark"
    d.mkdir()
    (d / "part-00000").write_text(jsonl("x"))
    (d / "part-00001").write_text(jsonl("y"))
    (d / "_SUCCESS").write_text("")
    assert load(d, fmt="jsonl").df["text"].tolist() == ["x", "y"]


def test_unknown_files_beside_shards_are_reported_not_read(shards, caplog):
    (shards / "notes.txt").write_text("not data")
    with caplog.at_level(logging.WARNING, logger="curata"):
        pool = load(shards)
    assert len(pool) == 6
    assert "notes.txt (unknown extension)" in caplog.text


def test_mixed_formats_are_an_input_error(shards):
    (shards / "extra.csv").write_text("text,label\nx,a\n")
    with pytest.raises(InputError, match=r"shards in more than one format \(csv: 1 \(extra\.csv\); jsonl: 3 "
                                         r"\(part-0\.jsonl, part-1\.jsonl, part-2\.jsonl\)\)"):
        load(shards)
    assert len(load(str(shards / "*.jsonl"))) == 6  # a glob narrows it down


def test_compressed_and_plain_shards_of_one_format_mix(shards):
    with gzip.open(shards / "part-3.jsonl.gz", "wt") as fh:
        fh.write(jsonl("d0"))
    pool = load(shards)
    assert pool.df["text"].tolist()[-1] == "d0"
    assert pool.df["source_file"].iloc[-1] == str(shards / "part-3.jsonl.gz")


def test_csv_shards_share_one_header(tmp_path, rejections, accounted):
    d = tmp_path / "csv"
    d.mkdir()
    (d / "a.csv").write_text("text,label\nx,a\n")
    (d / "b.csv").write_text("text,label\n")  # header only: no records
    (d / "c.csv").write_text('\ntext,label\n"y,z",b\nragged\n')
    pool = load(d)
    assert pool.df["text"].tolist() == ["x", "y,z"]
    assert pool.df["source_line"].tolist() == [2, 3]
    assert (pool.header, pool.input_format) == ("text,label", "csv")
    assert [(r.file, r.line) for r in pool.rejected] == [(str(d / "c.csv"), 4)]
    accounted(pool, 3)
    (d / "d.csv").write_text("label,text\nb,w\n")
    with pytest.raises(InputError) as exc:
        load(d)
    assert str(exc.value).startswith(f"{d / 'd.csv'}:1: header ['label', 'text'] differs from the first shard's")
    assert "give every shard the same columns in the same order" in str(exc.value)


def test_parquet_shards(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pd.DataFrame({"text": ["p", "q"], "label": ["a", "b"]}).to_parquet(d / "0.parquet")
    pd.DataFrame({"text": ["r"], "label": ["a"]}).to_parquet(d / "1.parquet")
    pool = load(str(d / "*.parquet"))
    assert pool.df["source_line"].tolist() == [1, 2, 1] and pool.input_format == "parquet"


def test_empty_shards_hold_no_records(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "a.jsonl").write_text("")
    (d / "b.jsonl").write_text("\n")
    with pytest.raises(InputError, match=r"empty: its 2 file\(s\) hold no records"):
        load(d)


def test_input_hash_follows_the_shards(shards):
    def sha(path, fmt="auto"):
        return Read(path, fmt=fmt).sha256

    first, glob = sha(shards), sha(str(shards / "*.jsonl"))
    assert first == sha(shards)  # stable
    (shards / "notes.txt").write_text("ignored files do not count")
    assert sha(shards) == first
    (shards / "part-1.jsonl").write_text(jsonl("changed"))
    assert sha(shards) != first
    assert sha(str(shards / "*.jsonl")) != glob
    changed = sha(shards)
    (shards / "part-1.jsonl").rename(shards / "part-5.jsonl")  # same bytes, another order
    assert sha(shards) != changed
    assert Read(shards).fingerprint() != Read(shards, text_field="other").fingerprint()


def test_input_exists_and_the_config_check(shards, tmp_path):
    assert input_exists(shards) and input_exists(str(shards / "*.jsonl"))
    assert not input_exists(str(shards / "*.parquet")) and not input_exists(tmp_path / "missing.jsonl")
    check_operators(load_config({"input": str(shards / "part-*.jsonl"), "embed": {"name": "static"}}))
    with pytest.raises(ConfigError, match="input.path"):
        check_operators(load_config({"input": str(shards / "*.parquet"), "embed": {"name": "static"}}))
