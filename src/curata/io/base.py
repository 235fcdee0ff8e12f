"""Reader base class: every reader yields batches of ``RawRecord`` or ``Rejection``, with file and line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curata.errors import InputError
from curata.pool import Rejection

FORMATS = ("jsonl", "csv", "tsv", "parquet", "hf")


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


def detect_format(path: str | os.PathLike) -> str:
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            return "hf"
        raise InputError(str(p), "is a directory but not a Hugging Face dataset saved with save_to_disk",
                         "pass a file (.jsonl, .csv, .tsv, .parquet) or a dataset directory")
    name = p.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".csv", "csv"),
                        (".tsv", "tsv"), (".tab", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return fmt
    raise InputError(str(p), "cannot tell the file format from its name",
                     "rename it to .jsonl/.csv/.tsv/.parquet or pass --format")


def open_reader(path: str | os.PathLike, fmt: str = "auto", **kwargs) -> Reader:
    """Build the reader for ``path`` (format from the extension unless given)."""
    fmt = detect_format(path) if fmt in ("auto", None, "") else fmt
    if fmt == "jsonl":
        from curata.io.jsonl import JsonlReader
        return JsonlReader(path, **kwargs)
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
