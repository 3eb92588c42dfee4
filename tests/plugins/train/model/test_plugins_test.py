"""The patterns of Faceswap's plugins, each through one of our small test plugins."""
from __future__ import annotations

import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.train.model._base import get_all_sub_models
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins():
        yield


def test_model_name_and_layer_overrides(tmp_path):
    """dfl_sae's pattern: the Keras model and encoder are named after the architecture, the
    files after the plugin; freeze and load use the overridden sub-model names."""
    source = make_plugin("arch_names", tmp_path / "source",
                         {"model.arch_names": {"architecture": "wide"}})
    source.build()
    assert source.model.name == "arch_names_wide"
    assert [sub.name for sub in get_all_sub_models(source.model)] == [
        "arch_names_wide", "encoder_wide", "decoder_a", "decoder_b"]
    source.io.save()
    assert (tmp_path / "source" / "model" / "arch_names.keras").is_file()
    source_file = tmp_path / "source" / "model" / "arch_names.keras"
    expected = [to_numpy(w) for w in source.model.get_layer("encoder_wide").weights]
    target = make_plugin("arch_names", tmp_path / "target",
                         {"model.arch_names": {"architecture": "wide"}},
                         freeze_weights=True, load_weights=str(source_file))
    target.build()
    assert target.model.get_layer("encoder_wide").trainable is False
    for before, after in zip(expected, target.model.get_layer("encoder_wide").weights,
                             strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)
    other = make_plugin("arch_names", tmp_path / "other", load_weights=str(source_file))
    with pytest.raises(FaceswapError, match="'arch_names_wide' model into a 'arch_names_dense'"):
        other.build()


def test_own_build_updates_the_dropout_on_reload(tmp_path):
    """Phaze-A's pattern: its own build() loads the model and re-applies a changeable option."""
    plugin = make_plugin("own_build", tmp_path, {"model.own_build": {"dropout": 0.1}})
    plugin.build()
    assert plugin.model.get_layer("encoder").get_layer("encoder_dropout").rate == 0.1
    plugin.state.increment_iterations()
    plugin.io.save()
    weights = [to_numpy(w) for w in plugin.model.weights]
    reloaded = make_plugin("own_build", tmp_path, {"model.own_build": {"dropout": 0.5}})
    reloaded.build()
    assert reloaded.model.get_layer("encoder").get_layer("encoder_dropout").rate == 0.5
    assert reloaded.model.optimizer is not None and reloaded.state.session_id == 2
    for before, after in zip(weights, reloaded.model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(after), before)


def test_input_and_output_sizes_differ(tmp_path):
    plugin = make_plugin("resize", tmp_path)
    plugin.build()
    assert plugin.input_shapes == [(None, 128, 128, 3)] * 2
    assert plugin.output_shapes == [(None, 64, 64, 3)] * 2


def test_four_outputs_name_their_losses(tmp_path):
    plugin = make_plugin("four_out", tmp_path)
    plugin.build()
    assert plugin.state.loss_names == ["total", "face_a", "mask_a", "face_b", "mask_b"]
    assert plugin.output_shapes == [(None, 32, 32, 3), (None, 32, 32, 1)] * 2


def test_installed_plugin_options_are_fixed_on_resume(tmp_path):
    plugin = make_plugin("tiny", tmp_path, {"model.tiny": {"encoder_dim": 32}})
    plugin.build()
    assert plugin.encoder_dim == 32
    plugin.io.save()
    resumed = make_plugin("tiny", tmp_path, {"model.tiny": {"encoder_dim": 128}})
    assert resumed.encoder_dim == 32  # fixed: the stored value wins
    resumed.build()


def test_a_different_input_shape_per_side(tmp_path):
    plugin = make_plugin("tiny", tmp_path)
    plugin.input_shape = [(32, 32, 3), (48, 48, 3)]
    inputs = plugin._get_inputs()  # pylint: disable=protected-access
    assert [tuple(t.shape) for t in inputs] == [(None, 32, 32, 3), (None, 48, 48, 3)]
    assert [t.name for t in inputs] == ["face_in_a", "face_in_b"]
    plugin.input_shape = [(32, 32, 3), (48, 48)]
    with pytest.raises(FaceswapError, match="list of two such tuples"):
        plugin._validate_input_shape()  # pylint: disable=protected-access
