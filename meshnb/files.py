"""Files meshnb writes for people to keep (snapshots, reports): whole or not at all, and nothing else.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
>>> with atomic_file(target) as out:
...     _ = out.write(b"kept")
>>> target.read_bytes()
b'kept'

What is not a regular file (a directory, a device, a FIFO) is refused before anything is written, as
root too, so ``--html /dev/null`` leaves ``/dev/null`` a device:

>>> with atomic_file(target.parent) as out:
...     _ = out.write(b"lost")
Traceback (most recent call last):
...
meshnb.errors.ConfigError: refusing to write /...: it is a directory, not a regular file
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from meshnb.errors import ConfigError

__all__ = ["NEW_FILE_MODE", "SAVE_DIR", "STALE_TEMP_SECONDS", "atomic_file"]

log = logging.getLogger("meshnb")

#: Where the panels save snapshots and reports unless told otherwise: relative to the notebook's folder,
#: made on first use; the project's .gitignore leaves it out, so running the notebooks changes nothing git
#: tracks.
SAVE_DIR = Path("meshnb-files")

#: Permissions of a file meshnb creates: snapshots and reports hold evidence about a cluster (addresses,
#: server URLs, log lines), so only the owner may read them. A file that exists keeps its own.
NEW_FILE_MODE = 0o600

#: A temporary file left beside a target (its writer was killed) is removed by the next write of that
#: target once it is this old: old enough that no live writer is still filling it.
STALE_TEMP_SECONDS = 15 * 60

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, so that ``path`` never holds half of the new content.

    It is a temporary file beside it, synced and renamed over it when the block ends, removed if the
    block raises (also on KeyboardInterrupt), so ``path`` holds the previous content or the new one,
    never half of it.

    - A symlink is written through: the file it finally points to gets the new content and the link
      stays a link (people link report paths, e.g. ``latest.html`` to today's report).
    - A target that exists and is not a regular file (a device, a FIFO, a socket, a directory) raises
      :class:`~meshnb.errors.ConfigError` before anything is written; it is never opened (opening a
      FIFO would block) nor replaced (a rename by root would replace ``/dev/null`` itself).
    - A new file gets :data:`NEW_FILE_MODE` (owner only); a file that exists keeps its permissions.
    - The rename is made durable by syncing the directory too, where the platform allows it.
    - A writer killed mid-write (SIGKILL) leaves the target as it was and its ``.name.XXXXXXXX.tmp``
      beside it; temporary names are unique, so the next write does not trip on it, and the next write
      of the same target removes such files once they are :data:`STALE_TEMP_SECONDS` old.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    real = Path(os.path.realpath(target))
    mode = _existing_mode(target, real)
    _remove_stale_temps(real)
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(os, "fchmod"):  # POSIX; elsewhere mkstemp's own mode (owner only) stands
                os.fchmod(out.fileno(), NEW_FILE_MODE if mode is None else mode)
            yield out
            out.flush()
            os.fsync(out.fileno())
        _existing_mode(target, real)  # still a regular file (or still absent) after the block
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(real.parent)


def _existing_mode(target: Path, real: Path) -> int | None:
    """The permission bits of the regular file at ``real`` (None if there is none).

    ConfigError if something else is there.
    """
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return None
    if stat.S_ISREG(info.st_mode):
        return stat.S_IMODE(info.st_mode) & 0o777
    kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    via = f" (a link to {real})" if os.path.islink(target) else ""
    raise ConfigError(f"refusing to write {target}{via}: it is {kind}, not a regular file")


def _remove_stale_temps(real: Path) -> None:
    """Remove temporary files of ``real`` that a killed writer left behind, once they are stale.

    Only this target's names (``.name.`` + mkstemp's eight characters + ``.tmp``), regular files owned
    by this user, untouched for :data:`STALE_TEMP_SECONDS`; anything that fails is left where it is.
    """
    pattern = re.compile(rf"\.{re.escape(real.name)}\.[a-z0-9_]{{8}}\.tmp")
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(real.parent))
    except OSError as exc:
        log.debug("not looking for stale temporary files in %s: %s", real.parent, exc)
        return
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and (uid is None or info.st_uid == uid) and info.st_mtime < cutoff:
                os.unlink(entry.path)
                log.debug("removed stale temporary file %s", entry.path)
        except OSError as exc:  # gone already (another writer removed it) or not ours to remove
            log.debug("left temporary file %s: %s", entry.path, exc)


def _sync_directory(directory: Path) -> None:
    """fsync ``directory`` so a rename in it survives a crash, where the platform allows it.

    Some platforms and file systems cannot (Windows opens no directories, some network file systems
    refuse), and then the rename stands as is.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        log.debug("cannot open %s to sync it: %s", directory, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        log.debug("cannot sync directory %s: %s", directory, exc)
    finally:
        os.close(fd)
