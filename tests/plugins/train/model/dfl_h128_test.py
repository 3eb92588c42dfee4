"""The DFL-H128 plugin: parameter counts, sub-models, shapes, layer names and option errors."""
from __future__ import annotations

import numpy as np
import pytest

from lib.errors import ConfigError
from plugins.train.model import dfl_h128_defaults
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    decoder_face,
    forward_outputs,
    layer_names,
    make_plugin,
    random_faces,
    sub_model_names,
)


@pytest.mark.smoke
def test_default_build(tmp_path):
    plugin = make_plugin("dfl_h128", tmp_path)
    assert plugin.input_shape == (128, 128, 3) and plugin.encoder_dim == 512
    model = build_network(plugin)
    assert model.count_params() == 107_716_102  # Faceswap 3's build
    assert sub_model_names(model) == ["dfl_h128", "encoder", "decoder_a", "decoder_b"]
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_b"]
    assert tuple(model.get_layer("encoder").output.shape) == (None, 16, 16, 512)
    encoder = layer_names(model, "encoder")
    for name in ("conv_128_0_conv2d", "conv_1024_0_conv2d", "conv_1024_0_leakyrelu",
                 "upscale_512_0_pixelshuffler"):
        assert name in encoder
    decoder_a = layer_names(model, "decoder_a")
    for name in ("upscale_512_1_conv2d_conv2d", "upscale_256_0_pixelshuffler",
                 "upscale_128_0_conv2d_leakyrelu", "face_out_a_0_conv2d", "face_out_a_0"):
        assert name in decoder_a
    decoder_b = layer_names(model, "decoder_b")
    assert "upscale_512_2_conv2d_conv2d" in decoder_b and "face_out_b_0" in decoder_b


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("dfl_h128", tmp_path))
    outputs = forward_outputs(model, 128)
    assert [out.shape for out in outputs] == [(1, 128, 128, 3)] * 2
    faces = random_faces(128)
    expected_b = decoder_face(model, "b", faces)
    np.testing.assert_allclose(outputs[1], expected_b, atol=1e-5)


def test_learn_mask_build(tmp_path):
    model = build_network(make_plugin("dfl_h128", tmp_path, LEARN_MASK))
    assert model.count_params() == 138_400_520  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_a", "decoder_b", "decoder_b"]
    decoder_a = layer_names(model, "decoder_a")
    assert "upscale_512_2_conv2d_conv2d" in decoder_a and "mask_out_a_0" in decoder_a
    decoder_b = layer_names(model, "decoder_b")
    assert "upscale_512_3_conv2d_conv2d" in decoder_b and "mask_out_b_0" in decoder_b


def test_lowmem(tmp_path):
    plugin = make_plugin("dfl_h128", tmp_path, {"model.dfl_h128": {"lowmem": True}})
    assert plugin.encoder_dim == 256
    model = build_network(plugin)
    assert model.count_params() == 48_244_102  # Faceswap 3's build
    assert tuple(model.get_layer("encoder").output.shape) == (None, 16, 16, 256)
    assert "upscale_256_0_pixelshuffler" in layer_names(model, "encoder")
    decoder_a = layer_names(model, "decoder_a")
    assert "upscale_64_0_pixelshuffler" in decoder_a
    assert "upscale_512_0_pixelshuffler" not in decoder_a
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2


def test_original_lowmem_changes_nothing(tmp_path):
    """Only this plugin's own ``lowmem`` counts: it overrides the encoder Original's option
    would shrink."""
    plugin = make_plugin("dfl_h128", tmp_path, {"model.original": {"lowmem": True}})
    assert plugin.low_mem is True and plugin.encoder_dim == 512
    assert build_network(plugin).count_params() == 107_716_102


def test_config_items():
    item = dfl_h128_defaults.lowmem
    assert (item.datatype, item.default, item.fixed) == (bool, False, True)
    assert isinstance(dfl_h128_defaults.HELPTEXT, str) and dfl_h128_defaults.HELPTEXT


def test_lowmem_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"'maybe'.*model\.dfl_h128\.lowmem"):
        make_plugin("dfl_h128", tmp_path, {"model.dfl_h128": {"lowmem": "maybe"}})
