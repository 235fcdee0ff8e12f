"""JSON Lines reader: one object per line; bad lines become rejections, never crashes."""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from collections.abc import Iterator

from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.pool import Rejection


class JsonlReader(Reader):
    format = "jsonl"

    def _open(self):
        return gzip.open(self.path, "rb") if self.path.name.endswith(".gz") else open(self.path, "rb")

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        lineno = 0
        try:
            with self._open() as fh:
                for lineno, raw_bytes in enumerate(fh, start=1):
                    yield from self._parse(lineno, raw_bytes)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(str(self.path), f"cannot read the file from this line on ({e})",
                             "check that the file is complete (and gzip-compressed if it ends in .gz)",
                             line=lineno + 1) from e

    def _parse(self, lineno: int, raw_bytes: bytes) -> Iterator[RawRecord | Rejection]:
        file = str(self.path)
        raw_bytes = raw_bytes.rstrip(b"\r\n")
        if lineno == 1 and codecs.lookup(self.encoding).name == "utf-8":
            raw_bytes = raw_bytes.removeprefix(codecs.BOM_UTF8)  # a byte-order mark is not part of a record
        try:
            line = raw_bytes.decode(self.encoding)
        except UnicodeDecodeError as e:
            yield Rejection(file, lineno, f"undecodable bytes ({self.encoding}): byte 0x{raw_bytes[e.start]:02x} "
                            f"at column {e.start + 1}; re-save the file as UTF-8 or pass --encoding",
                            raw_bytes.decode(self.encoding, errors="backslashreplace"))
            return
        if not line.strip():
            return  # blank lines are not records
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield Rejection(file, lineno, f"malformed JSON: {e.msg} at column {e.colno}", line)
            return
        if not isinstance(obj, dict):
            yield Rejection(file, lineno, f"expected a JSON object, got {type(obj).__name__}", line)
            return
        yield RawRecord(file, lineno, obj, line)
