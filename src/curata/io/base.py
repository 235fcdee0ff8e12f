"""Reader base class: every reader yields batches of ``RawRecord`` or ``Rejection``, with file and line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curata.errors import InputError
from curata.pool import Rejection

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")


@dataclass
class RawRecord:
    """One source record: its fields as parsed and its original text, verbatim where the format allows."""

    file: str
    line: int | None
    fields: dict
    raw: str


class Reader:
    """Reads one source and yields lists of ``RawRecord | Rejection`` of at most ``batch_size`` items.

    Subclasses implement ``iter_records``; batching, the path check and the header are shared.
    """

    format: str = ""

    def __init__(self, path: str | os.PathLike, batch_size: int = 4096, encoding: str = "utf-8"):
        self.path = Path(path)
        self.batch_size = batch_size
        self.encoding = encoding
        self.header: str | None = None
        if not self.path.exists():
            raise InputError(str(path), "file not found", "check the path (relative paths are resolved from the "
                             "current directory)")

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        raise NotImplementedError

    def iter_batches(self) -> Iterator[list[RawRecord | Rejection]]:
        batch: list[RawRecord | Rejection] = []
        for rec in self.iter_records():
            batch.append(rec)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


#: file-name suffix → format (``json`` files are sniffed: a JSON array, or JSON Lines under a .json name)
SUFFIXES = ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"), (".tsv", "tsv"),
            (".tab", "tsv"), (".parquet", "parquet"), (".pq", "parquet"))
#: what error messages say curata reads
READ_SUFFIXES = (".jsonl/.ndjson/.json, .csv, .tsv/.tab, .parquet/.pq; JSON and CSV/TSV may be compressed "
                 ".gz/.xz/.bz2/.zst")
_GLOB_CHARS = ("*", "?", "[")


def format_from_name(path: str | os.PathLike) -> str | None:
    """The format a file name says (``json`` for .json, not yet sniffed), or None."""
    from curata.io.compression import compression_of, strip_compression

    name = strip_compression(Path(path).name)
    for suffix, fmt in SUFFIXES:
        if name.endswith(suffix):
            if fmt == "parquet" and compression_of(path):
                raise InputError(str(path), "a compressed Parquet file cannot be read (Parquet compresses "
                                 "internally)", "decompress it first")
            return fmt
    return None


def is_hf_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any((p / n).exists() for n in ("dataset_info.json", "dataset_dict.json", "state.json"))


def is_glob(path: str | os.PathLike) -> bool:
    """A pattern such as ``data/part-*.jsonl`` (an existing file whose name has ``[`` or ``*`` is a file)."""
    s = str(path)
    return any(c in s for c in _GLOB_CHARS) and not os.path.exists(s)


def is_sharded(path: str | os.PathLike) -> bool:
    """A glob, or a directory that is not a Hugging Face ``save_to_disk`` dataset: read as a set of shards."""
    return is_glob(path) or (Path(path).is_dir() and not is_hf_dir(path))


def input_exists(path: str | os.PathLike) -> bool:
    """True for an existing file or directory, or a glob that matches at least one path."""
    import glob

    return os.path.exists(path) or (is_glob(path) and bool(glob.glob(str(path), recursive=True)))


def expand_inputs(path: str | os.PathLike, fmt: str = "auto") -> list[Path]:
    """The files ``path`` stands for, in reading order: itself for a file or a Hugging Face dataset
    directory, else the sorted shards of a directory or glob (see ``curata.io.shards.list_shards``)."""
    if is_sharded(path):
        from curata.io.shards import list_shards

        return list_shards(path, fmt)[0]
    return [Path(path)]


def detect_format(path: str | os.PathLike) -> str:
    p = Path(path)
    if is_hf_dir(p):
        return "hf"
    if is_sharded(p):
        from curata.io.shards import list_shards

        return list_shards(p)[1]
    fmt = format_from_name(p)
    if fmt == "json":
        from curata.io.json_array import sniff_json

        return sniff_json(p) if p.is_file() else "jsonl"
    if fmt is None:
        raise InputError(str(p), "cannot tell the file format from its name",
                         f"rename it ({READ_SUFFIXES}) or pass --format")
    return fmt


def open_reader(path: str | os.PathLike, fmt: str = "auto", **kwargs) -> Reader:
    """Build the reader for ``path`` (format from the extension unless given); a directory of shards or a
    glob gets a ``ShardedReader`` over one reader per file."""
    auto = fmt in ("auto", None, "")
    if is_sharded(path) and (auto or fmt != "hf"):
        from curata.io.shards import ShardedReader

        return ShardedReader(path, "auto" if auto else fmt, **kwargs)
    return single_reader(path, detect_format(path) if auto else fmt, **kwargs)


def single_reader(path: str | os.PathLike, fmt: str, **kwargs) -> Reader:
    """The reader of one file (or Hugging Face dataset directory) in a known format."""
    if fmt == "jsonl":
        from curata.io.jsonl import JsonlReader
        return JsonlReader(path, **kwargs)
    if fmt == "json":
        from curata.io.json_array import JsonArrayReader
        return JsonArrayReader(path, **kwargs)
    if fmt in ("csv", "tsv"):
        from curata.io.csv import CsvReader
        kwargs.setdefault("delimiter", "\t" if fmt == "tsv" else ",")
        return CsvReader(path, **kwargs)
    if fmt == "parquet":
        from curata.io.parquet import ParquetReader
        kwargs.pop("encoding", None)
        return ParquetReader(path, **kwargs)
    if fmt == "hf":
        from curata.io.hf_disk import HFDiskReader
        kwargs.pop("encoding", None)
        return HFDiskReader(path, **kwargs)
    raise InputError(str(path), f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}")
