"""``faceswap_original.train``: run_training's checks and the timelapse plumbing."""
from __future__ import annotations

import argparse

import cv2
import pytest

from faceswap_original.demo_data import generate_demo_data
from faceswap_original.train import run_training
from lib.errors import FaceswapError
from tests.plugins.train.model.plugin_helpers import installed_plugins

_CONFIG = ("[global.loss]\nloss_function = mae\nloss_function_2 = none\n"
           "[model.original]\nlowmem = True\n")


def _args(tmp_path, faces_a, faces_b, **extra) -> argparse.Namespace:
    config = tmp_path / "train.ini"
    config.write_text(_CONFIG)
    values = dict(input_a=str(faces_a), input_b=str(faces_b), model_dir=str(tmp_path / "model"),
                  trainer="original", batch_size=2, iterations=2, save_interval=5,
                  snapshot_interval=0, warmup=0, preview_dir=None, no_logs=True,
                  summary=False, freeze_weights=False, load_weights=None,
                  distribution_strategy="default", no_warp=False, no_flip=False,
                  no_augment_color=False, seed=0, configfile=str(config), progress=False,
                  timelapse_input_a=None, timelapse_input_b=None, timelapse_output=None)
    values.update(extra)
    return argparse.Namespace(**values)


@pytest.fixture(name="faces", scope="module")
def fixture_faces(tmp_path_factory):
    return generate_demo_data(tmp_path_factory.mktemp("faces"), count=4, seed=2, size=64)


@pytest.mark.parametrize("given, message", [
    ({"timelapse_input_a": "A"}, "give -x and -y together"),
    ({"timelapse_input_a": "A", "timelapse_input_b": "missing"},
     "timelapse side B folder .*missing.* does not exist"),
    ({"timelapse_input_a": "A", "timelapse_input_b": "empty"},
     "folder .*empty.* holds no images")])
def test_timelapse_needs_both_existing_folders(given, message, faces, tmp_path):
    (tmp_path / "empty").mkdir()
    given = {key: str(faces[0]) if value == "A" else str(tmp_path / value)
             for key, value in given.items()}
    with pytest.raises(FaceswapError, match=message):
        run_training(_args(tmp_path, *faces, **given))
    assert not (tmp_path / "model").exists()


def test_timelapse_defaults_to_the_model_folder(faces, tmp_path):
    """The timelapse plumbing is the trainer's, whatever the plugin: the small test plugin
    ``tiny`` keeps it fast (demo_test.py writes the Original plugin's timelapse)."""
    with installed_plugins():
        model = run_training(_args(tmp_path, *faces, trainer="tiny",
                                   timelapse_input_a=str(faces[0]),
                                   timelapse_input_b=str(faces[1])))
    folder = tmp_path / "model" / "timelapse"
    # saves at the first iteration and on exit after the second
    assert sorted(path.name for path in folder.iterdir()) == ["00000001.png", "00000002.png"]
    assert model.iterations == 2
    assert cv2.imread(str(folder / "00000002.png")) is not None


@pytest.mark.parametrize(("given", "expected"), [
    ({}, None),
    ({"write_image": True}, "cwd"),
    ({"write_image": True, "preview_dir": "pv"}, "pv"),
    ({"preview": True}, None)])
def test_preview_path(given, expected, tmp_path, monkeypatch):
    """No option: the model folder's preview (None); -w: Faceswap's training_preview.png in the
    current folder; --preview-dir wins."""
    from faceswap_original.train import _preview_path

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(**{key: str(tmp_path / value) if key == "preview_dir" else value
                                 for key, value in given.items()})
    path = _preview_path(args, "original")
    if expected is None:
        assert path is None
    elif expected == "cwd":
        assert path == tmp_path / "training_preview.png"
    else:
        assert path == tmp_path / "pv" / "original_preview.png"
