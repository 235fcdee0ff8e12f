"""One process at a time per run directory: an advisory ``flock`` on ``RUN/.lock``.

The kernel drops a ``flock`` when its process dies, so a lock left by a killed run is free again; the file
still names the dead holder, which is how a take-over is detected and said. The lock is re-entrant inside one
process (``select`` writes the report while it holds the lock the report writer also takes).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from curata.errors import CurataError

log = logging.getLogger("curata")
LOCK_NAME = ".lock"

_held: dict[str, list] = {}  # resolved path -> [fd, depth]
_guard = threading.Lock()


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(root: str | os.PathLike, what: str = ""):
    """Hold ``root/.lock`` for the block; a second process gets a one-line ``CurataError`` at once."""
    root = Path(root)
    key = str(root.resolve())
    with _guard:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    path = root / LOCK_NAME
    if not root.is_dir():
        raise CurataError(f"{root}: no such run directory — run `curata select` (or `curata run`) first")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise CurataError(f"{root}: cannot create the lock file ({e.strerror}) — is the run directory "
                          "writable?") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise CurataError(f"{root}: cannot lock the run directory ({e.strerror})") from None
        h = _holder(path)
        who = f"pid {h.get('pid', '?')}" + (f", `{h['command']}`" if h.get("command") else "") + \
              (f", since {h['started']}" if h.get("started") else "")
        raise CurataError(f"{root} is in use by another curata process ({who}) — wait for it to finish, "
                          "or use another --out") from None
    old = _holder(path)
    if old.get("pid") and old.get("pid") != os.getpid():
        same_host = old.get("host") == socket.gethostname()
        state = "killed" if same_host and not _alive(int(old["pid"])) else "ended"
        log.info("%s: taking over the lock left by a %s run (pid %s)", root, state, old["pid"])
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv)),
            "what": what}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    with _guard:
        _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            _held.pop(key, None)
        try:
            os.ftruncate(fd, 0)  # an empty file: nobody holds it
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def is_locked_here(root: str | os.PathLike) -> bool:
    """True when this process holds the lock of ``root``."""
    return str(Path(root).resolve()) in _held
