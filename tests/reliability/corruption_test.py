"""Damaged model files: a truncated, empty or garbage ``<name>.keras`` or ``<name>_state.json``
gives a FaceswapError that names the file and the ``restore`` command, and changes nothing;
``restore`` recovers from the ``.bk`` files and refuses cleanly when there are none."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    NAME,
    embedded_state,
    folder_snapshot,
    make_data,
    run_main,
    train_args,
    trained_folder,
)


@pytest.fixture(name="trained", scope="module")
def fixture_trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("corruption")
    data = make_data(root / "data")
    return data, trained_folder(root, data)


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "zero-byte":
        path.write_bytes(b"")
    else:
        path.write_bytes(bytes(range(256)) * 16)


@pytest.mark.parametrize("how", ["truncated", "zero-byte", "garbage"])
@pytest.mark.parametrize("which", [f"{NAME}.keras", f"{NAME}_state.json"])
def test_damaged_file_is_a_clear_error(trained, tmp_path, capsys, which, how):
    data, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    _damage(model_dir / which, how)
    before = folder_snapshot(model_dir)
    assert run_main(train_args(data, model_dir, 1)) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("ERROR: ")
    assert str(model_dir / which) in message
    assert f"faceswap-original restore -m {model_dir}" in message
    assert folder_snapshot(model_dir) == before


@pytest.mark.parametrize("which", [f"{NAME}.keras", f"{NAME}_state.json"])
def test_restore_recovers_from_the_backups_and_training_resumes(trained, tmp_path, which):
    data, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    backup = (model_dir / f"{which}.bk").read_bytes()
    _damage(model_dir / which, "truncated")
    assert run_main(["restore", "-m", str(model_dir)]) == 0
    assert (model_dir / which).read_bytes() == backup
    archived = list(model_dir.glob(f"{NAME}_archived_*"))
    assert len(archived) == 1 and (archived[0] / which).is_file()  # the damaged file is kept
    iterations = json.loads((model_dir / f"{NAME}_state.json").read_text())["iterations"]
    assert run_main(train_args(data, model_dir, 1)) == 0
    assert json.loads((model_dir / f"{NAME}_state.json").read_text())["iterations"] == (
        iterations + 1)
    assert embedded_state(model_dir / f"{NAME}.keras")["iterations"] == iterations + 1


def test_restore_without_a_backup_refuses_and_changes_nothing(trained, tmp_path, capsys):
    _, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    for backup in model_dir.glob("*.bk"):
        backup.unlink()
    _damage(model_dir / f"{NAME}.keras", "garbage")
    before = folder_snapshot(model_dir)
    assert run_main(["restore", "-m", str(model_dir)]) == 1
    message = capsys.readouterr().err
    assert "ERROR: " in message and "0 backed-up state files" in message
    assert str(model_dir) in message
    assert folder_snapshot(model_dir) == before


def test_restore_with_a_model_backup_only_refuses(trained, tmp_path, capsys):
    _, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    (model_dir / f"{NAME}_state.json.bk").unlink()
    before = folder_snapshot(model_dir)
    assert run_main(["restore", "-m", str(model_dir)]) == 1
    assert "backed-up state files" in capsys.readouterr().err
    assert folder_snapshot(model_dir) == before


def test_missing_state_file_is_recovered_from_the_model_file(trained, tmp_path):
    data, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    saved = embedded_state(model_dir / f"{NAME}.keras")
    (model_dir / f"{NAME}_state.json").unlink()
    assert run_main(train_args(data, model_dir, 1)) == 0
    state = json.loads((model_dir / f"{NAME}_state.json").read_text())
    assert state["iterations"] == saved["iterations"] + 1
    assert list(state["sessions"]) == [*saved["sessions"], str(len(saved["sessions"]) + 1)]


def test_state_file_one_save_behind_the_model_is_reconciled(trained, tmp_path, capsys):
    """A kill between the model file's rename and the state file's (the crash test hits this at
    random; here it is made on purpose)."""
    data, source = trained
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    state_file = model_dir / f"{NAME}_state.json"
    state = json.loads(state_file.read_text())
    saved = state["iterations"]
    state["iterations"] = saved - 1
    state_file.write_text(json.dumps(state))
    assert run_main(train_args(data, model_dir, 1)) == 0
    assert "the last save was interrupted" in capsys.readouterr().err
    assert json.loads(state_file.read_text())["iterations"] == saved + 1
