"""A directory of shards or a glob, read as one input: each record keeps its shard's path and its line there.

Which files are shards:

* a directory is walked recursively; files and subdirectories whose name starts with ``.`` or ``_`` (hidden
  files, ``_SUCCESS``/``_metadata`` markers, ``_temporary/``) and Hugging Face dataset subdirectories are
  skipped; files are read in the order of their relative path, compared name by name;
* a glob (``data/part-*.jsonl``, ``shards/**/*.parquet``; ``**`` matches any depth) is expanded and sorted
  the same way; a matched directory stands for its shards, and the same skipping applies;
* with ``--format auto`` only files with a known extension are read (others are reported as ignored) and
  all of them must be one format; with an explicit format every non-skipped file is read in that format.

CSV/TSV shards must have the same header (the selected rows are written back under one header).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from curata.errors import InputError
from curata.io.base import READ_SUFFIXES, RawRecord, Reader, format_from_name, is_glob, is_hf_dir, single_reader
from curata.pool import Rejection

log = logging.getLogger("curata")


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _walk(root: Path, ignored: list[str]) -> list[Path]:
    found: list[Path] = []
    for here, dirs, files in os.walk(root):
        keep = []
        for d in dirs:
            if _skipped(d):
                continue
            if is_hf_dir(Path(here) / d):
                ignored.append(str(Path(here) / d) + "/ (a Hugging Face dataset: read it on its own)")
                continue
            keep.append(d)
        dirs[:] = keep
        found += [Path(here) / f for f in files if not _skipped(f)]
    return sorted(found, key=lambda f: f.relative_to(root).parts)


def _candidates(path: str | os.PathLike, ignored: list[str]) -> list[Path]:
    if not is_glob(path):
        return _walk(Path(path), ignored)
    matches = sorted(glob.glob(str(path), recursive=True), key=lambda m: Path(m).parts)
    if not matches:
        raise InputError(str(path), "the pattern matches no file",
                         "check the pattern (quote it so that the shell leaves it to curata; ** matches any depth)")
    files: list[Path] = []
    for m in map(Path, matches):
        if m.is_dir():
            files += [] if is_hf_dir(m) else _walk(m, ignored)
        elif m.is_file() and not _skipped(m.name):
            files.append(m)
    return list(dict.fromkeys(files))  # a file matched twice is read once


def _what(path) -> str:
    return "the pattern matches" if is_glob(path) else \
        "is a directory but not a Hugging Face dataset saved with save_to_disk, and it holds"


def shard_root(path: str | os.PathLike) -> Path:
    """The directory shard names are taken relative to: the directory itself, or a glob's fixed prefix."""
    if not is_glob(path):
        return Path(path)
    parts = Path(path).parts
    fixed = parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]
    return Path(*fixed) if fixed else Path(".")


def list_shards(path: str | os.PathLike, fmt: str = "auto") -> tuple[list[Path], str, list[str]]:
    """(shards in reading order, their common format, files left out with why) for a directory or glob."""
    ignored: list[str] = []
    files = _candidates(path, ignored)
    if fmt not in ("auto", None, ""):
        if not files:
            raise InputError(str(path), f"{_what(path)} no file to read (hidden and _-prefixed files are skipped)",
                             "check the path")
        return files, fmt, ignored
    by_format: dict[str, list[Path]] = {}
    for f in files:
        kind = format_from_name(f)
        if kind == "json":
            from curata.io.json_array import sniff_json

            kind = sniff_json(f)
        if kind is None:
            ignored.append(f"{f} (unknown extension)")
        else:
            by_format.setdefault(kind, []).append(f)
    if not by_format:
        seen = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        raise InputError(str(path), f"{_what(path)} no file curata reads (it reads {READ_SUFFIXES}; "
                         f"found: {seen or 'nothing'})",
                         "point it at the data files, or pass --format to read files with other names")
    if len(by_format) > 1:
        kinds = "; ".join(f"{k}: {len(v)} ({', '.join(p.name for p in v[:3])}{', …' if len(v) > 3 else ''})"
                          for k, v in sorted(by_format.items()))
        raise InputError(str(path), f"shards in more than one format ({kinds})",
                         "keep one format per input: move the others aside or narrow it with a glob such as "
                         "'dir/*.jsonl'")
    (kind, shards), = by_format.items()
    return shards, kind, ignored


class ShardedReader(Reader):
    """Reads the shards of a directory or glob one after another, each with the reader of its format."""

    def __init__(self, path, fmt: str = "auto", batch_size: int = 4096, encoding: str = "utf-8", **kwargs):
        # no Reader.__init__: a glob is not a path that exists
        self.path, self.batch_size, self.encoding = Path(path), batch_size, encoding
        self.header: str | None = None
        self.files, self.format, self.ignored = list_shards(path, fmt)
        self.kwargs = kwargs
        if self.format == "hf":
            raise InputError(str(path), "a glob or a directory of shards cannot be read as a Hugging Face "
                             "dataset", "pass the save_to_disk directory itself")
        if self.ignored:
            log.warning("%s: %d file(s) not read: %s", path, len(self.ignored), "; ".join(self.ignored[:5]) +
                        (" …" if len(self.ignored) > 5 else ""))
        log.info("reading %d %s shard(s) from %s", len(self.files), self.format, path)

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        ref: tuple[Path, list[str]] | None = None
        for f in self.files:
            reader = single_reader(f, self.format, batch_size=self.batch_size, encoding=self.encoding,
                                   **self.kwargs)
            self.format = reader.format
            records = reader.iter_records()
            first = next(records, None)  # a CSV reader has read its header by now
            cols = getattr(reader, "header_fields", None)
            if cols is not None:
                if ref is None:
                    ref, self.header = (f, cols), reader.header
                elif cols != ref[1]:
                    raise InputError(str(f), f"header {cols} differs from the first shard's ({ref[0]}: {ref[1]})",
                                     "give every shard the same columns in the same order",
                                     line=reader.header_line)
            if first is not None:
                yield first
                yield from records
