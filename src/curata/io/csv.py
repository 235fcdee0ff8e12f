"""CSV/TSV reader with a header row; ragged rows and undecodable bytes become rejections."""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections import deque
from collections.abc import Iterator

from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.io.compression import READ_ERRORS, open_text, read_error
from curata.pool import Rejection

_SURROGATE = re.compile("[\udc80-\udcff]")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
#: a row still open after this many physical lines is taken for an unclosed quote (bounds memory and re-reading)
MAX_ROW_LINES = 10_000


class _RowTooLong(Exception):
    """Raised into ``csv.reader`` (which resets on its next row) when a row spans more than MAX_ROW_LINES."""


class _LineTracker:
    """Feeds physical lines to ``csv.reader`` and remembers them, so each row knows its lines and raw text.

    ``push_back`` returns lines to be read again (after an unclosed quote swallowed them); ``eof`` tells that
    the reader ran into the end of the file while building the current row, i.e. inside a quoted field.
    """

    def __init__(self, fh):
        self.fh, self.lineno, self.buffer, self.pending, self.eof = fh, 0, [], deque(), False
        self.max_lines = MAX_ROW_LINES

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if len(self.buffer) >= self.max_lines:
            raise _RowTooLong
        if self.pending:
            line = self.pending.popleft()
        else:
            try:
                line = next(self.fh)
            except StopIteration:
                self.eof = True
                raise
        self.lineno += 1
        self.buffer.append(line)
        return line

    def take(self) -> str:
        raw, self.buffer = "".join(self.buffer), []
        return raw.rstrip("\r\n")

    def take_lines(self) -> list[str]:
        lines, self.buffer = self.buffer, []
        return lines

    def push_back(self, lines: list[str]) -> None:
        self.pending.extendleft(reversed(lines))
        self.lineno -= len(lines)
        self.eof = False


def _readable(raw: str) -> str:
    """Raw text with undecodable bytes (kept as surrogates) shown as ``\\xNN``."""
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class CsvReader(Reader):
    format = "csv"

    def __init__(self, path, batch_size: int = 4096, encoding: str = "utf-8", delimiter: str = ",",
                 columns: list[str] | None = None, quoting: str = "minimal"):
        super().__init__(path, batch_size, encoding)
        self.delimiter = delimiter
        self.format = "tsv" if delimiter == "\t" else "csv"  # selected rows are written back in it
        self.columns = columns  # when the file has no header row
        self.quoting = csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL
        self.header_fields: list[str] | None = None  # the parsed header row, once read
        self.header_line: int | None = None

    def _open(self):
        utf8 = codecs.lookup(self.encoding).name == "utf-8"
        encoding = "utf-8-sig" if utf8 else self.encoding  # a byte-order mark is not part of the first column
        return open_text(self.path, encoding=encoding, errors="surrogateescape", newline="")

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        tracker = None
        try:
            with self._open() as fh:
                tracker = _LineTracker(fh)
                yield from self._rows(tracker)
        except READ_ERRORS as e:
            raise read_error(self.path, e, tracker.lineno + 1 if tracker else 1) from e

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
                except _RowTooLong:
                    header = None
                self.header = tracker.take()
                if tracker.eof or header is None:
                    why = "the file ends inside it" if header is not None else \
                        f"still open after {MAX_ROW_LINES} lines"
                    raise InputError(file, f"unclosed quote in the header row ({why})",
                                     "close the quote (a quote inside a field is written twice: \"\")",
                                     line=header_line)
            if _SURROGATE.search(self.header):
                raise InputError(file, "header row has undecodable bytes",
                                 "re-save as UTF-8 or pass --encoding", line=header_line)
            if len(set(header)) != len(header):
                raise InputError(file, f"duplicate column names in header: {header}", "rename the columns",
                                 line=header_line)
            self.header_fields, self.header_line = list(header), header_line
        while True:
            start = tracker.lineno + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                yield Rejection(file, start, f"unparseable CSV row: {e}", tracker.take())
                continue
            except _RowTooLong:
                row = None
            lines, at_eof = tracker.take_lines(), tracker.eof
            raw = "".join(lines).rstrip("\r\n")
            if row is None or at_eof or (len(lines) > 1 and len(row) != len(header)):
                # a quote opened on the first line swallowed the lines after it: reject only that line and read
                # the others again as the rows they are (a quoted field spanning lines with the right field
                # count, closed before the end of the file, is kept)
                tracker.push_back(lines[1:])
                end = start + len(lines) - 1
                why = f"still open after {len(lines)} lines" if row is None else \
                    "the file ends inside it" if at_eof else \
                    f"closing it on line {end} would give {len(row)} fields, header has {len(header)}"
                after = "; the lines after it are read as rows of their own" if len(lines) > 1 else ""
                yield Rejection(file, start, f"unclosed quote in a field starting on this line ({why}){after}",
                                _readable(lines[0].rstrip("\r\n")))
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if _SURROGATE.search(raw):
                yield Rejection(file, start, f"undecodable bytes ({self.encoding}); re-save the file as UTF-8 "
                                "or pass --encoding", _readable(raw))
                continue
            if len(row) != len(header):
                yield Rejection(file, start, f"ragged row: {len(row)} fields, header has {len(header)}", raw)
                continue
            yield RawRecord(file, start, dict(zip(header, row)), raw)
