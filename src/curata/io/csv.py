"""CSV/TSV reader with a header row; ragged rows and undecodable bytes become rejections."""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import sys
import zlib
from collections.abc import Iterator

from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.pool import Rejection

_SURROGATE = re.compile("[\udc80-\udcff]")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class _LineTracker:
    """Feeds physical lines to ``csv.reader`` and remembers them, so each row knows its lines and raw text."""

    def __init__(self, fh):
        self.fh, self.lineno, self.buffer = fh, 0, []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.fh)
        self.lineno += 1
        self.buffer.append(line)
        return line

    def take(self) -> str:
        raw, self.buffer = "".join(self.buffer), []
        return raw.rstrip("\r\n")


class CsvReader(Reader):
    format = "csv"

    def __init__(self, path, batch_size: int = 4096, encoding: str = "utf-8", delimiter: str = ",",
                 columns: list[str] | None = None, quoting: str = "minimal"):
        super().__init__(path, batch_size, encoding)
        self.delimiter = delimiter
        self.format = "tsv" if delimiter == "\t" else "csv"  # selected rows are written back in it
        self.columns = columns  # when the file has no header row
        self.quoting = csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL

    def _open(self):
        utf8 = codecs.lookup(self.encoding).name == "utf-8"
        encoding = "utf-8-sig" if utf8 else self.encoding  # a byte-order mark is not part of the first column
        opener = gzip.open if self.path.name.endswith(".gz") else open
        return opener(self.path, "rt", encoding=encoding, errors="surrogateescape", newline="")

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        tracker = None
        try:
            with self._open() as fh:
                tracker = _LineTracker(fh)
                yield from self._rows(tracker)
        except (OSError, EOFError, zlib.error) as e:
            line = tracker.lineno + 1 if tracker else 1
            raise InputError(str(self.path), f"cannot read the file from this line on ({e})",
                             "check that the file is complete (and gzip-compressed if it ends in .gz)",
                             line=line) from e

    def _rows(self, tracker: _LineTracker) -> Iterator[RawRecord | Rejection]:
        file = str(self.path)
        reader = csv.reader(tracker, delimiter=self.delimiter, quoting=self.quoting)
        header = self.columns
        if header is None:
            while not header:  # blank lines before the header row are skipped
                header_line = tracker.lineno + 1
                try:
                    header = next(reader)
                except StopIteration:
                    return
                self.header = tracker.take()
            if _SURROGATE.search(self.header):
                raise InputError(file, "header row has undecodable bytes",
                                 "re-save as UTF-8 or pass --encoding", line=header_line)
            if len(set(header)) != len(header):
                raise InputError(file, f"duplicate column names in header: {header}", "rename the columns",
                                 line=header_line)
        while True:
            start = tracker.lineno + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                yield Rejection(file, start, f"unparseable CSV row: {e}", tracker.take())
                continue
            raw = tracker.take()
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if _SURROGATE.search(raw):
                yield Rejection(file, start, f"undecodable bytes ({self.encoding}); re-save the file as UTF-8 "
                                "or pass --encoding", raw.encode("utf-8", "surrogateescape")
                                .decode("utf-8", "backslashreplace"))
                continue
            if len(row) != len(header):
                yield Rejection(file, start, f"ragged row: {len(row)} fields, header has {len(header)}", raw)
                continue
            yield RawRecord(file, start, dict(zip(header, row)), raw)
