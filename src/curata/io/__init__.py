"""Readers (JSONL, JSON arrays, CSV/TSV, Parquet, Hugging Face datasets on disk; compressed files,
directories of shards and globs), field mapping and writers."""

from curata.io.base import RawRecord, Reader, open_reader
from curata.io.fields import FieldMap, load_pool

__all__ = ["RawRecord", "Reader", "open_reader", "FieldMap", "load_pool"]
