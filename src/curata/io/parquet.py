"""Parquet reader, streamed in record batches; line = 1-based row number."""

from __future__ import annotations

import json
from collections.abc import Iterator

from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.pool import Rejection


def _jsonable(v):
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return str(v)


class ParquetReader(Reader):
    format = "parquet"

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise InputError(str(self.path), f"not a readable Parquet file ({e})", "check the file") from e
        row = 0
        for batch in pf.iter_batches(batch_size=self.batch_size):
            for rec in batch.to_pylist():
                row += 1
                yield RawRecord(str(self.path), row, rec, json.dumps(rec, ensure_ascii=False, default=_jsonable))
