"""JSON Lines reader: one object per line; bad lines become rejections, never crashes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

from curata.io.base import RawRecord, Reader
from curata.pool import Rejection


class JsonlReader(Reader):
    format = "jsonl"

    def _open(self):
        return gzip.open(self.path, "rb") if self.path.name.endswith(".gz") else open(self.path, "rb")

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        file = str(self.path)
        with self._open() as fh:
            for lineno, raw_bytes in enumerate(fh, start=1):
                raw_bytes = raw_bytes.rstrip(b"\r\n")
                try:
                    line = raw_bytes.decode(self.encoding)
                except UnicodeDecodeError as e:
                    yield Rejection(file, lineno, f"undecodable bytes ({self.encoding}): byte 0x{raw_bytes[e.start]:02x} "
                                    f"at column {e.start + 1}; re-save the file as UTF-8 or pass --encoding",
                                    raw_bytes.decode(self.encoding, errors="backslashreplace"))
                    continue
                if not line.strip():
                    continue  # blank lines are not records
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    yield Rejection(file, lineno, f"malformed JSON: {e.msg} at column {e.colno}", line)
                    continue
                if not isinstance(obj, dict):
                    yield Rejection(file, lineno, f"expected a JSON object, got {type(obj).__name__}", line)
                    continue
                yield RawRecord(file, lineno, obj, line)
