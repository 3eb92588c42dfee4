"""Tests for lib.utils and lib.logger."""
from __future__ import annotations

import errno
import logging
import os
import re

import keras
import pytest

from lib import logger as fs_logger
from lib import utils
from lib.errors import ConfigError, FaceswapError


@pytest.mark.smoke
def test_faceswap_error_is_exception_and_root_of_hierarchy():
    assert issubclass(utils.FaceswapError, Exception)
    assert utils.FaceswapError is FaceswapError
    assert issubclass(ConfigError, FaceswapError)


@pytest.mark.smoke
def test_get_keras_version_matches_keras():
    major, minor = utils.get_keras_version()
    assert f"{major}.{minor}" == ".".join(keras.version().split(".")[:2])
    assert (major, minor) >= (3, 0)


@pytest.mark.parametrize(("devices", "expected"), [
    (["cpu:0"], "cpu"), (["tfrt_cpu_0"], "cpu"), (["cpu:0", "gpu:0"], "nvidia"),
    (["cuda:0"], "nvidia")])
def test_get_backend_detects_devices(monkeypatch, devices, expected):
    monkeypatch.delenv("FACESWAP_BACKEND", raising=False)
    monkeypatch.setattr(utils, "_list_devices", lambda: devices)
    assert utils.get_backend() == expected


def test_get_backend_reads_the_real_devices(monkeypatch):
    monkeypatch.delenv("FACESWAP_BACKEND", raising=False)
    gpu = any("gpu" in device or "cuda" in device for device in utils._list_devices())
    assert utils.get_backend() == ("nvidia" if gpu else "cpu")


def test_get_backend_environment_override(monkeypatch):
    monkeypatch.setenv("FACESWAP_BACKEND", "NVIDIA")
    assert utils.get_backend() == "nvidia"
    monkeypatch.setenv("FACESWAP_BACKEND", "cuda")
    with pytest.raises(FaceswapError, match="FACESWAP_BACKEND.*'cuda'.*Expected one of"):
        utils.get_backend()


def test_get_module_objects_lists_only_public_names_defined_here():
    names = utils.get_module_objects("lib.utils")
    assert names == ["AtomicGroup", "atomic_replace", "atomic_replace_group", "fsync_folder",
                     "get_backend", "get_keras_version", "get_module_objects",
                     "temporary_prefix", "write_atomic"]
    # FaceswapError is imported into lib.utils, not defined there; `inspect`, `os` are modules
    assert "FaceswapError" not in names


def test_logger_levels_and_methods(caplog):
    assert logging.getLevelName(fs_logger.VERBOSE) == "VERBOSE"
    assert logging.getLevelName(fs_logger.TRACE) == "TRACE"
    assert logging.DEBUG > fs_logger.TRACE and logging.DEBUG < fs_logger.VERBOSE < logging.INFO
    log = logging.getLogger("tests.verbose")
    with caplog.at_level(fs_logger.TRACE, logger="tests.verbose"):
        log.verbose("model has %s layers", 3)
        log.trace("detail")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("VERBOSE", "model has 3 layers"), ("TRACE", "detail")]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tests.verbose"):
        log.verbose("hidden")
    assert not caplog.records


def test_parse_class_init():
    class Block:
        def __init__(self, filters, name=None, **kwargs):
            self.line = fs_logger.parse_class_init(locals())

    assert Block(64).line == "Initializing Block (filters: 64, name: None)"
    line = Block(8, name="x" * 200, padding="same").line
    assert line.startswith("Initializing Block (filters: 8, name: 'xxx")
    assert line.endswith("padding: 'same')")
    assert re.search(r"name: '(x+)\.\.\.", line).end() < 120  # long values are shortened

    class Empty:
        def __init__(self):
            self.line = fs_logger.parse_class_init(locals())

    assert Empty().line == "Initializing Empty"


def test_write_atomic_replaces_content_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "state.json"
    utils.write_atomic(target, "first")
    utils.write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [path.name for path in target.parent.iterdir()] == ["state.json"]


def test_write_atomic_keeps_old_content_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    target.write_text("old")

    def broken_fsync(handle):
        raise OSError("disk full")

    monkeypatch.setattr(utils.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        utils.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["model.json"]


def test_write_atomic_gives_usual_permissions_and_keeps_existing_ones(tmp_path):
    new = tmp_path / "new.ini"
    utils.write_atomic(new, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    existing = tmp_path / "existing.ini"
    existing.write_text("old")
    existing.chmod(0o640)
    utils.write_atomic(existing, "new")
    assert existing.stat().st_mode & 0o777 == 0o640


def test_atomic_replace_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer crashed"):
        with utils.atomic_replace(target, suffix=".keras") as temp:
            assert temp.parent == tmp_path and temp.suffix == ".keras"
            temp.write_text("partial")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["model.keras"]
    with utils.atomic_replace(target, suffix=".keras") as temp:
        temp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_replace_group_replaces_every_file_in_order(tmp_path, monkeypatch):
    (tmp_path / "a.keras").write_text("old a")
    renamed = []
    rename = utils.AtomicGroup._rename

    def record(temp, path):
        renamed.append(path.name)
        rename(temp, path)

    monkeypatch.setattr(utils.AtomicGroup, "_rename", staticmethod(record))
    with utils.atomic_replace_group() as group:
        for name in ("a.keras", "b.json", "a.keras.bk"):
            temp = group.temp_for(tmp_path / name)
            assert temp.parent == tmp_path and temp.name.startswith(f".{name}.")
            temp.write_text(f"new {name}")
    assert renamed == ["a.keras", "b.json", "a.keras.bk"]
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {
        "a.keras": "new a.keras", "b.json": "new b.json", "a.keras.bk": "new a.keras.bk"}


@pytest.mark.parametrize("where", ["block", "fsync"])
def test_atomic_replace_group_changes_nothing_when_any_write_fails(tmp_path, monkeypatch, where):
    """A failure while writing the second file, or in the fsync of the last (before any
    rename), leaves every target as it was and no temporary file."""
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(f"old {name}")
    fsyncs = []
    real_fsync = os.fsync

    def fsync(handle):
        fsyncs.append(handle)
        if where == "fsync" and len(fsyncs) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(handle)

    monkeypatch.setattr(utils.os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output|No space"):
        with utils.atomic_replace_group() as group:
            group.temp_for(tmp_path / "a").write_text("new a")
            if where == "block":
                raise OSError(errno.ENOSPC, "No space left on device")
            group.temp_for(tmp_path / "b").write_text("new b")
            group.temp_for(tmp_path / "c").write_text("new c")
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {
        "a": "old a", "b": "old b", "c": "old c"}
