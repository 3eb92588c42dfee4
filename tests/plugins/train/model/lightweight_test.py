"""The Lightweight plugin: parameter counts, sub-models, shapes and layer names."""
from __future__ import annotations

import numpy as np
import pytest

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
    plugin = make_plugin("lightweight", tmp_path)
    assert plugin.input_shape == (64, 64, 3) and plugin.encoder_dim == 512
    model = build_network(plugin)
    assert model.count_params() == 51_066_374  # Faceswap 3's build
    assert sub_model_names(model) == ["lightweight", "encoder", "decoder_a", "decoder_b"]
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 64, 64, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 64, 64, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_b"]
    assert tuple(model.get_layer("encoder").output.shape) == (None, 8, 8, 256)
    encoder = layer_names(model, "encoder")
    assert "conv_512_0_conv2d" in encoder and "upscale_256_0_pixelshuffler" in encoder
    assert "conv_1024_0_conv2d" not in encoder
    decoder_a = model.get_layer("decoder_a")
    names = layer_names(model, "decoder_a")
    for name in ("upscale_512_0_conv2d_conv2d", "upscale_256_1_pixelshuffler",
                 "upscale_128_0_conv2d_leakyrelu", "face_out_a_0_conv2d", "face_out_a_0"):
        assert name in names
    assert decoder_a.get_layer("face_out_a_0").get_config()["activation"] == "sigmoid"
    assert "face_out_b_0" in layer_names(model, "decoder_b")


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("lightweight", tmp_path))
    outputs = forward_outputs(model, 64, batch=2)
    assert [out.shape for out in outputs] == [(2, 64, 64, 3)] * 2
    faces = random_faces(64, batch=2)
    expected_a = decoder_face(model, "a", faces)
    np.testing.assert_allclose(outputs[0], expected_a, atol=1e-5)


def test_learn_mask_build(tmp_path):
    model = build_network(make_plugin("lightweight", tmp_path, LEARN_MASK))
    assert model.count_params() == 72_313_608  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 64, 64, 3), (None, 64, 64, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_a", "decoder_b", "decoder_b"]
    decoder_a = model.get_layer("decoder_a")
    assert "upscale_512_1_conv2d_conv2d" in layer_names(model, "decoder_a")
    assert decoder_a.get_layer("mask_out_a_0").get_config()["activation"] == "sigmoid"
    assert "mask_out_b_0" in layer_names(model, "decoder_b")


def test_original_lowmem_changes_nothing(tmp_path):
    """Lightweight reads the Original model's ``lowmem`` (as ``low_mem``) but its own encoder
    ignores it."""
    plugin = make_plugin("lightweight", tmp_path, {"model.original": {"lowmem": True}})
    assert plugin.low_mem is True
    assert build_network(plugin).count_params() == 51_066_374


def test_no_defaults_module():
    with pytest.raises(ModuleNotFoundError):
        __import__("plugins.train.model.lightweight_defaults")
