"""Tests for lib.registry: registered names, Faceswap's bare-name alias, collisions."""
from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest

from lib.model.layers import PixelShuffler
from lib.registry import PACKAGE, register_serializable
from tests.harness import to_numpy


def test_registered_under_bare_name_and_package_name():
    """Saved under the bare name (as Faceswap 3); the older package spelling still resolves."""
    assert keras.saving.get_registered_name(PixelShuffler) == "PixelShuffler"
    assert keras.saving.get_registered_object(f"{PACKAGE}>PixelShuffler") is PixelShuffler
    assert keras.saving.get_custom_objects()["PixelShuffler"] is PixelShuffler


def test_bare_name_collision_is_refused_and_leaves_registry_intact():
    with pytest.raises(ValueError, match="already taken by lib.model.layers.PixelShuffler"):
        @register_serializable()
        class PixelShuffler(keras.layers.Layer):  # the point of the test
            pass
    assert keras.saving.get_registered_object(f"{PACKAGE}>PixelShuffler").__module__ == (
        "lib.model.layers")


@pytest.mark.smoke
def test_loads_file_with_the_older_package_spelling(tmp_path):
    """Files saved by earlier versions of this project name the class ``faceswap>Name``; they
    still load. (Files with the bare name, as Faceswap saves them, are what we write now.)"""
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, PixelShuffler(name="shuffle")(inputs))
    ours = tmp_path / "ours.keras"
    model.save(ours)

    older = tmp_path / "older.keras"
    with zipfile.ZipFile(ours) as source, zipfile.ZipFile(older, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = next(layer for layer in config["config"]["layers"]
                             if layer["class_name"] == "PixelShuffler")
                assert layer["registered_name"] == "PixelShuffler"
                layer["registered_name"] = f"{PACKAGE}>PixelShuffler"
                data = json.dumps(config).encode()
            target.writestr(item, data)

    loaded = keras.saving.load_model(older)
    assert isinstance(loaded.get_layer("shuffle"), PixelShuffler)
    batch = np.arange(2 * 4 * 4 * 8, dtype="float32").reshape(2, 4, 4, 8)
    np.testing.assert_array_equal(to_numpy(loaded(batch)), to_numpy(model(batch)))
