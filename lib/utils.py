"""Utilities that Faceswap plugin files import from ``lib.utils``."""
from __future__ import annotations

import contextlib
import inspect
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keras

from lib.errors import FaceswapError

__all__ = ["AtomicGroup", "FaceswapError", "atomic_replace", "atomic_replace_group",
           "fsync_folder", "get_backend", "get_keras_version", "get_module_objects",
           "temporary_prefix", "write_atomic"]

_BACKENDS = ("apple_silicon", "cpu", "directml", "nvidia", "rocm")


def get_backend() -> str:
    """The hardware backend Faceswap is running on, in lower case.

    One of ``"cpu"``, ``"nvidia"``, ``"rocm"``, ``"apple_silicon"`` or ``"directml"``, as in
    Faceswap. The environment variable ``FACESWAP_BACKEND`` wins when set. Otherwise the devices
    that Keras' active backend sees decide: any GPU gives ``"nvidia"`` (``"rocm"`` for a ROCm
    build of PyTorch), anything else ``"cpu"``.

    Faceswap compat: Faceswap reads the backend from its own ``config/.faceswap`` file written by
    its installer; we have no installer, so we detect it (see docs/differences.md).

    Raises
    ------
    FaceswapError
        If ``FACESWAP_BACKEND`` holds an unknown value.
    """
    forced = os.environ.get("FACESWAP_BACKEND")
    if forced:
        value = forced.strip().lower()
        if value not in _BACKENDS:
            raise FaceswapError(
                f"The environment variable FACESWAP_BACKEND is set to {forced!r}, which is not a "
                f"Faceswap backend. Expected one of {sorted(_BACKENDS)}. Unset it to detect the "
                "backend automatically.")
        return value
    if not any(("gpu" in device or "cuda" in device) for device in _list_devices()):
        return "cpu"
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch.version, "hip", None):
        return "rocm"
    return "nvidia"


def _list_devices() -> list[str]:
    """Lower-case names of the devices Keras' active backend computes on."""
    try:
        return [str(device).lower() for device in keras.distribution.list_devices()]
    except AttributeError:
        # The torch backend has no distribution library; a tensor says where Keras puts data.
        device = getattr(keras.ops.convert_to_tensor(0.0), "device", "cpu")
        return [str(device).lower()]


def get_keras_version() -> tuple[int, int]:
    """The installed Keras version as ``(major, minor)``, e.g. ``(3, 12)``."""
    major, minor = keras.version().split(".")[:2]
    return int(major), int("".join(char for char in minor if char.isdigit()) or 0)


def get_module_objects(module: str) -> list[str]:
    """The public classes and functions defined in a module (not imported into it).

    Faceswap modules end with ``__all__ = get_module_objects(__name__)``.

    Parameters
    ----------
    module
        The module's ``__name__``. The module must already be in ``sys.modules``.

    Returns
    -------
    The names, sorted.
    """
    members = inspect.getmembers(sys.modules[module])
    return sorted(name for name, obj in members
                  if not name.startswith("_")
                  and (inspect.isclass(obj) or inspect.isfunction(obj))
                  and obj.__module__ == module)


def temporary_prefix(path: str | Path) -> str:
    """The name prefix of the temporary files that :func:`atomic_replace` writes beside
    ``path``: ``.<file name>.`` (a leading dot, so they are never taken for the file itself)."""
    return f".{Path(path).name}."


def _temporary_file(path: Path, suffix: str) -> Path:
    """A new empty file beside ``path``, named as temporary files are
    (:func:`temporary_prefix`), with the mode ``path`` has (or a new file would get: mkstemp
    makes it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=suffix,
                                         dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        os.chmod(temp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


@contextlib.contextmanager
def atomic_replace(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Replace a file so that a crash at any moment leaves either the old or the new content.

    Yields a temporary path in the same folder (parent folders are created) for the caller to
    write, in any way. When the block ends without an exception the temporary file is fsynced and
    renamed over ``path``, and the folder is fsynced where the platform allows; on an exception
    it is deleted and ``path`` is untouched. The new file gets the old file's mode, or the usual
    default (0666 less the umask) for a new one.

    Parameters
    ----------
    path
        The file to replace.
    suffix
        Suffix of the temporary file (a writer such as ``keras.Model.save`` may insist on one).
    """
    path = Path(path)
    temp = _temporary_file(path, suffix)
    try:
        yield temp
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


class AtomicGroup:
    """Several files replaced together (see :func:`atomic_replace_group`)."""

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []

    @property
    def temporary_files(self) -> list[Path]:
        """The temporary files handed out so far, in order."""
        return [temp for temp, _ in self._items]

    def temp_for(self, path: str | Path, suffix: str = ".tmp") -> Path:
        """A new temporary file in ``path``'s folder (named as :func:`atomic_replace` names
        them), to be renamed over ``path`` when the group commits."""
        path = Path(path)
        temp = _temporary_file(path, suffix)
        self._items.append((temp, path))
        return temp

    def _commit(self) -> None:
        # Every file reaches the disk before any is renamed: a failed fsync (a full disk or an
        # I/O error surfacing late) leaves every target as it was.
        for temp, _ in self._items:
            with open(temp, "rb") as written:
                os.fsync(written.fileno())
        for temp, path in self._items:
            self._rename(temp, path)
        for folder in dict.fromkeys(path.parent for _, path in self._items):
            fsync_folder(folder)

    @staticmethod
    def _rename(temp: Path, path: Path) -> None:
        os.replace(temp, path)

    def _discard(self) -> None:
        for temp, _ in self._items:
            temp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_replace_group() -> Iterator[AtomicGroup]:
    """Replace several files so that a failure while writing any of them changes none.

    Yields an :class:`AtomicGroup`; ``group.temp_for(path)`` gives a temporary file for the
    caller to write. When the block ends without an exception every temporary file is fsynced,
    then each is renamed over its target in the order they were asked for, and the folders are
    fsynced; on an exception (in the block or in an fsync) every temporary file is deleted and
    no target has changed. A crash during the renames leaves each target old or new, never
    partial.
    """
    group = AtomicGroup()
    try:
        yield group
        group._commit()
    except BaseException:
        group._discard()
        raise


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_replace`."""
    with atomic_replace(path) as temp:
        temp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_folder(folder: str | Path) -> None:
    """Make a rename durable: fsync the folder that holds it (a no-op where the platform does
    not allow it, e.g. Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
