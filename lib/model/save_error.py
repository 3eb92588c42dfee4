"""A save of a model folder that failed on the disk: :class:`SaveError`, built by
:func:`save_error`.

A full disk (``ENOSPC``), a quota (``EDQUOT``), a file size limit (``EFBIG``) or a failing disk
(``EIO``) while the model, its state, their backups or a snapshot are written stops training with
one message that says what failed, how much space the save needs and where; the files of the
previous save are unchanged (every save writes temporary files and renames them only once all
are complete).
"""
from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from lib.errors import FaceswapError

__all__ = ["SaveError", "format_bytes", "save_error", "write_error_in"]

_ADVICE = {
    errno.ENOSPC: "the disk is full: free at least that much space there (or move the model "
                  "folder to a larger disk)",
    errno.EDQUOT: "the disk quota is used up: free at least that much space there, or ask for "
                  "a larger quota",
    errno.EFBIG: "a file is larger than the file system or a process limit allows (ulimit -f): "
                 "raise the limit or use another disk",
    errno.EIO: "the disk reported an I/O error: it may be failing, full in a way it does not "
               "report, or disconnected (a network or USB drive); check it (and its free space) "
               "before training on",
    errno.EROFS: "the file system is read-only: remount it writable or use another folder",
}


_KEPT = ("Nothing of the previous save was changed: its model, state and backups are intact, "
         "and training resumes from it.")


class SaveError(FaceswapError, OSError):
    """Writing the files of a save failed on the disk; the previous save is unchanged.

    A :class:`~lib.errors.FaceswapError` (the command line prints it and exits 1) and an
    ``OSError`` (what the failed write raised, for Python callers).

    Attributes
    ----------
    errno
        The operating system's error number (``errno.ENOSPC``, ``errno.EIO`` ...), or ``None``.
    needed
        The bytes the save writes, as estimated.
    """

    def __init__(self, message: str, errno_: int | None = None, needed: int = 0) -> None:
        super().__init__(message)
        self.errno = errno_
        self.needed = needed


def format_bytes(count: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - unreachable


def write_error_in(err: BaseException) -> OSError | None:
    """The operating-system error behind ``err`` (``err`` itself, or one in its chain of causes,
    as libraries such as h5py wrap the error of a failed write), or ``None``."""
    seen = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return err if isinstance(err, OSError) else None


def save_error(what: str, folder: str | os.PathLike[str], err: OSError,
               sizes: Mapping[str, int], target: str | os.PathLike[str] | None = None,
               kept: str = _KEPT, stopped: str = "Training stopped.") -> SaveError:
    """The :class:`SaveError` for a failed write.

    Parameters
    ----------
    what
        What was being saved (``"the model"``, ``"a snapshot"`` ...).
    folder
        The folder being written.
    err
        The operating system's error.
    sizes
        The bytes of each file (or group of files) the save writes, by name.
    target
        The file whose write failed (by default the error's own file name, if any).
    kept
        What is intact (by default: the previous model, state and backups).
    stopped
        What the failure stopped.
    """
    needed = int(sum(sizes.values()))
    parts = ", ".join(f"{name} {format_bytes(size)}" for name, size in sizes.items())
    try:
        free = f"; {format_bytes(shutil.disk_usage(folder).free)} free now"
    except OSError:
        free = ""
    code = err.errno
    reason = (os.strerror(code) if code is not None else str(err)) or type(err).__name__
    target = target if target is not None else getattr(err, "filename", None)
    target = f" '{Path(target).name}'" if target else ""
    advice = _ADVICE.get(code, "check the disk and the folder's permissions")
    message = (f"Saving {what} failed: writing{target} in '{Path(folder)}' failed ({reason}"
               f"{f', errno {errno.errorcode.get(code, code)}' if code is not None else ''}). "
               f"The save needs about {format_bytes(needed)} in '{Path(folder)}' ({parts}"
               f"{free}); {advice}. {stopped} {kept}")
    return SaveError(message, code, needed)
