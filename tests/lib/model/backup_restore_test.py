"""Tests for lib.model.backup_restore.Backup."""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import stat
from datetime import datetime
from pathlib import Path

import pytest

from lib.errors import FaceswapError
from lib.model import backup_restore
from lib.model.backup_restore import Backup

NAME = "original"


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every item below ``folder``: relative path -> file content (``None`` for folders)."""
    items: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        items[relative] = None if path.is_dir() else path.read_bytes()
    return items


def _state(*sessions: int) -> str:
    return json.dumps({"name": NAME, "iterations": 100,
                       "sessions": {str(session): {"batchsize": 4} for session in sessions}})


def _make_model_folder(root: Path) -> Path:
    """A model folder after three sessions, with backups taken during session 1.

    Live files are from session 3, the backups from session 1, and the logs hold sessions 1-3;
    one other model's files and a stray file share the folder.
    """
    model_dir = root / NAME
    files = {
        f"{NAME}.keras": b"model after session 3",
        f"{NAME}_state.json": _state(1, 2, 3).encode(),
        f"{NAME}.keras.bk": b"model after session 1",
        f"{NAME}_state.json.bk": _state(1).encode(),
        f"{NAME}_logs/session_1/events.out.1": b"log 1",
        f"{NAME}_logs/session_2/events.out.2": b"log 2",
        f"{NAME}_logs/session_3/events.out.3": b"log 3",
        "villain.keras": b"another model",
        "villain.keras.bk": b"another model backup",
        "notes.txt": b"the user's notes",
        f"{NAME}_scratch/file": b"a folder that is not the logs folder",
    }
    for relative, content in files.items():
        path = model_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return model_dir


def _temporary_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*")
                  if path.name.startswith(".") or path.name.endswith((".tmp", ".old")))


# ---------------------------------------------------------------------------------------------
# Construction and _check_valid
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model_dir", "model_name", "error", "match"), [
    (3, NAME, TypeError, "`model_dir` must be a path"),
    ("folder", None, TypeError, "`model_name` must be a string"),
    ("folder", "", ValueError, "non-empty file name prefix"),
    ("folder", "sub/original", ValueError, "without path separators"),
])
def test_constructor_errors(model_dir, model_name, error, match):
    with pytest.raises(error, match=match):
        Backup(model_dir, model_name)


@pytest.mark.smoke
def test_check_valid_rules(tmp_path):
    model_dir = _make_model_folder(tmp_path)
    (model_dir / f"{NAME}_logs.bk").mkdir()  # a folder with a backup-like name
    backup = Backup(model_dir, NAME)
    live = {name for name in os.listdir(model_dir) if backup._check_valid(name)}
    to_restore = {name for name in os.listdir(model_dir)
                  if backup._check_valid(name, for_restore=True)}
    assert live == {f"{NAME}.keras", f"{NAME}_state.json", f"{NAME}_logs"}
    assert to_restore == {f"{NAME}.keras.bk", f"{NAME}_state.json.bk", f"{NAME}_logs.bk"}


@pytest.mark.parametrize(("filename", "for_restore", "expected"), [
    (f"{NAME}.keras", False, True),
    (f"{NAME}.keras", True, False),
    (f"{NAME}.keras.bk", False, False),
    (f"{NAME}.keras.bk", True, True),
    (f"{NAME}_logs", False, True),
    (f"{NAME}_logs", True, False),
    (f"{NAME}_scratch", False, False),  # a folder, but not the logs folder
    ("villain.keras", False, False),
    ("villain.keras.bk", True, False),
    (f"{NAME}_missing.keras", False, False),  # not in the folder
    (f"{NAME}_missing.keras.bk", True, True),  # restore rule looks at the name only
])
def test_check_valid_each_item(tmp_path, filename, for_restore, expected):
    backup = Backup(_make_model_folder(tmp_path), NAME)
    assert backup._check_valid(filename, for_restore=for_restore) is expected


# ---------------------------------------------------------------------------------------------
# backup_model
# ---------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_backup_model_creates_then_overwrites_the_backup(tmp_path):
    source = tmp_path / "model.keras"
    source.write_bytes(b"first")
    source.chmod(0o640)
    Backup.backup_model(str(source))
    target = tmp_path / "model.keras.bk"
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # not the temporary file's 0o600

    source.write_bytes(b"second, longer content")
    Backup.backup_model(source)  # a Path works too
    assert target.read_bytes() == b"second, longer content"
    assert source.read_bytes() == b"second, longer content"  # copied, not moved
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras", "model.keras.bk"]


def test_backup_model_copies_large_files_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(backup_restore, "_COPY_CHUNK", 7)
    payload = bytes(range(256)) * 5
    source = tmp_path / "model.keras"
    source.write_bytes(payload)
    Backup.backup_model(source)
    assert (tmp_path / "model.keras.bk").read_bytes() == payload


def test_backup_model_failure_keeps_the_old_backup(tmp_path, monkeypatch):
    source = tmp_path / "model.keras"
    source.write_bytes(b"new")
    (tmp_path / "model.keras.bk").write_bytes(b"old")

    def broken_copy(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfileobj", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        Backup.backup_model(source)
    assert (tmp_path / "model.keras.bk").read_bytes() == b"old"
    assert _temporary_names(tmp_path) == []


def test_backup_model_without_source_keeps_the_old_backup(tmp_path, caplog):
    (tmp_path / "model.keras.bk").write_bytes(b"old")
    with caplog.at_level(logging.WARNING, logger=backup_restore.__name__):
        Backup.backup_model(tmp_path / "model.keras")
    assert (tmp_path / "model.keras.bk").read_bytes() == b"old"
    assert "does not exist" in caplog.text


# ---------------------------------------------------------------------------------------------
# snapshot_models
# ---------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_snapshot_copies_live_items_to_a_sibling_folder(tmp_path, caplog):
    model_dir = _make_model_folder(tmp_path)
    before = _tree(model_dir)
    with caplog.at_level(logging.INFO, logger=backup_restore.__name__):
        Backup(str(model_dir), NAME).snapshot_models(1000)
    snapshot = tmp_path / f"{NAME}_snapshot_1000_iters"
    assert sorted(path.name for path in tmp_path.iterdir()) == [NAME, snapshot.name]
    assert _tree(snapshot) == {
        f"{NAME}.keras": b"model after session 3",
        f"{NAME}_state.json": _state(1, 2, 3).encode(),
        f"{NAME}_logs": None,
        f"{NAME}_logs/session_1": None,
        f"{NAME}_logs/session_1/events.out.1": b"log 1",
        f"{NAME}_logs/session_2": None,
        f"{NAME}_logs/session_2/events.out.2": b"log 2",
        f"{NAME}_logs/session_3": None,
        f"{NAME}_logs/session_3/events.out.3": b"log 3",
    }
    assert _tree(model_dir) == before  # the model folder is untouched
    assert "Saved snapshot (1000 iterations)" in caplog.messages


def test_snapshot_keeps_file_times(tmp_path):
    model_dir = _make_model_folder(tmp_path)
    os.utime(model_dir / f"{NAME}.keras", (1_000_000_000, 1_000_000_000))
    Backup(model_dir, NAME).snapshot_models(5)
    copied = tmp_path / f"{NAME}_snapshot_5_iters" / f"{NAME}.keras"
    assert copied.stat().st_mtime == 1_000_000_000


def test_snapshot_again_replaces_the_old_one(tmp_path):
    model_dir = _make_model_folder(tmp_path)
    backup = Backup(model_dir, NAME)
    backup.snapshot_models(7)
    shutil.rmtree(model_dir / f"{NAME}_logs")
    (model_dir / f"{NAME}.keras").write_bytes(b"model, later")
    backup.snapshot_models(7)
    snapshot = tmp_path / f"{NAME}_snapshot_7_iters"
    assert _tree(snapshot) == {f"{NAME}.keras": b"model, later",
                               f"{NAME}_state.json": _state(1, 2, 3).encode()}
    assert _temporary_names(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == [NAME, snapshot.name]


def test_snapshot_failure_keeps_the_old_snapshot(tmp_path, monkeypatch):
    model_dir = _make_model_folder(tmp_path)
    backup = Backup(model_dir, NAME)
    backup.snapshot_models(3)
    snapshot = tmp_path / f"{NAME}_snapshot_3_iters"
    before = _tree(snapshot)
    (model_dir / f"{NAME}.keras").write_bytes(b"changed")

    def broken_copytree(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copytree", broken_copytree)
    with pytest.raises(OSError, match="disk full"):
        backup.snapshot_models(3)
    assert _tree(snapshot) == before
    assert _temporary_names(tmp_path) == []


def test_snapshot_of_a_folder_given_with_a_trailing_separator(tmp_path):
    model_dir = _make_model_folder(tmp_path)
    Backup(str(model_dir) + os.sep, NAME).snapshot_models(2)
    assert (tmp_path / f"{NAME}_snapshot_2_iters" / f"{NAME}.keras").is_file()
    assert not any(path.name.startswith("_snapshot") for path in model_dir.iterdir())


@pytest.mark.parametrize("iterations", [1.5, "10", True])
def test_snapshot_iterations_must_be_an_integer(tmp_path, iterations):
    model_dir = _make_model_folder(tmp_path)
    with pytest.raises(TypeError, match="`iterations` must be an integer"):
        Backup(model_dir, NAME).snapshot_models(iterations)
    assert sorted(path.name for path in tmp_path.iterdir()) == [NAME]


# ---------------------------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------------------------
class _FixedDatetime:
    """Stands in for ``datetime`` in the module under test: a fixed ``now()``."""

    @staticmethod
    def now() -> datetime:
        return datetime(2024, 2, 29, 13, 5, 9)


ARCHIVE = f"{NAME}_archived_20240229_130509"


@pytest.mark.smoke
def test_restore_archives_restores_backups_and_session_logs(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(backup_restore, "datetime", _FixedDatetime)
    model_dir = _make_model_folder(tmp_path)
    before = _tree(model_dir)
    with caplog.at_level(logging.INFO, logger=backup_restore.__name__):
        Backup(model_dir, NAME).restore()
    after = _tree(model_dir)

    # (1) every live item moved, unchanged, into the archive folder
    archived = {key[len(ARCHIVE) + 1:]: value for key, value in after.items()
                if key.startswith(ARCHIVE + "/")}
    live = {key: value for key, value in before.items()
            if key.split("/")[0] in (f"{NAME}.keras", f"{NAME}_state.json", f"{NAME}_logs")}
    assert archived == live
    # (2) backups copied to the live names (backups kept); (3) only session 1's logs back
    # Everything else (other models, stray files and folders) is left as it was.
    untouched = {key: value for key, value in before.items() if key not in live}
    restored = {
        f"{NAME}.keras": b"model after session 1",
        f"{NAME}_state.json": _state(1).encode(),
        f"{NAME}_logs": None,
        f"{NAME}_logs/session_1": None,
        f"{NAME}_logs/session_1/events.out.1": b"log 1",
    }
    outside_archive = {key: value for key, value in after.items()
                       if key.split("/")[0] != ARCHIVE}
    assert outside_archive == {**untouched, **restored}
    assert after[ARCHIVE] is None
    assert _temporary_names(model_dir) == []
    assert f"'{NAME}.keras'" in caplog.text and "1 session(s)" in caplog.text


def test_restore_finds_session_folders_anywhere_in_the_logs_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(backup_restore, "datetime", _FixedDatetime)
    model_dir = _make_model_folder(tmp_path)
    nested = model_dir / f"{NAME}_logs" / "train" / "session_1" / "inner" / "session_2"
    nested.mkdir(parents=True)
    (nested / "events").write_bytes(b"nested")
    (model_dir / f"{NAME}_state.json.bk").write_text(_state(1, 2))
    Backup(model_dir, NAME).restore()
    logs = model_dir / f"{NAME}_logs"
    assert sorted(path.relative_to(logs).as_posix() for path in logs.rglob("*")
                  if path.is_file()) == ["session_1/events.out.1", "session_2/events.out.2",
                                         "train/session_1/inner/session_2/events"]


def test_restore_with_nothing_to_restore_changes_nothing(tmp_path):
    model_dir = _make_model_folder(tmp_path)
    for backup_file in model_dir.glob(f"{NAME}*.bk"):
        backup_file.unlink()
    before = _tree(model_dir)
    with pytest.raises(FaceswapError, match="nothing to restore"):
        Backup(model_dir, NAME).restore()
    assert _tree(model_dir) == before


@pytest.mark.parametrize("content", [
    "{not json", json.dumps({"name": NAME}), "[1, 2]", '{"sessions": ' + "[" * 100000,
    json.dumps({"sessions": [1, 2]}), json.dumps({"sessions": {"../../x": {}}}),
    b"\xff\xfe{}"])
def test_restore_with_a_broken_state_backup_changes_nothing(tmp_path, content):
    model_dir = _make_model_folder(tmp_path)
    path = model_dir / f"{NAME}_state.json.bk"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _tree(model_dir)
    with pytest.raises(FaceswapError, match="cannot be read.*Nothing was changed"):
        Backup(model_dir, NAME).restore()
    assert _tree(model_dir) == before


def test_restore_when_the_archive_folder_exists_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(backup_restore, "datetime", _FixedDatetime)
    model_dir = _make_model_folder(tmp_path)
    (model_dir / ARCHIVE).mkdir()
    before = _tree(model_dir)
    with pytest.raises(FaceswapError, match="already exists"):
        Backup(model_dir, NAME).restore()
    assert _tree(model_dir) == before


def test_restore_without_a_state_backup_restores_files_only(tmp_path, caplog):
    model_dir = _make_model_folder(tmp_path)
    (model_dir / f"{NAME}_state.json.bk").unlink()
    with caplog.at_level(logging.WARNING, logger=backup_restore.__name__):
        Backup(model_dir, NAME).restore()
    assert (model_dir / f"{NAME}.keras").read_bytes() == b"model after session 1"
    assert not (model_dir / f"{NAME}_state.json").exists()  # archived, no backup to restore
    assert not (model_dir / f"{NAME}_logs").exists()
    archives = [path.name for path in model_dir.iterdir() if "_archived_" in path.name]
    assert len(archives) == 1 and re.fullmatch(rf"{NAME}_archived_\d{{8}}_\d{{6}}", archives[0])
    assert "logs are not" in caplog.text


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_restore_on_a_full_disk_keeps_the_backups_and_can_be_run_again(tmp_path, monkeypatch,
                                                                        code):
    """A write error while the backups are copied back: a FaceswapError saying what failed,
    the space needed and where the previous files are; the backups are unchanged, no temporary
    file is left, and restoring again once the disk is fixed completes the restore."""
    model_dir = _make_model_folder(tmp_path)
    backups = {name: (model_dir / name).read_bytes()
               for name in (f"{NAME}.keras.bk", f"{NAME}_state.json.bk")}
    copy = backup_restore._copy_file_atomic
    calls = []

    def failing(source, destination):
        calls.append(destination)
        if len(calls) == 2:  # the second file's copy fails
            raise OSError(code, os.strerror(code), str(destination))
        copy(source, destination)

    monkeypatch.setattr(backup_restore, "_copy_file_atomic", failing)
    with pytest.raises(FaceswapError) as err:
        Backup(model_dir, NAME).restore()
    message = str(err.value)
    assert os.strerror(code) in message and "restore -m" in message
    assert f"{NAME}_archived_" in message and "needs about" in message
    assert {name: (model_dir / name).read_bytes() for name in backups} == backups
    assert _temporary_names(model_dir) == []
    monkeypatch.setattr(backup_restore, "_copy_file_atomic", copy)
    monkeypatch.setattr(backup_restore, "datetime", _FixedDatetime)
    Backup(model_dir, NAME).restore()  # the fixed disk: the restore completes
    assert (model_dir / f"{NAME}.keras").read_bytes() == backups[f"{NAME}.keras.bk"]
    assert (model_dir / f"{NAME}_state.json").read_bytes() == backups[f"{NAME}_state.json.bk"]
