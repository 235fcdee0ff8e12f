"""CSV/TSV reader with a header row; ragged rows and undecodable bytes become rejections."""

from __future__ import annotations

import csv
import re
import sys
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
        self.columns = columns  # when the file has no header row
        self.quoting = csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        file = str(self.path)
        with open(self.path, encoding=self.encoding, errors="surrogateescape", newline="") as fh:
            tracker = _LineTracker(fh)
            reader = csv.reader(tracker, delimiter=self.delimiter, quoting=self.quoting)
            header = self.columns
            if header is None:
                try:
                    header = next(reader)
                except StopIteration:
                    return
                self.header = tracker.take()
                if _SURROGATE.search(self.header):
                    raise InputError(file, "header row has undecodable bytes", "re-save as UTF-8 or pass --encoding",
                                     line=1)
                if len(set(header)) != len(header):
                    raise InputError(file, f"duplicate column names in header: {header}", "rename the columns",
                                     line=1)
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
                    yield Rejection(file, start, f"undecodable bytes ({self.encoding}); re-save the file as UTF-8 or "
                                    "pass --encoding", raw.encode("utf-8", "surrogateescape")
                                    .decode("utf-8", "backslashreplace"))
                    continue
                if len(row) != len(header):
                    yield Rejection(file, start, f"ragged row: {len(row)} fields, header has {len(header)}", raw)
                    continue
                yield RawRecord(file, start, dict(zip(header, row)), raw)
