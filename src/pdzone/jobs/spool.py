"""Files a job owns while it waits and runs (an uploaded department file), under `<data dir>/jobs/`.

Each is created owner-only (0600, like the key store's `write_private`) in an owner-only directory, under
a random name, and is removed when its job ends. Workers must share the data directory with the server
that spooled the file (as they share the sealed datasets).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

SPOOL_DIR = "jobs"
_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,10})?$")


def spool_dir(data_dir: Path) -> Path:
    d = data_dir / SPOOL_DIR
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def path_of(data_dir: Path, name: str) -> Path:
    """The path of a spooled file; a name that is not one of ours (a path, `..`) is refused."""
    if not _NAME.match(name):
        raise ValueError(f"not a spooled file name: {name!r}")
    return data_dir / SPOOL_DIR / name


def create(data_dir: Path, suffix: str = "") -> tuple[str, BinaryIO]:
    """A new, empty private file (0600) under a random name, open for writing: its name and the file.

    The caller writes it, then `commit`s it (flush and fsync) or `remove`s it; one it never does either for
    (the process died) is swept at the next start (`sweep`)."""
    suffix = suffix.lower()
    name = secrets.token_hex(16) + suffix
    path = path_of(data_dir, name)  # checks the suffix too
    spool_dir(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return name, os.fdopen(fd, "wb")


def commit(f: BinaryIO) -> None:
    """Make a written spool file durable (before its job is queued) and close it."""
    f.flush()
    os.fsync(f.fileno())
    f.close()


def spool(data_dir: Path, src: BinaryIO, suffix: str = "") -> str:
    """Copy a stream into a new private file (0600, durable before it is queued); returns its name."""
    name, f = create(data_dir, suffix)
    try:
        with f:
            shutil.copyfileobj(src, f, length=1 << 20)
            commit(f)
    except BaseException:
        remove(data_dir, [name])
        raise
    return name


def sweep(data_dir: Path, owned: set[str], *, older_than_s: float, now: float | None = None) -> list[str]:
    """Remove spooled files no waiting or running job owns, last written more than `older_than_s` ago (an
    upload cut off by a crash, a job whose end was never recorded); the names removed.

    The age spares an upload being written right now by another server sharing the data directory."""
    d = data_dir / SPOOL_DIR
    if not d.is_dir():
        return []
    now = time.time() if now is None else now
    gone = []
    for p in d.iterdir():
        if p.name in owned or not _NAME.match(p.name):
            continue
        try:
            if now - p.stat().st_mtime > older_than_s:
                p.unlink()
                gone.append(p.name)
        except FileNotFoundError:
            continue
    return sorted(gone)


def remove(data_dir: Path, names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        try:
            path_of(data_dir, name).unlink(missing_ok=True)
        except ValueError:
            continue
