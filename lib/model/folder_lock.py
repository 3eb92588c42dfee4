"""Locks that keep two processes from writing one model folder at once.

Faceswap has no such lock: two ``train`` runs on one folder overwrite each other's saves, and a
``restore`` or ``convert`` during a save reads half-written files. Here (a deliberate difference,
see ``docs/differences.md``):

* ``train`` holds the folder's *train lock* for its whole run, and ``restore`` holds it while it
  copies the backups back; a second ``train`` or ``restore`` is refused with a message naming the
  process that holds it (its pid, host, command and start time).
* every save holds the folder's *save lock* exclusively; ``convert`` and ``export`` hold it shared
  while they read the model files, so they are refused while a save is being written (and a save
  waits, up to a minute, for a load that is reading).

The locks are operating-system locks (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows)
on small files in the model folder, so the system frees them when their process dies, however it
dies: a lock file left by a killed process is *stale*, is detected as such (its lock is free) and
is taken over with a warning naming the dead process. The owner's details are written into the
lock file for the message; the file is removed on release. Windows has no shared locks, so there
a reader holds the save lock exclusively for the moment it reads.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib.errors import FaceswapError

__all__ = ["FolderLock", "SAVE_LOCK", "TRAIN_LOCK", "LOCK_FILES", "save_lock", "train_lock",
           "read_lock"]

logger = logging.getLogger(__name__)

TRAIN_LOCK = ".faceswap_original_train.lock"
"""The file name, in the model folder, of the lock a training (or restore) process holds."""
SAVE_LOCK = ".faceswap_original_save.lock"
"""The file name, in the model folder, of the lock a save holds (and a model load shares)."""
LOCK_FILES = (TRAIN_LOCK, SAVE_LOCK)
"""The lock files, which backups and snapshots never copy."""

_MAX_OWNER_BYTES = 4096
# Windows: the locked byte lies far past the owner text, so other processes can still read it.
_WINDOWS_LOCK_OFFSET = 1 << 20

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int, shared: bool) -> bool:
        del shared  # no shared locks on Windows
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int, shared: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _owner() -> dict[str, Any]:
    """This process, as the lock file records it."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join(sys.argv)[:512] or sys.executable,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def read_lock(path: str | Path) -> dict[str, Any] | None:
    """The owner recorded in the lock file ``path``, or ``None`` when the file is missing, empty
    or not an owner record (a lock file is never trusted beyond a short JSON object)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_OWNER_BYTES + 1)
    except OSError:
        return None
    if not raw or len(raw) > _MAX_OWNER_BYTES:
        return None
    try:
        owner = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(owner, dict):
        return None
    return {key: owner[key] for key in ("pid", "host", "command", "started")
            if isinstance(owner.get(key), int | str)}


def describe(owner: dict[str, Any] | None) -> str:
    """``owner`` in words, for messages."""
    if not owner:
        return "another process"
    text = f"process {owner.get('pid', '?')} on '{owner.get('host', '?')}'"
    if owner.get("command"):
        text += f" ({owner['command']})"
    if owner.get("started"):
        text += f", started {owner['started']}"
    return text


class FolderLock:
    """One lock file in a model folder, held without waiting or refused.

    Parameters
    ----------
    folder
        The model folder (made when missing, for an exclusive lock).
    filename
        :data:`TRAIN_LOCK` or :data:`SAVE_LOCK`.
    shared
        Hold it shared (readers) instead of exclusively.
    purpose
        What the lock is for, in words, for the refusal message ("train", "save", ...).
    """

    def __init__(self, folder: str | Path, filename: str, shared: bool = False,
                 purpose: str = "use") -> None:
        self.path = Path(folder) / filename
        self.shared = shared
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _open_locked(self) -> int | None:
        """A descriptor of the lock file with the lock held, or ``None`` when another process
        holds it. Retries when the file was removed (released) between open and lock."""
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd, self.shared):
                os.close(fd)
                return None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same or sys.platform == "win32":
                return fd
            _unlock(fd)  # the holder removed the file as we opened it: open the new one
            os.close(fd)
        raise FaceswapError(f"Could not take the lock file '{self.path}': it keeps being replaced."
                            " Check that no other program is writing the model folder.")

    def acquire(self, other: str = "", wait: float = 0.0) -> None:
        """Take the lock now (or within ``wait`` seconds).

        Parameters
        ----------
        other
            What the refusal should say the other process is doing (default: holding the lock
            for its purpose).
        wait
            Seconds to keep trying while another process holds it.

        Raises
        ------
        lib.errors.FaceswapError
            When another process holds it (the message names that process), or the folder
            cannot hold a lock file.
        """
        if self.held:
            return
        if not self.shared:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.parent.is_dir():
            return  # nothing to protect a read of
        deadline = time.monotonic() + wait
        try:
            fd = self._open_locked()
            while fd is None and time.monotonic() < deadline:
                time.sleep(0.05)
                fd = self._open_locked()
        except OSError as err:
            raise FaceswapError(f"Could not create the lock file '{self.path}' ({err.strerror})."
                                " Check that the model folder is writable.") from err
        if fd is None:
            if self.path.name != SAVE_LOCK:
                holder = read_lock(self.path)
            elif self.shared:  # a save is being written: by the process training the folder
                holder = read_lock(self.path.parent / TRAIN_LOCK)
            else:  # readers hold it shared and record nothing
                holder = None
            raise FaceswapError(
                f"The model folder '{self.path.parent}' is in use by {describe(holder)}"
                f"{other or f' (it holds the {self.purpose} lock)'}. Wait for it to finish or "
                f"stop it, then try again. If no such process runs, remove '{self.path}'.")
        self._fd = fd
        if not self.shared:
            stale = read_lock(self.path)
            if stale and stale.get("pid") != os.getpid():
                logger.warning("Took over a stale %s lock in '%s' left by %s, which no longer "
                               "holds it (it was stopped or killed).", self.purpose,
                               self.path.parent, describe(stale))
            payload = json.dumps(_owner()).encode("utf-8")[:_MAX_OWNER_BYTES]
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0) if hasattr(os, "pwrite") else os.write(fd, payload)

    def release(self) -> None:
        """Let the lock go, and remove its file unless other readers still hold it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # the last reader out (it can take the lock exclusively) removes the file too
            last = not self.shared or sys.platform == "win32" or _try_lock(fd, shared=False)
            if last:
                with contextlib.suppress(OSError):
                    self.path.unlink()  # still held: a waiting opener sees a new inode
            if not self.shared:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.release()


def train_lock(folder: str | Path, purpose: str = "train") -> FolderLock:
    """The lock ``train`` holds for its whole run (and ``restore`` while it restores)."""
    return FolderLock(folder, TRAIN_LOCK, purpose=purpose)


SAVE_WAIT = 60.0
"""Seconds a save waits for the model loads that are reading the folder."""


@contextlib.contextmanager
def save_lock(folder: str | Path, shared: bool = False) -> Iterator[FolderLock]:
    """Hold the folder's save lock: exclusively while saving (waiting up to :data:`SAVE_WAIT`
    for readers), ``shared`` while reading the model files (refused at once while a save is
    being written)."""
    lock = FolderLock(folder, SAVE_LOCK, shared=shared, purpose="save")
    lock.acquire(" (it is writing a save of the model)" if shared else
                 " (it is reading the model files)", wait=0.0 if shared else SAVE_WAIT)
    try:
        yield lock
    finally:
        lock.release()
