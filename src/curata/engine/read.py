"""The read step as a stage: input path + field mapping → Pool, keyed by the content hash of what is read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from curata.engine.run_dir import file_sha256, files_sha256
from curata.io.base import is_sharded
from curata.io.fields import FieldMap, load_pool


class Read:
    """Read a pool (or target/test set) from a file, a directory of shards or a glob:
    ``Read("pool.jsonl", task="text", label_field="y")``."""

    def __init__(self, path, fmt: str = "auto", strict: bool = False, encoding: str = "utf-8",
                 split: str | None = None, fieldmap: FieldMap | None = None, reader_options: dict | None = None,
                 **fields):
        self.path = str(path)
        self.fmt, self.strict, self.encoding, self.split = fmt, strict, encoding, split
        self.fieldmap = fieldmap or FieldMap(**fields)
        self.reader_options = reader_options or {}
        self._sha: str | None = None

    @property
    def sha256(self) -> str:
        """Hash of what is read: the file (or dataset directory), or the shards of a directory or glob."""
        if self._sha is None:
            if is_sharded(self.path) and self.fmt != "hf":
                from curata.io.shards import list_shards, shard_root

                self._sha = files_sha256(list_shards(self.path, self.fmt)[0], shard_root(self.path))
            else:
                self._sha = file_sha256(self.path)
        return self._sha

    def fingerprint(self) -> str:
        blob = json.dumps({"sha": self.sha256, "fmt": self.fmt, "strict": self.strict, "enc": self.encoding,
                           "split": self.split, "fields": self.fieldmap.model_dump(), "opts": self.reader_options},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def load(self, known_labels=None, progress: bool = True, task: str | None = None):
        fmap = self.fieldmap if task is None or self.fieldmap.task != "auto" else \
            self.fieldmap.model_copy(update={"task": task})
        return load_pool(Path(self.path), fmap, fmt=self.fmt, strict=self.strict, encoding=self.encoding,
                         known_labels=known_labels, split=self.split, progress=progress, **self.reader_options)
