"""Untrusted files: loading a model never runs code from the file, plugin names cannot reach
outside the plugin packages, and links are not followed out of the folders the user named."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
import pytest

from lib.errors import PluginError
from lib.model.backup_restore import Backup
from lib.training.generator import get_image_paths
from plugins.plugin_loader import PluginLoader
from tests.plugins.train.model.plugin_helpers import installed_plugins
from tests.reliability.helpers import NAME, folder_snapshot, make_data, run_main, train_args


@pytest.fixture(name="data", scope="module")
def fixture_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("untrusted"))


def _lambda_model(path: Path, marker: Path) -> None:
    """A .keras file whose Lambda layer would create ``marker`` when run."""
    target = str(marker)
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: (open(target, "w").close(), x)[1],
                                  name="sneaky")(inputs)
    keras.Model(inputs, outputs, name=NAME).save(path)
    marker.unlink(missing_ok=True)  # building the model above ran it once


def _injected_model(path: Path, marker: Path) -> None:
    """A .keras file whose config names ``os.system`` as a layer class."""
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs), name=NAME).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1].update({"module": "os", "class_name": "system",
                                          "config": f"touch {marker}",
                                          "registered_name": None})
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("make", [_lambda_model, _injected_model])
def test_model_file_code_is_never_run(make, data, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    marker = tmp_path / "code_ran"
    make(model_dir / f"{NAME}.keras", marker)
    before = folder_snapshot(model_dir)
    assert run_main(train_args(data, model_dir, 1)) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("ERROR: ") and str(model_dir / f"{NAME}.keras") in message
    if make is _lambda_model:
        assert "contains code (a Lambda layer" in message and "'sneaky'" in message
    assert not marker.exists()
    assert folder_snapshot(model_dir) == before


def test_load_weights_file_with_code_is_refused(data, tmp_path, capsys):
    marker = tmp_path / "code_ran"
    weights = tmp_path / "weights.keras"
    _lambda_model(weights, marker)
    assert run_main([*train_args(data, tmp_path / "model", 1), "-l", str(weights)]) == 1
    assert "contains code" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "model" / f"{NAME}.keras").exists()


@pytest.mark.smoke
@pytest.mark.parametrize("name", ["../original", "original/../../tiny", "/etc/passwd", "os.path",
                                  "plugins.train.model.original", "_base", "__init__",
                                  "original_defaults", "tiny_defaults", "orig inal", ""])
def test_plugin_names_stay_in_the_plugin_packages(name):
    with installed_plugins(), pytest.raises(PluginError) as info:
        PluginLoader.get_model(name, disable_logging=True)
    assert "plugin" in str(info.value)
    with pytest.raises(PluginError):
        PluginLoader.get_trainer(name, disable_logging=True)


@pytest.mark.smoke
def test_image_links_out_of_the_folder_are_not_followed(tmp_path, caplog):
    folder, outside = tmp_path / "faces", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "inside.png").write_bytes(b"x")
    (outside / "secret.png").write_bytes(b"x")
    os.symlink(outside / "secret.png", folder / "link_out.png")
    os.symlink(folder / "inside.png", folder / "link_in.png")
    paths = get_image_paths(folder)
    assert [Path(path).name for path in paths] == ["inside.png", "link_in.png"]
    assert "link_out.png" in caplog.text


@pytest.mark.smoke
def test_snapshot_copies_links_as_links(tmp_path):
    model_dir, outside = tmp_path / "model", tmp_path / "private"
    (model_dir / f"{NAME}_logs").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("private")
    (model_dir / f"{NAME}.keras").write_bytes(b"model")
    os.symlink(outside, model_dir / f"{NAME}_logs" / "session_9")
    Backup(model_dir, NAME).snapshot_models(7)
    snapshot = tmp_path / "model_snapshot_7_iters"
    assert (snapshot / f"{NAME}.keras").read_bytes() == b"model"
    link = snapshot / f"{NAME}_logs" / "session_9"
    assert link.is_symlink()  # not a copy of what it points to
