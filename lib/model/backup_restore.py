"""Backups, snapshots and restores of a model folder, as Faceswap's ``lib.model.backup_restore``.

A model folder holds the model file, the state file, their backups and the TensorBoard logs
(their names: :class:`lib.model.model_folder.ModelFolder`). :class:`Backup` keeps the backups up
to date, copies the folder to a snapshot folder beside it, and rolls the folder back to its
backups.

Every write is crash-safe: a file is copied to a temporary file in the target folder, flushed,
fsynced and then renamed over its final name; a snapshot is built in a temporary sibling folder
and renamed into place once complete. Temporary names start with a dot, so they are never taken
for model files.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from lib.errors import FaceswapError
from lib.logger import VERBOSE
from lib.model.model_folder import ModelFolder
from lib.model.save_error import format_bytes, save_error, write_error_in
from lib.utils import atomic_replace, fsync_folder

__all__ = ["Backup"]

logger = logging.getLogger(__name__)

_COPY_CHUNK = 16 * 1024 * 1024


_MAX_STATE_BYTES = 64 * 1024 * 1024
"""The largest backed-up state file read (a genuine one is a few kB)."""


def _copy_file_atomic(source: str | Path, destination: str | Path) -> None:
    """Copy ``source`` (content, mode and times) over ``destination`` so that a crash at any
    moment leaves either the old ``destination`` or the complete new one."""
    with atomic_replace(destination) as temp:
        with open(temp, "wb") as temp_file, open(source, "rb") as source_file:
            shutil.copyfileobj(source_file, temp_file, _COPY_CHUNK)
        shutil.copystat(source, temp)


def _copy_tree(source: str | Path, destination: str | Path) -> None:
    """``shutil.copytree`` with links copied as links, where a failed file copy raises its own
    error (copytree gathers them into one ``shutil.Error`` that has lost their ``errno``: a full
    disk would read as an unknown failure)."""
    failures: list[OSError] = []

    def copy(src: str, dst: str, *, follow_symlinks: bool = True) -> str:
        try:
            return shutil.copy2(src, dst, follow_symlinks=follow_symlinks)
        except OSError as err:
            failures.append(err)
            raise

    try:
        shutil.copytree(source, destination, symlinks=True, copy_function=copy)
    except shutil.Error as err:
        if failures:
            raise failures[0] from err
        raise


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder below ``folder`` (and ``folder`` itself)."""
    for root, _, filenames in os.walk(folder):
        for filename in filenames:
            if os.path.islink(os.path.join(root, filename)):
                continue
            with open(os.path.join(root, filename), "rb") as copied:
                os.fsync(copied.fileno())
        fsync_folder(root)


class Backup:
    """Back up, snapshot and restore the files of one model in a model folder.

    Only the model's own items take part (see :meth:`_check_valid`): files whose names start with
    ``model_name`` and the model's logs folder; other files in the folder are left alone.

    Parameters
    ----------
    model_dir
        The model folder, or its :class:`~lib.model.model_folder.ModelFolder` value (then
        ``model_name`` is left out).
    model_name
        The model's name: the prefix of its files (``<model_name>.keras``,
        ``<model_name>_state.json``, ``<model_name>_logs``).

    Raises
    ------
    TypeError
        If ``model_dir`` is not a path or ``model_name`` not a string.
    ValueError
        If ``model_name`` is empty or contains a path separator.

    Examples
    --------
    >>> backup = Backup("/models/original", "original")  # doctest: +SKIP
    >>> backup.backup_model("/models/original/original.keras")  # doctest: +SKIP
    >>> backup.snapshot_models(10000)  # doctest: +SKIP
    """

    def __init__(self, model_dir: str | Path | ModelFolder, model_name: str | None = None
                 ) -> None:
        if isinstance(model_dir, ModelFolder):
            if model_name not in (None, model_dir.name):
                raise ValueError(f"`model_name` ({model_name!r}) differs from the name of the "
                                 f"model folder value ({model_dir.name!r})")
            folder = model_dir
        else:
            folder = ModelFolder(model_dir, model_name)  # type: ignore[arg-type]
        self.folder = folder
        self.model_dir = os.fspath(model_dir.path if isinstance(model_dir, ModelFolder)
                                   else model_dir)
        self.model_name = folder.name
        logger.debug("Initialized Backup (model_dir: '%s', model_name: '%s')",
                     self.model_dir, self.model_name)

    # ------------------------------------------------------------------------------------------
    # Which items take part
    # ------------------------------------------------------------------------------------------
    def _check_valid(self, filename: str, for_restore: bool = False) -> bool:
        """Whether an item of the model folder takes part in a snapshot, archive or restore.

        Parameters
        ----------
        filename
            The item's name inside the model folder (not a full path).
        for_restore
            ``True`` to ask whether the item is a backup to restore from: its name must end with
            ``.bk``. ``False`` to ask whether it is a live model item: a file whose name does not
            end with ``.bk``, or the folder ``<model_name>_logs``.

        Returns
        -------
        ``False`` for every item whose name does not start with ``model_name``.
        """
        if not self.folder.owns(filename):
            return False
        if for_restore:
            return self.folder.is_backup_name(filename)
        full_path = os.path.join(self.model_dir, filename)
        if os.path.isfile(full_path):
            return not self.folder.is_backup_name(filename)
        return os.path.isdir(full_path) and self.folder.is_logs_name(filename)

    # ------------------------------------------------------------------------------------------
    # Backup
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def backup_model(full_path: str | Path) -> None:
        """Copy a model file to its backup, ``full_path + ".bk"``.

        Faceswap 3 calls this after saving, so the backup holds the newly saved file. The copy is
        written to a temporary file beside the backup and renamed over it once complete, so the
        previous backup stays intact until the new one is.

        Faceswap compat: Faceswap deletes the old backup first, and deletes it even when
        ``full_path`` does not exist. Here a missing source leaves the old backup in place and
        logs a warning.

        Parameters
        ----------
        full_path
            The full path of the file to back up.
        """
        source = os.fspath(full_path)
        target = os.fspath(ModelFolder.backup_of(source))
        if not os.path.isfile(source):
            logger.warning("Not backing up '%s': the file does not exist. The previous backup "
                           "(if any) is kept.", source)
            return
        logger.log(VERBOSE, "Backing up: '%s' to '%s'", source, target)
        _copy_file_atomic(source, target)

    # ------------------------------------------------------------------------------------------
    # Snapshot
    # ------------------------------------------------------------------------------------------
    def _snapshot_folder(self, iterations: int) -> str:
        """The snapshot folder for an iteration count: ``<model_dir>_snapshot_<iterations>_iters``,
        a sibling of the model folder."""
        return os.fspath(self.folder.snapshot_dir(iterations))

    def snapshot_models(self, iterations: int) -> None:
        """Copy the model's live items to the snapshot folder for ``iterations``.

        The folder is ``<model_dir>_snapshot_<iterations>_iters``, beside the model folder. Every
        valid item (see :meth:`_check_valid`) is copied: files with their metadata, and the
        ``<model_name>_logs`` folder as a tree; backups (``.bk``) are not. An existing snapshot
        folder of the same name is replaced.

        The snapshot is built in a temporary sibling folder and renamed into place only once
        complete; an existing snapshot is removed only after that. Faceswap removes it first.

        Parameters
        ----------
        iterations
            The iteration count that labels the snapshot. The caller decides it (Faceswap's
            trainer passes ``iterations - 1``, see the spec's quirk Q9).

        Raises
        ------
        TypeError
            If ``iterations`` is not an integer.
        lib.model.save_error.SaveError
            When the disk refuses a write (a full disk, an I/O error): no partial snapshot is
            left and an earlier snapshot of that name is intact; the message says how much space
            the snapshot needs.
        """
        if isinstance(iterations, bool) or not isinstance(iterations, int):
            raise TypeError("`iterations` must be an integer. Received: "
                            f"iterations={iterations!r} of type {type(iterations).__name__}")
        logger.log(VERBOSE, "Saving snapshot")
        snapshot_dir = Path(self._snapshot_folder(iterations))
        parent = snapshot_dir.parent
        building = Path(tempfile.mkdtemp(prefix=ModelFolder.temporary_prefix(snapshot_dir),
                                         suffix=".tmp", dir=parent))
        try:
            for filename in sorted(os.listdir(self.model_dir)):
                if not self._check_valid(filename, for_restore=False):
                    continue
                source = os.path.join(self.model_dir, filename)
                destination = building / filename
                logger.debug("Snapshot: copying '%s' to '%s'", source, destination)
                # Links are copied as links: a snapshot never reaches outside the folder.
                if os.path.isdir(source) and not os.path.islink(source):
                    _copy_tree(source, destination)
                else:
                    shutil.copy2(source, destination, follow_symlinks=False)
            _fsync_tree(building)
            self._move_into_place(building, snapshot_dir)
        except BaseException as err:
            shutil.rmtree(building, ignore_errors=True)
            cause = write_error_in(err) if isinstance(err, Exception) else None
            if cause is None:
                raise
            raise save_error(
                "a snapshot", parent, cause, {"snapshot": self._live_size()},
                target=snapshot_dir,
                kept=f"The model itself was saved; no partial snapshot is left"
                     f"{' and the earlier snapshot is intact' if snapshot_dir.exists() else ''}"
                     ".") from err
        logger.info("Saved snapshot (%s iterations)", iterations)

    def _live_size(self) -> int:
        """The bytes of the model's live items (what a snapshot copies)."""
        total = 0
        for filename in os.listdir(self.model_dir):
            if not self._check_valid(filename, for_restore=False):
                continue
            path = os.path.join(self.model_dir, filename)
            if os.path.isdir(path) and not os.path.islink(path):
                for root, _, files in os.walk(path):
                    total += sum(os.lstat(os.path.join(root, name)).st_size for name in files)
            else:
                total += os.lstat(path).st_size
        return total

    @staticmethod
    def _move_into_place(building: Path, snapshot_dir: Path) -> None:
        """Rename the complete folder ``building`` to ``snapshot_dir``, replacing an old one.

        A folder cannot be renamed over a non-empty one, so an old snapshot is first renamed
        aside, and removed once the new one is in place.
        """
        retired = None
        if snapshot_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=ModelFolder.temporary_prefix(snapshot_dir),
                                            suffix=".old", dir=snapshot_dir.parent))
            retired.rmdir()
            os.replace(snapshot_dir, retired)
        try:
            os.replace(building, snapshot_dir)
        except BaseException:
            if retired is not None:
                os.replace(retired, snapshot_dir)
            raise
        fsync_folder(snapshot_dir.parent)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)

    # ------------------------------------------------------------------------------------------
    # Restore
    # ------------------------------------------------------------------------------------------
    def restore(self) -> None:
        """Roll the model folder back to its backups.

        1. The live items (see :meth:`_check_valid`) move to a new folder
           ``<model_dir>/<model_name>_archived_<YYYYmmdd_HHMMSS>``.
        2. Every ``<item>.bk`` is copied to ``<item>``.
        3. The TensorBoard session folders named in the restored state file's ``sessions``
           (``session_<id>``) are copied back from the archived ``<model_name>_logs`` tree, so
           logs of sessions after the backup stay in the archive only.

        Everything that can stop the restore (no backup at all, an unreadable backed-up state
        file, an archive folder that already exists) is checked before anything changes.

        Faceswap compat: Faceswap archives first and fails part way through in those cases. A
        model with backups but no backed-up state file is restored without logs (with a warning)
        instead of failing after archiving.

        Raises
        ------
        FaceswapError
            If there is nothing to restore, or the backed-up state file cannot be read.
        """
        backups = sorted(filename for filename in os.listdir(self.model_dir)
                         if self._check_valid(filename, for_restore=True)
                         and os.path.isfile(os.path.join(self.model_dir, filename)))
        if not backups:
            raise FaceswapError(
                f"There is nothing to restore for model '{self.model_name}' in "
                f"'{self.model_dir}': no backup files ('{self.folder.backup_pattern}') "
                "were found. Backups are written when the average loss improves; train the "
                "model for longer before restoring, or check the folder and model name.")
        session_names = self._backed_up_session_names()

        archive_dir = self._move_archived()
        try:
            restored = self._restore_files(backups)
            restored_logs = self._restore_logs(archive_dir, session_names)
        except Exception as err:
            cause = write_error_in(err)
            if cause is None:
                raise
            raise self._restore_error(cause, backups, archive_dir) from err
        logger.info("Restored model '%s' from backup: %s%s. The previous files are in '%s'.",
                    self.model_name, ", ".join(f"'{name}'" for name in restored),
                    (f"; logs of {len(restored_logs)} session(s)" if restored_logs else
                     "; no session logs"),
                    archive_dir)

    def _restore_error(self, err: OSError, backups: list[str], archive_dir: str
                       ) -> FaceswapError:
        """The error for a restore whose copies failed (a full disk, an I/O error): the
        backups are untouched and the previous files are in the archive, so restoring again
        once the disk is fixed completes it."""
        needed = sum(os.path.getsize(os.path.join(self.model_dir, name)) for name in backups
                     if os.path.isfile(os.path.join(self.model_dir, name)))
        code = err.errno
        reason = (os.strerror(code) if code is not None else str(err)) or type(err).__name__
        try:
            free = f", {format_bytes(shutil.disk_usage(self.model_dir).free)} free now"
        except OSError:
            free = ""
        return FaceswapError(
            f"Restoring model '{self.model_name}' in '{self.model_dir}' failed while copying the "
            f"backups ({reason}). The restore needs about {format_bytes(needed)}{free}. The "
            f"backups ('{self.folder.backup_pattern}') are unchanged and the previous files are "
            f"in '{archive_dir}'. Free some space (or fix the disk) and run "
            f"`faceswap-original restore -m {self.model_dir}` again.")

    def _backed_up_session_names(self) -> list[str] | None:
        """The ``session_<id>`` folder names listed in the backed-up state file, or ``None`` when
        there is no backed-up state file."""
        # The state file restored in step 2 is a copy of this backup, so reading the backup first
        # gives the same names and lets a corrupt file stop the restore before anything moves.
        state_file = os.fspath(self.folder.backup_of(self.folder.state_file))
        if not os.path.isfile(state_file):
            logger.warning("No backed-up state file '%s': the model files are restored but the "
                           "TensorBoard logs are not.", state_file)
            return None
        try:
            if os.path.getsize(state_file) > _MAX_STATE_BYTES:
                raise ValueError(f"larger than {_MAX_STATE_BYTES} bytes")
            with open(state_file, encoding="utf-8") as handle:
                state = json.load(handle)
            sessions = state["sessions"]
            if not isinstance(sessions, dict) or not all(
                    isinstance(key, str) and key.isdigit() for key in sessions):
                raise TypeError("'sessions' is not a mapping of session numbers")
            names = [self.folder.session_dir_name(key) for key in sessions]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
            raise FaceswapError(
                f"The backed-up state file '{state_file}' cannot be read ({err!r}); expected a "
                "JSON object with a 'sessions' mapping. Nothing was changed. Check the file or "
                "restore the model folder by hand.") from err
        logger.debug("Sessions in the backed-up state file: %s", names)
        return names

    def _move_archived(self) -> str:
        """Move the live items into a new archive folder; return its path."""
        logger.info("Archiving existing model files...")
        now = datetime.now().strftime("%Y%m%d_%H%M%S")
        archive_dir = os.fspath(self.folder.archive_dir(now))
        try:
            os.mkdir(archive_dir)
        except FileExistsError as err:
            raise FaceswapError(
                f"The archive folder '{archive_dir}' already exists. Nothing was changed. Wait "
                "a second and restore again.") from err
        for filename in sorted(os.listdir(self.model_dir)):
            if not self._check_valid(filename, for_restore=False):
                continue
            source = os.path.join(self.model_dir, filename)
            destination = os.path.join(archive_dir, filename)
            logger.log(VERBOSE, "Moving '%s' to archive: '%s'", filename, archive_dir)
            shutil.move(source, destination)
        fsync_folder(archive_dir)
        fsync_folder(self.model_dir)
        return archive_dir

    def _restore_files(self, backups: list[str]) -> list[str]:
        """Copy each backup to its name without ``.bk``; return the restored names."""
        logger.info("Restoring models from backup...")
        restored = []
        for filename in backups:
            final_name = self.folder.backed_up_name(filename)
            logger.log(VERBOSE, "Restoring '%s' to '%s'", filename, final_name)
            _copy_file_atomic(os.path.join(self.model_dir, filename),
                              os.path.join(self.model_dir, final_name))
            restored.append(final_name)
        return restored

    def _restore_logs(self, archive_dir: str, session_names: list[str] | None) -> list[str]:
        """Copy the named session folders from the archived logs back; return their relative
        paths."""
        if not session_names:
            return []
        logger.info("Restoring logs...")
        archived_logs = os.path.join(archive_dir, self.folder.logs_dir.name)
        wanted = set(session_names)
        restored = []
        for root, folders, _ in os.walk(archived_logs):
            matched = sorted(folder for folder in folders if folder in wanted)
            # A restored session folder is copied whole; do not look for sessions inside it.
            folders[:] = [folder for folder in folders if folder not in wanted]
            for folder in matched:
                relative = os.path.relpath(os.path.join(root, folder), archive_dir)
                destination = os.path.join(self.model_dir, relative)
                logger.log(VERBOSE, "Restoring log folder: '%s'", destination)
                shutil.copytree(os.path.join(root, folder), destination)
                restored.append(relative)
        return restored
