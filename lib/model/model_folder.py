"""The names of a model folder's files, in one place: :class:`ModelFolder`.

A model folder holds one model plugin's files, all named from the plugin's name:

================================  ===========================================================
``<name>.keras``                  the model (Keras 3 archive)
``<name>_state.json``             the state (sessions, iterations, stored configuration)
``<file>.bk``                     the backup of a model file (``<name>.keras.bk``,
                                  ``<name>_state.json.bk``)
``<name>_logs/session_<id>/``     the TensorBoard logs of one training session
``<name>_preview.png``            the preview image written at every save
``<name>_archived_<stamp>/``      the live files set aside by ``restore``
``learning_rate_finder_<stamp>``  the learning-rate finder's graph (``.png``)
``<name>.h5``                     a Faceswap 2 model, upgraded on first load
``.<file>.*``                     temporary files of an atomic save (``lib.utils``)
================================  ===========================================================

and, beside the folder, ``<folder>_snapshot_<iterations>_iters`` (snapshots) and
``<folder>_fs2_backup`` (a Faceswap 2 folder kept after its upgrade).

These are Faceswap 3's names; every part of the program (the model's IO, its state, backups,
snapshots, restore, the trainer's logs and preview, the Faceswap 2 upgrade) asks this value for
them instead of building them.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lib.utils import temporary_prefix

__all__ = ["BACKUP_EXTENSION", "FS2_BACKUP_SUFFIX", "LEGACY_EXTENSION", "MODEL_EXTENSION",
           "ModelFolder"]

MODEL_EXTENSION = ".keras"
LEGACY_EXTENSION = ".h5"
BACKUP_EXTENSION = ".bk"
_STATE_SUFFIX = "_state.json"
_LOGS_SUFFIX = "_logs"
_PREVIEW_SUFFIX = "_preview.png"
_ARCHIVE_INFIX = "_archived_"
_SESSION_PREFIX = "session_"
FS2_BACKUP_SUFFIX = "_fs2_backup"


@dataclass(frozen=True)
class ModelFolder:
    """A model folder and the name of the model in it; owns every file name of the folder.

    Parameters
    ----------
    path
        The model folder (it need not exist yet).
    name
        The model's (plugin's) name, the prefix of its files: ``"original"`` gives
        ``original.keras``, ``original_state.json``, ``original_logs`` ...

    Raises
    ------
    TypeError
        If ``path`` is not a path or ``name`` not a string.
    ValueError
        If ``name`` is empty, contains a path separator or starts with a dot (temporary files
        start with one).

    Examples
    --------
    >>> folder = ModelFolder("/models/original", "original")
    >>> folder.model_file.name, folder.state_file.name, folder.backup_of(folder.state_file).name
    ('original.keras', 'original_state.json', 'original_state.json.bk')
    >>> str(folder.snapshot_dir(1000))
    '/models/original_snapshot_1000_iters'
    """

    path: Path
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise TypeError("`model_dir` must be a path (str or os.PathLike). Received: "
                            f"model_dir={self.path!r} of type {type(self.path).__name__}")
        if not isinstance(self.name, str):
            raise TypeError("`model_name` must be a string. Received: "
                            f"model_name={self.name!r} of type {type(self.name).__name__}")
        if (not self.name or "/" in self.name or os.sep in self.name
                or self.name.startswith(".")):
            raise ValueError("`model_name` must be a non-empty file name prefix without path "
                             f"separators or a leading dot. Received: model_name={self.name!r}")
        object.__setattr__(self, "path", Path(self.path))

    # --- the model's files ---------------------------------------------------------------------
    @property
    def model_file(self) -> Path:
        """``<folder>/<name>.keras``."""
        return self.path / f"{self.name}{MODEL_EXTENSION}"

    @property
    def legacy_model_file(self) -> Path:
        """``<folder>/<name>.h5``: a Faceswap 2 model."""
        return self.path / f"{self.name}{LEGACY_EXTENSION}"

    @property
    def state_file(self) -> Path:
        """``<folder>/<name>_state.json``."""
        return self.path / f"{self.name}{_STATE_SUFFIX}"

    @property
    def preview_file(self) -> Path:
        """``<folder>/<name>_preview.png``."""
        return self.path / f"{self.name}{_PREVIEW_SUFFIX}"

    @property
    def logs_dir(self) -> Path:
        """``<folder>/<name>_logs``: the TensorBoard logs of every session."""
        return self.path / f"{self.name}{_LOGS_SUFFIX}"

    @staticmethod
    def session_dir_name(session_id: int | str) -> str:
        """``session_<id>``: the name of one session's log folder."""
        return f"{_SESSION_PREFIX}{session_id}"

    def session_logs_dir(self, session_id: int | str) -> Path:
        """``<folder>/<name>_logs/session_<id>``."""
        return self.logs_dir / self.session_dir_name(session_id)

    def lr_finder_graph(self, stamp: str) -> Path:
        """``<folder>/learning_rate_finder_<stamp>.png``: the learning-rate finder's graph."""
        return self.path / f"learning_rate_finder_{stamp}.png"

    def archive_dir(self, stamp: str) -> Path:
        """``<folder>/<name>_archived_<stamp>``: where ``restore`` sets the live files aside."""
        return self.path / f"{self.name}{_ARCHIVE_INFIX}{stamp}"

    # --- backups -------------------------------------------------------------------------------
    @staticmethod
    def backup_of(path: str | os.PathLike[str]) -> Path:
        """``<path>.bk``: the backup of a file of the folder."""
        return Path(f"{os.fspath(path)}{BACKUP_EXTENSION}")

    @staticmethod
    def is_backup_name(filename: str) -> bool:
        """Whether a file name is a backup's (ends with ``.bk``)."""
        return filename.endswith(BACKUP_EXTENSION)

    @staticmethod
    def backed_up_name(filename: str) -> str:
        """The name a backup restores to: ``<file>.bk`` -> ``<file>``."""
        if not filename.endswith(BACKUP_EXTENSION):
            raise ValueError(f"'{filename}' is not a backup (no '{BACKUP_EXTENSION}' suffix)")
        return filename[:-len(BACKUP_EXTENSION)]

    @property
    def backup_pattern(self) -> str:
        """``<name>*.bk``: the backups of the model, as a glob pattern (for messages)."""
        return f"{self.name}*{BACKUP_EXTENSION}"

    def backup_files(self) -> list[Path]:
        """The files of the model whose backups Faceswap 3 keeps: model and state."""
        return [self.model_file, self.state_file]

    def owns(self, filename: str) -> bool:
        """Whether an item of the folder belongs to this model (its name starts with the
        model's name; Faceswap 3's rule for snapshots, archives and restores)."""
        return filename.startswith(self.name)

    def is_logs_name(self, filename: str) -> bool:
        """Whether ``filename`` is the model's logs folder name (``<name>_logs``)."""
        return filename == self.logs_dir.name

    # --- beside the folder ---------------------------------------------------------------------
    def _sibling(self, suffix: str) -> Path:
        # Faceswap compat: Faceswap builds sibling names by concatenating strings; trailing path
        # separators are stripped first so `models/x/` still gives a sibling folder.
        text = os.fspath(self.path)
        return Path((text.rstrip("/" + os.sep) or text) + suffix)

    def snapshot_dir(self, iterations: int) -> Path:
        """``<folder>_snapshot_<iterations>_iters``, beside the model folder."""
        return self._sibling(f"_snapshot_{iterations}_iters")

    @property
    def legacy_backup_dir(self) -> Path:
        """``<folder>_fs2_backup``: where a Faceswap 2 folder is kept after its upgrade."""
        return self._sibling(FS2_BACKUP_SUFFIX)

    # --- temporary files -----------------------------------------------------------------------
    @staticmethod
    def temporary_prefix(path: str | os.PathLike[str]) -> str:
        """The name prefix of a file's temporary copies while it is saved atomically
        (``.<file name>.``, :func:`lib.utils.temporary_prefix`)."""
        return temporary_prefix(path)

    def temporary_prefixes(self) -> tuple[str, ...]:
        """The prefixes of every temporary file a save of this model writes in the folder
        (model, state, their backups, preview), which an interrupted save may leave behind."""
        files = [*self.backup_files(), *(self.backup_of(path) for path in self.backup_files()),
                 self.preview_file]
        return tuple(self.temporary_prefix(path) for path in files)

    def is_temporary_name(self, filename: str) -> bool:
        """Whether ``filename`` is a temporary file of one of this model's saves."""
        return filename.startswith(self.temporary_prefixes())

    # --- finding models ------------------------------------------------------------------------
    @staticmethod
    def names_in(folder: str | os.PathLike[str], backups: bool = False) -> list[str]:
        """The model names whose state file (with ``backups``, whose backed-up state file) is in
        ``folder``, sorted."""
        suffix = _STATE_SUFFIX + (BACKUP_EXTENSION if backups else "")
        folder = Path(folder)
        return sorted(path.name[:-len(suffix)] for path in folder.iterdir()
                      if path.name.endswith(suffix) and len(path.name) > len(suffix)
                      and path.is_file())

    @staticmethod
    def state_file_pattern(backups: bool = False) -> str:
        """``*_state.json`` (or ``*_state.json.bk``), for messages."""
        return f"*{_STATE_SUFFIX}{BACKUP_EXTENSION if backups else ''}"

    @staticmethod
    def model_stems(paths: Iterable[Path]) -> set[str]:
        """The model names of the ``.keras`` and Faceswap 2 ``.h5`` files among ``paths``
        (temporary files, whose names start with a dot, are left out)."""
        return {path.stem for path in paths
                if path.suffix in (MODEL_EXTENSION, LEGACY_EXTENSION)
                and not path.name.startswith(".") and path.is_file()}
