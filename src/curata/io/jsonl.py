"""JSON Lines reader: one object per line; bad lines become rejections, never crashes."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

from curata.io.base import RawRecord, Reader
from curata.io.compression import READ_ERRORS, open_binary, read_error
from curata.pool import Rejection


class JsonlReader(Reader):
    format = "jsonl"

    def _open(self):
        return open_binary(self.path)  # decompressing .gz/.xz/.bz2/.zst

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        lineno = 0
        try:
            with self._open() as fh:
                for lineno, raw_bytes in enumerate(fh, start=1):
                    yield from self._parse(lineno, raw_bytes)
        except READ_ERRORS as e:
            raise read_error(self.path, e, lineno + 1) from e

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
