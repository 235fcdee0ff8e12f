"""Compressed JSONL, JSON and CSV/TSV (.gz, .xz, .bz2, .zst) read like the plain file; damaged streams are an
InputError naming the line where reading stopped."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import sys

import pytest
import zstandard

from curata.errors import InputError
from curata.io.base import detect_format, open_reader
from curata.io.compression import open_binary, strip_compression
from curata.io.fields import load_pool

COMPRESS = {
    ".gz": gzip.compress,
    ".xz": lambda b: lzma.compress(b, preset=0),
    ".bz2": lambda b: bz2.compress(b, 1),  # 100 kB blocks: a cut file still has whole blocks to decode
    ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
}
JSONL = '{"text": "one", "label": "a"}\nnot json\n{"text": "two", "label": "b"}\n'
CSV = 'text,label\nx,a\n"y\nz",b\nragged\n'


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def big_jsonl(n: int = 5000) -> bytes:
    rng = random.Random(0)  # random words compress little: a cut stream still holds whole blocks
    return "".join(f'{{"text": "record {i} {rng.getrandbits(128):032x}", "label": "{i % 3}"}}\n'
                   for i in range(n)).encode()


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_compressed_jsonl_reads_like_the_plain_file(write, rejections, accounted, suffix):
    plain = load(write("pool.jsonl", JSONL))
    path = write(f"pool.jsonl{suffix}", COMPRESS[suffix](JSONL.encode()))
    assert detect_format(path) == "jsonl"
    pool = load(path)
    cols = ["id", "text", "label", "source_line", "raw"]
    assert pool.df[cols].equals(plain.df[cols])
    assert rejections(pool) == [(2, "malformed JSON: Expecting value at column 1")]
    accounted(pool, 3)


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.parametrize("name,delim", [("pool.csv", ","), ("pool.tsv", "\t")])
def test_compressed_csv_and_tsv(write, accounted, suffix, name, delim):
    path = write(name + suffix, COMPRESS[suffix](CSV.replace(",", delim).encode()))
    assert detect_format(path) == name.split(".")[1]
    pool = load(path)
    assert pool.df["text"].tolist() == ["x", "y\nz"]
    assert [(r.line, r.raw) for r in pool.rejected] == [(5, "ragged")]
    assert pool.header == f"text{delim}label"
    accounted(pool, 3)


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_compressed_json_array(write, suffix):
    text = '[\n  {"text": "one", "label": "a"},\n  {"text": "two", "label": "b"}\n]\n'
    path = write(f"alpaca.json{suffix}", COMPRESS[suffix](text.encode()))
    assert detect_format(path) == "json"
    assert load(path).df["source_line"].tolist() == [2, 3]


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_truncated_stream_is_an_input_error_with_the_line(write, suffix):
    data = COMPRESS[suffix](big_jsonl())
    path = write(f"cut.jsonl{suffix}", data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as exc:
        list(open_reader(path).iter_records())
    err = exc.value
    assert err.line is not None and err.line > 1
    assert err.problem.startswith("cannot read the file from this line on (")
    assert "check that the file is a complete" in err.fix


@pytest.mark.parametrize("suffix", [".xz", ".bz2", ".zst"])
def test_truncated_csv_is_an_input_error_with_the_line(write, suffix):
    rows = "text,label\n" + "".join(f"row {i} with a few words,{i % 2}\n" for i in range(5000))
    data = COMPRESS[suffix](rows.encode())
    path = write(f"cut.csv{suffix}", data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv" + suffix.replace(".", r"\.") + r":\d+: cannot read the file"):
        list(open_reader(path).iter_records())


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_not_compressed_despite_the_name(write, suffix):
    with pytest.raises(InputError, match=rf"pool\.jsonl\{suffix}:1: cannot read the file from this line on"):
        load(write(f"pool.jsonl{suffix}", JSONL))


def test_zstd_multi_frame_and_exact_frame_boundaries(tmp_path):
    frames = b"".join(zstandard.ZstdCompressor().compress(part) for part in (b"ab\n", b"", b"cd\n"))
    path = tmp_path / "x.jsonl.zst"
    path.write_bytes(frames)
    with open_binary(path) as fh:
        assert fh.read() == b"ab\ncd\n"
    assert strip_compression("A.JSONL.ZST") == "a.jsonl"


def test_missing_zstandard_says_what_to_install(write, monkeypatch):
    path = write("pool.jsonl.zst", COMPRESS[".zst"](JSONL.encode()))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails as if not installed
    with pytest.raises(InputError, match=r"pool\.jsonl\.zst: reading \.zst files needs the package `zstandard`"
                                         r".* — pip install zstandard"):
        load(path)


def test_compressed_parquet_is_refused_clearly(write):
    with pytest.raises(InputError, match="a compressed Parquet file cannot be read"):
        detect_format(write("x.parquet.gz", b""))
