"""curata: pick the training subset that gives the best model, explain every choice, prove the gain.

    import curata
    from curata.scorers.proxy import ProxyModelScorer
    from curata.cluster.kmeans import KMeansClusterer
    from curata.selectors.cluster_balanced import ClusterBalancedSelector

    result = curata.Pipeline([
        ProxyModelScorer(), KMeansClusterer(),
        curata.Select(ClusterBalancedSelector(by="proxy_prob"), budget=0.1,
                      exclude=[curata.ExcludeRule("proxy_suspect", "likely mislabelled")]),
    ], run_dir="runs/demo").run("pool.jsonl")

Heavy modules load on first use, so ``import curata`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Pipeline": "curata.engine.pipeline",
    "RunResult": "curata.engine.pipeline",
    "Read": "curata.engine.read",
    "Select": "curata.engine.select",
    "ExcludeRule": "curata.engine.select",
    "Budget": "curata.engine.budget",
    "Pool": "curata.pool",
    "load_config": "curata.config",
    "build_pipeline": "curata.config",
    "register": "curata.engine.registry",
    "load_pool": "curata.io.fields",
    "FieldMap": "curata.io.fields",
    "CurataError": "curata.errors",
    "InputError": "curata.errors",
    "ConfigError": "curata.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'curata' has no attribute {name!r}")
