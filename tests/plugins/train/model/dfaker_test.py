"""The Dfaker plugin: parameter counts, sub-models, shapes, layer names and option errors."""
from __future__ import annotations

import numpy as np
import pytest

from lib.errors import ConfigError, FaceswapError
from plugins.train.model import dfaker_defaults
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
    plugin = make_plugin("dfaker", tmp_path)
    assert plugin.input_shape == (64, 64, 3)
    model = build_network(plugin)
    assert model.count_params() == 113_330_822  # Faceswap 3's build
    assert sub_model_names(model) == ["dfaker", "encoder", "decoder_a", "decoder_b"]
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 64, 64, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_b"]
    encoder = layer_names(model, "encoder")
    # The Original encoder, with the 1024 convolution (Original's lowmem is off)
    assert "conv_1024_0_conv2d" in encoder and "upscale_512_0_pixelshuffler" in encoder
    decoder_a = layer_names(model, "decoder_a")
    for name in ("upscale_512_1_conv2d_conv2d", "residual_512_0_conv2d_0",
                 "residual_256_0_conv2d_1", "residual_128_0_leakyrelu_3",
                 "upscale_64_0_conv2d_leakyrelu", "face_out_a_0_conv2d", "face_out_a_0"):
        assert name in decoder_a
    # The face upscales have no activation of their own (a separate LeakyReLU follows)
    assert "upscale_512_1_conv2d_leakyrelu" not in decoder_a
    assert "residual_1024_0_conv2d_0" not in decoder_a
    decoder_b = layer_names(model, "decoder_b")
    assert "residual_512_1_conv2d_0" in decoder_b and "face_out_b_0" in decoder_b


def test_residual_blocks_use_the_plugin_initializer(tmp_path):
    model = build_network(make_plugin("dfaker", tmp_path))
    decoder = model.get_layer("decoder_a")
    first = decoder.get_layer("residual_256_0_conv2d_0").get_config()["kernel_initializer"]
    assert first["class_name"] == "RandomNormal"
    assert first["config"]["mean"] == 0.0 and first["config"]["stddev"] == pytest.approx(0.02)
    # ResidualBlock keeps its own initializer for the second convolution
    second = decoder.get_layer("residual_256_0_conv2d_1").get_config()["kernel_initializer"]
    assert second["class_name"] == "VarianceScaling"


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("dfaker", tmp_path))
    outputs = forward_outputs(model, 64)
    assert [out.shape for out in outputs] == [(1, 128, 128, 3)] * 2
    faces = random_faces(64)
    expected_b = decoder_face(model, "b", faces)
    np.testing.assert_allclose(outputs[1], expected_b, atol=1e-5)


def test_learn_mask_build(tmp_path):
    model = build_network(make_plugin("dfaker", tmp_path, LEARN_MASK))
    assert model.count_params() == 144_602_376  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_a", "decoder_b", "decoder_b"]
    decoder_a = layer_names(model, "decoder_a")
    # The mask branch: plain leaky upscales, no residual blocks
    assert "upscale_512_2_conv2d_leakyrelu" in decoder_a and "mask_out_a_0" in decoder_a
    assert "residual_512_1_conv2d_0" in layer_names(model, "decoder_b")
    assert "mask_out_b_0" in layer_names(model, "decoder_b")


def test_output_size_256(tmp_path):
    plugin = make_plugin("dfaker", tmp_path, {"model.dfaker": {"output_size": 256}})
    assert plugin.input_shape == (128, 128, 3)
    model = build_network(plugin)
    assert model.count_params() == 258_046_598  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 256, 256, 3)] * 2
    assert "residual_1024_0_conv2d_0" in layer_names(model, "decoder_a")


def test_encoder_follows_original_lowmem(tmp_path):
    """dfaker inherits Original's encoder, so ``[model.original] lowmem`` drops its 1024
    convolution (5 * 5 * 512 * 1024 + 1024 weights); the dense layer stays 1024 wide but now sees
    8 * 8 * 512 features instead of 4 * 4 * 1024."""
    model = build_network(make_plugin("dfaker", tmp_path, {"model.original": {"lowmem": True}}))
    conv_1024 = 5 * 5 * 512 * 1024 + 1024
    dense_growth = (8 * 8 * 512 - 4 * 4 * 1024) * 1024
    assert model.count_params() == 113_330_822 - conv_1024 + dense_growth
    assert "conv_1024_0_conv2d" not in layer_names(model, "encoder")


def test_config_items():
    item = dfaker_defaults.output_size
    assert (item.datatype, item.default, item.min_max, item.fixed) == (int, 128, (128, 256), True)
    assert isinstance(dfaker_defaults.HELPTEXT, str) and dfaker_defaults.HELPTEXT


@pytest.mark.parametrize("size", [129, 192, 255])
def test_output_size_must_be_128_or_256(tmp_path, size):
    with pytest.raises(FaceswapError, match=rf"128 or 256 px\. Received: {size}\..*"
                                            r"'output_size'.*\[model\.dfaker\]"):
        make_plugin("dfaker", tmp_path, {"model.dfaker": {"output_size": size}})


@pytest.mark.parametrize("size", [64, 512])
def test_output_size_out_of_range(tmp_path, size):
    with pytest.raises(ConfigError, match=rf"{size}.*model\.dfaker\.output_size"):
        make_plugin("dfaker", tmp_path, {"model.dfaker": {"output_size": size}})
