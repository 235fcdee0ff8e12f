"""What curata prints: its own progress bars and notes, not the model libraries' chatter.

``quiet_libraries`` (called by the command line) routes Python warnings to the ``py.warnings`` logger at
debug level, silences the load reports of transformers, sentence-transformers and faiss, and turns progress
bars off when stderr is not a terminal (log files get no carriage-return spinners) or with ``--quiet``.
Set ``CURATA_DEBUG=1`` to see everything. ``tqdm`` here is the bar every module uses, so that one switch
governs them all.
"""

from __future__ import annotations

import logging
import os
import warnings

from tqdm.auto import tqdm as _tqdm

_bars = True


class tqdm(_tqdm):  # noqa: N801 - a drop-in for tqdm.auto.tqdm
    """``tqdm.auto.tqdm`` that stays off when the command line has switched bars off."""

    def __init__(self, *args, **kwargs):
        if not _bars:
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def set_progress_bars(on: bool) -> None:
    global _bars
    _bars = bool(on)


class _ToDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def quiet_libraries(progress: bool) -> None:
    """Console hygiene for the command line; ``progress`` = show progress bars."""
    debug = os.environ.get("CURATA_DEBUG") not in (None, "", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_progress_bars(progress)
    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if not progress:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
    logging.captureWarnings(True)
    warnings.simplefilter("default")  # each distinct warning once, to the py.warnings logger, at debug level
    logging.getLogger("py.warnings").addFilter(_ToDebug())
    for name in ("faiss", "faiss.loader", "sentence_transformers", "transformers", "peft", "datasets",
                 "model2vec", "httpx", "urllib3", "filelock", "torch"):
        logging.getLogger(name).setLevel(logging.WARNING)
