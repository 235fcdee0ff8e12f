"""Atomic file writes: write to a temporary file beside the target, then rename over it.

Every file curata writes goes through ``atomic_path`` (directly or via the helpers below), and gets the
permissions any ordinary ``open(path, "w")`` would give it: ``0o666 & ~umask`` (or the directory's default
ACL). ``tempfile.mkstemp`` would create it ``0o600`` whatever the umask, which leaves run outputs unreadable
to the rest of a team; so the temporary file is created here with ``os.open(..., O_CREAT | O_EXCL, 0o666)``
and the kernel applies the process's umask at that moment. Nothing reads or changes the process-wide umask,
so there is no race with other threads.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

#: mode requested for every file curata creates; the umask takes bits away from it
FILE_MODE = 0o666

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


def _create_temp(directory: Path, name: str) -> Path:
    """Create a new, empty, uniquely named file in ``directory`` with mode ``FILE_MODE & ~umask``."""
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, _FLAGS, FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {directory / name}")


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path; on success it replaces ``path`` in one rename, on error it is removed.

    The temporary file already exists (empty) with the final permissions; write into it by opening it
    (``open(tmp, "w")``, ``df.to_parquet(tmp)``) rather than deleting and recreating it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path.parent, path.name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_lines(path, lines: Iterable[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")


def write_parquet(path, df) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_npy(path, array) -> None:
    """``numpy.save`` to exactly ``path`` (no ``.npy`` appended), atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def write_npz(path, **arrays) -> None:
    """``numpy.savez`` of ``arrays`` to exactly ``path`` (no ``.npz`` appended), atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
