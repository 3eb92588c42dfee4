"""ModelFolder: Faceswap 3's file names of a model folder, and the one place they are built."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from lib.model.model_folder import ModelFolder
from lib.utils import atomic_replace, write_atomic

_ROOT = Path(__file__).resolve().parents[3]


def test_faceswap3_names():
    """The names Faceswap 3 gives a model folder's files (``plugins/train/model/_base/io.py``,
    ``state.py``, ``lib/model/backup_restore.py`` and ``plugins/train/trainer/_base.py`` of
    Faceswap 3), spelled out here independently of the value."""
    folder = ModelFolder("/models/villain", "villain")
    assert folder.model_file == Path("/models/villain/villain.keras")
    assert folder.legacy_model_file == Path("/models/villain/villain.h5")
    assert folder.state_file == Path("/models/villain/villain_state.json")
    assert folder.backup_of(folder.model_file) == Path("/models/villain/villain.keras.bk")
    assert folder.backup_of(folder.state_file) == Path("/models/villain/villain_state.json.bk")
    assert folder.logs_dir == Path("/models/villain/villain_logs")
    assert folder.session_logs_dir(3) == Path("/models/villain/villain_logs/session_3")
    assert folder.session_dir_name("12") == "session_12"
    assert folder.preview_file == Path("/models/villain/villain_preview.png")
    assert folder.archive_dir("20240101_120000") == Path(
        "/models/villain/villain_archived_20240101_120000")
    assert folder.snapshot_dir(10000) == Path("/models/villain_snapshot_10000_iters")
    assert folder.legacy_backup_dir == Path("/models/villain_fs2_backup")
    assert folder.lr_finder_graph("2024-01-01_12.00.00") == Path(
        "/models/villain/learning_rate_finder_2024-01-01_12.00.00.png")
    assert folder.backup_files() == [folder.model_file, folder.state_file]


def test_sibling_names_ignore_a_trailing_separator():
    assert ModelFolder("models/x/", "original").snapshot_dir(5) == Path(
        "models/x_snapshot_5_iters")
    assert ModelFolder("models/x/", "original").legacy_backup_dir == Path("models/x_fs2_backup")


def test_is_a_frozen_value():
    folder = ModelFolder("m", "original")
    assert folder == ModelFolder(Path("m"), "original")
    assert hash(folder) == hash(ModelFolder(Path("m"), "original"))
    assert isinstance(folder.path, Path)
    with pytest.raises(AttributeError):
        folder.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("path", "name", "error"), [
    (3, "original", TypeError), ("m", None, TypeError), ("m", "", ValueError),
    ("m", "a/b", ValueError), ("m", ".hidden", ValueError)])
def test_rejects_bad_arguments(path, name, error):
    with pytest.raises(error):
        ModelFolder(path, name)


def test_backup_names():
    assert ModelFolder.is_backup_name("original.keras.bk")
    assert not ModelFolder.is_backup_name("original.keras")
    assert ModelFolder.backed_up_name("original_state.json.bk") == "original_state.json"
    with pytest.raises(ValueError, match="not a backup"):
        ModelFolder.backed_up_name("original_state.json")
    assert ModelFolder("m", "original").backup_pattern == "original*.bk"


def test_temporary_prefixes_match_what_atomic_saves_write(tmp_path):
    """The prefixes name exactly the temporary files that ``atomic_replace`` makes for the
    model's files (caught while they exist), and not the files themselves."""
    folder = ModelFolder(tmp_path, "original")
    seen = []
    for path in [*folder.backup_files(), *map(folder.backup_of, folder.backup_files()),
                 folder.preview_file]:
        with atomic_replace(path, suffix=".tmp") as temp:
            temp.write_bytes(b"x")
            seen.append(temp.name)
        assert not folder.is_temporary_name(path.name)
    assert all(folder.is_temporary_name(name) for name in seen)
    assert not folder.is_temporary_name(".other.keras.abc.keras")
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["original.keras", "original.keras.bk", "original_preview.png", "original_state.json",
         "original_state.json.bk"])


def test_names_in_finds_the_state_files(tmp_path):
    write_atomic(tmp_path / "b_state.json", "{}")
    write_atomic(tmp_path / "a_state.json", "{}")
    write_atomic(tmp_path / "a_state.json.bk", "{}")
    write_atomic(tmp_path / "_state.json", "{}")  # no name: not a model
    (tmp_path / "c_state.json").mkdir()
    assert ModelFolder.names_in(tmp_path) == ["a", "b"]
    assert ModelFolder.names_in(tmp_path, backups=True) == ["a"]
    assert ModelFolder.state_file_pattern() == "*_state.json"
    assert ModelFolder.state_file_pattern(backups=True) == "*_state.json.bk"


def test_model_stems(tmp_path):
    for name in ("original.keras", "dfaker.h5", ".original.keras.x.keras", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.keras").mkdir()
    assert ModelFolder.model_stems(tmp_path.iterdir()) == {"original", "dfaker"}


# --- the one place ---------------------------------------------------------------------------
_SUFFIXES = ("_state.json", ".bk", "_logs", "_snapshot_", ".keras", "_preview.png")
_OWNER = Path("lib/model/model_folder.py")


def _name_pieces(tree: ast.AST):
    """String constants of the code (docstrings left out) that start with a file-name suffix of
    the model folder: the piece a name is built with (``f"{name}_state.json"``, ``path + ".bk"``,
    ``"_logs"``)."""
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings and node.value.startswith(_SUFFIXES)):
            yield node


def test_name_pieces_finds_built_names():
    """The scan itself: it finds names built in the usual ways, and ignores docstrings and text
    that only mentions a suffix."""
    source = '''
"""Module docstring: <name>_state.json."""
def f(name, path):
    """<name>.keras.bk"""
    a = f"{name}_state.json"
    b = path + ".bk"
    c = os.path.join(d, name + "_logs")
    d = f"{path}_snapshot_{3}_iters"
    e = "the .bk backups"
    g = name + ".keras"
'''
    found = sorted(node.value for node in _name_pieces(ast.parse(source)))
    assert found == sorted(["_state.json", ".bk", "_logs", "_snapshot_", ".keras"])


def test_no_model_folder_name_is_built_outside_the_value():
    """Only ``lib/model/model_folder.py`` builds the model folder's file names."""
    offenders = []
    for top in ("lib", "plugins", "faceswap_original"):
        for path in sorted((_ROOT / top).rglob("*.py")):
            relative = path.relative_to(_ROOT)
            if relative == _OWNER:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            offenders += [f"{relative}:{node.lineno}: {node.value!r}"
                          for node in _name_pieces(tree)]
    assert not offenders, ("Model folder file names built outside ModelFolder:\n"
                           + "\n".join(offenders))
