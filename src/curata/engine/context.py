"""What a stage can see besides the pool: the run directory, the seed, the target set, the embedder."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("curata")


@dataclass
class RunContext:
    run_dir: Any = None  # RunDir | None
    seed: int = 0
    progress: bool = True
    target: Any = None  # Pool | None, embedded like the pool
    embedder: Any = None  # EmbedStage | None: embeds other texts (target, test) with the pool's model
    artifacts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # shown in the summary and the report

    @property
    def cache_dir(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir.cache_dir

    def save_artifact(self, name: str, value: Any) -> None:
        """Keep an artifact in memory and, with a run directory, under ``artifacts/``."""
        self.artifacts[name] = value
        if self.run_dir is not None:
            self.run_dir.save_artifact(name, value)
