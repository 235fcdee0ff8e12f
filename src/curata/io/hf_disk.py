"""Hugging Face ``datasets`` saved with ``save_to_disk``; line = 1-based row number within the split."""

from __future__ import annotations

import json
from collections.abc import Iterator

from curata._deps import require
from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.io.parquet import _jsonable
from curata.pool import Rejection


class HFDiskReader(Reader):
    format = "hf"

    def __init__(self, path, batch_size: int = 4096, split: str | None = None):
        super().__init__(path, batch_size)
        require("HFDiskReader", "datasets", extra="hf")
        self.split = split

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        from datasets import DatasetDict, load_from_disk

        try:
            ds = load_from_disk(str(self.path))
        except Exception as e:  # datasets raises many types for a damaged (or empty) saved dataset
            raise InputError(str(self.path), f"cannot load the dataset ({type(e).__name__}: {e})",
                             "check that the directory was written by save_to_disk and holds at least one "
                             "row") from e
        name = str(self.path)
        if isinstance(ds, DatasetDict):
            split = self.split or ("train" if "train" in ds else None)
            if split is None or split not in ds:
                raise InputError(name, f"dataset has splits {list(ds)}; choose one",
                                 "pass --split NAME (or `split:` in the input config)")
            ds, name = ds[split], f"{name}[{split}]"
        names = class_label_names(ds)
        row = 0
        for batch in ds.iter(batch_size=self.batch_size):
            keys = list(batch)
            for i in range(len(batch[keys[0]]) if keys else 0):
                rec = {k: batch[k][i] for k in keys}
                row += 1
                raw = json.dumps(rec, ensure_ascii=False, default=_jsonable)  # verbatim: the stored integers
                for k, labels in names.items():  # ClassLabel integers → their names; -1 (no label) → missing
                    v = rec.get(k)
                    if isinstance(v, int) and not isinstance(v, bool):
                        rec[k] = labels[v] if 0 <= v < len(labels) else None
                yield RawRecord(name, row, rec, raw)


def class_label_names(ds) -> dict[str, list[str]]:
    """{column: class names} for the dataset's top-level ``ClassLabel`` columns."""
    from datasets import ClassLabel

    return {k: list(f.names) for k, f in ds.features.items() if isinstance(f, ClassLabel)}
