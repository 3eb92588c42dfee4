"""Tests for :mod:`lib.model.folder_lock`: refusals name the holder, a killed holder's lock is
taken over, shared readers and exclusive savers exclude each other."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lib.errors import FaceswapError
from lib.model import folder_lock
from lib.model.folder_lock import (
    SAVE_LOCK,
    TRAIN_LOCK,
    FolderLock,
    read_lock,
    save_lock,
    train_lock,
)

_HOLDER = textwrap.dedent("""
    import sys, time
    from lib.model.folder_lock import FolderLock
    lock = FolderLock(sys.argv[1], sys.argv[2], shared=sys.argv[3] == "shared", purpose="train")
    lock.acquire()
    print("ready", flush=True)
    time.sleep(120)
""")


def _hold_in_child(folder: Path, filename: str, shared: bool = False) -> subprocess.Popen:
    """A child process holding ``filename``'s lock in ``folder`` (it sleeps until killed)."""
    root = Path(folder_lock.__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder), filename, "shared" if shared else "x"],
        stdout=subprocess.PIPE, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    return child


def test_acquire_records_owner_and_release_removes_file(tmp_path: Path) -> None:
    lock = train_lock(tmp_path / "model")
    with lock:
        assert lock.held
        owner = read_lock(lock.path)
        assert owner is not None
        assert owner["pid"] == os.getpid()
        assert owner["host"] == socket.gethostname()
    assert not lock.held
    assert not lock.path.exists()
    with lock:  # can be taken again
        assert lock.held


def test_second_holder_refused_naming_the_first(tmp_path: Path) -> None:
    first = train_lock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(FaceswapError) as err:
            train_lock(tmp_path).acquire()
        message = str(err.value)
        assert f"process {os.getpid()}" in message
        assert socket.gethostname() in message
        assert str(tmp_path) in message
        assert "train lock" in message
    finally:
        first.release()


def test_other_process_refused_then_killed_lock_taken_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    child = _hold_in_child(tmp_path, TRAIN_LOCK)
    try:
        with pytest.raises(FaceswapError, match=f"process {child.pid} on"):
            train_lock(tmp_path).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (tmp_path / TRAIN_LOCK).exists()  # the killed process could not clean up
    assert read_lock(tmp_path / TRAIN_LOCK)["pid"] == child.pid
    caplog.set_level(logging.WARNING)
    with train_lock(tmp_path) as lock:
        assert read_lock(lock.path)["pid"] == os.getpid()
    assert any("stale" in rec.getMessage() and str(child.pid) in rec.getMessage()
               for rec in caplog.records)


def test_readers_share_and_exclude_a_save(tmp_path: Path) -> None:
    with train_lock(tmp_path):  # the trainer, named when a reader meets its save
        with save_lock(tmp_path, shared=True), save_lock(tmp_path, shared=True):
            saver = FolderLock(tmp_path, SAVE_LOCK, purpose="save")
            with pytest.raises(FaceswapError, match="reading the model files"):
                saver.acquire(" (it is reading the model files)", wait=0.2)
            assert not saver.held
        assert not (tmp_path / SAVE_LOCK).exists()  # the last reader out removed it
        with save_lock(tmp_path):
            with pytest.raises(FaceswapError) as err, save_lock(tmp_path, shared=True):
                pass
            assert "writing a save" in str(err.value)
            assert f"process {os.getpid()}" in str(err.value)
    assert not (tmp_path / SAVE_LOCK).exists()
    assert not (tmp_path / TRAIN_LOCK).exists()


def test_reader_of_missing_folder_takes_nothing(tmp_path: Path) -> None:
    with save_lock(tmp_path / "absent", shared=True) as lock:
        assert not lock.held
    assert not (tmp_path / "absent").exists()


def test_save_waits_for_a_reader_that_finishes(tmp_path: Path) -> None:
    child = _hold_in_child(tmp_path, SAVE_LOCK, shared=True)
    try:
        saver = FolderLock(tmp_path, SAVE_LOCK, purpose="save")
        with pytest.raises(FaceswapError):
            saver.acquire(wait=0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    saver.acquire(wait=5.0)
    assert saver.held
    saver.release()


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b"[1, 2]", b"{" * 10, b" " * 5000,
                                     json.dumps({"pid": [1], "host": 2.5}).encode()])
def test_damaged_lock_file_is_not_trusted(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / TRAIN_LOCK
    path.write_bytes(content)
    owner = read_lock(path)
    assert owner is None or owner == {}
    with train_lock(tmp_path) as lock:  # a file nobody locks is taken over
        assert read_lock(lock.path)["pid"] == os.getpid()
