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


def spool(data_dir: Path, src: BinaryIO, suffix: str = "") -> str:
    """Copy a stream into a new private file (0600, durable before it is queued); returns its name."""
    suffix = suffix.lower()
    name = secrets.token_hex(16) + suffix
    path = path_of(data_dir, name)  # checks the suffix too
    spool_dir(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(src, f, length=1 << 20)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name


def remove(data_dir: Path, names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        try:
            path_of(data_dir, name).unlink(missing_ok=True)
        except ValueError:
            continue
