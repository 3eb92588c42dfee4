"""The Villain plugin: parameter counts, sub-models, shapes, layer names and option errors."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lib.errors import ConfigError
from plugins.train.model import villain_defaults
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


def _residuals(model: keras.Model, sub_model: str) -> list[str]:
    """The names of the residual blocks' first convolutions in ``sub_model``, in layer order."""
    return [layer.name for layer in model.get_layer(sub_model).layers
            if layer.name.startswith("residual_") and layer.name.endswith("_conv2d_0")]


@pytest.mark.smoke
def test_default_build(tmp_path):
    plugin = make_plugin("villain", tmp_path)
    assert plugin.input_shape == (128, 128, 3) and plugin.encoder_dim == 1024
    model = build_network(plugin)
    assert model.count_params() == 155_115_014  # Faceswap 3's build
    assert sub_model_names(model) == ["villain", "encoder", "decoder_a", "decoder_b"]
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_b"]
    assert tuple(model.get_layer("encoder").output.shape) == (None, 16, 16, 512)
    encoder = layer_names(model, "encoder")
    assert _residuals(model, "encoder") == [f"residual_128_{idx}_conv2d_0"
                                            for idx in range(16)]
    for name in ("conv_128_0_conv2d", "conv_128_3_conv2d", "pixel_shuffler", "pixel_shuffler_1",
                 "separableconv2d_256_0_seperableconv2d", "separableconv2d_256_0_relu",
                 "conv_512_0_conv2d", "separableconv2d_1024_0_seperableconv2d",
                 "upscale_512_0_pixelshuffler"):
        assert name in encoder
    # The first convolution has no activation: a separate LeakyReLU follows it
    assert "conv_128_0_leakyrelu" not in encoder and "conv_128_1_leakyrelu" in encoder
    decoder_a = layer_names(model, "decoder_a")
    for name in ("upscale_512_1_conv2d_conv2d", "residual_512_0_conv2d_0",
                 "residual_128_16_conv2d_0", "face_out_a_0"):
        assert name in decoder_a
    assert "upscale_512_1_conv2d_leakyrelu" not in decoder_a
    assert "face_out_b_0" in layer_names(model, "decoder_b")


def test_blocks_use_the_plugin_initializer(tmp_path):
    model = build_network(make_plugin("villain", tmp_path))
    encoder = model.get_layer("encoder")
    for name in ("conv_128_0_conv2d", "residual_128_3_conv2d_0", "dense", "dense_1",
                 "upscale_512_0_conv2d_conv2d"):
        initializer = encoder.get_layer(name).get_config()["kernel_initializer"]
        assert initializer["class_name"] == "RandomNormal", name
        assert initializer["config"]["stddev"] == pytest.approx(0.02)
    separable = encoder.get_layer("separableconv2d_256_0_seperableconv2d").get_config()
    assert separable["depthwise_initializer"]["class_name"] == "RandomNormal"
    assert separable["pointwise_initializer"]["class_name"] == "RandomNormal"
    decoder = model.get_layer("decoder_a")
    upscale = decoder.get_layer("upscale_256_0_conv2d_conv2d").get_config()
    assert upscale["kernel_initializer"]["class_name"] == "RandomNormal"
    assert upscale["kernel_size"] == (3, 3)


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("villain", tmp_path))
    outputs = forward_outputs(model, 128)
    assert [out.shape for out in outputs] == [(1, 128, 128, 3)] * 2
    faces = random_faces(128)
    expected_b = decoder_face(model, "b", faces)
    np.testing.assert_allclose(outputs[1], expected_b, atol=1e-5)


def test_learn_mask_build(tmp_path):
    model = build_network(make_plugin("villain", tmp_path, LEARN_MASK))
    assert model.count_params() == 185_799_432  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder_a", "decoder_a", "decoder_b", "decoder_b"]
    decoder_a = layer_names(model, "decoder_a")
    assert "upscale_512_2_conv2d_leakyrelu" in decoder_a and "mask_out_a_0" in decoder_a
    assert "mask_out_b_0" in layer_names(model, "decoder_b")


def test_villain_lowmem(tmp_path):
    """Villain's own lowmem: 8 residual blocks and no 1024 separable convolution, but MORE
    weights, since the dense layer then sees 8 * 8 * 512 features instead of 4 * 4 * 1024."""
    plugin = make_plugin("villain", tmp_path, {"model.villain": {"lowmem": True}})
    assert plugin.low_mem is False and plugin.encoder_dim == 1024
    model = build_network(plugin)
    assert model.count_params() == 168_992_774  # Faceswap 3's build (after acdcfa87)
    encoder = layer_names(model, "encoder")
    assert _residuals(model, "encoder") == [f"residual_128_{idx}_conv2d_0"
                                            for idx in range(8)]
    assert "separableconv2d_1024_0_seperableconv2d" not in encoder
    assert "residual_128_8_conv2d_0" in layer_names(model, "decoder_a")
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2


def test_original_lowmem_sets_encoder_dim(tmp_path):
    """``[model.original] lowmem`` halves the dense width (1024 -> 512): the first dense layer
    (4 * 4 * 1024 -> width, with bias) and the second (width -> 8 * 8 * 1024) shrink."""
    plugin = make_plugin("villain", tmp_path, {"model.original": {"lowmem": True}})
    assert plugin.low_mem is True and plugin.encoder_dim == 512
    model = build_network(plugin)

    def dense_weights(width: int) -> int:
        return (16384 * width + width) + (width * 8 * 8 * 1024 + 8 * 8 * 1024)

    assert model.count_params() == 155_115_014 - dense_weights(1024) + dense_weights(512)
    assert len(_residuals(model, "encoder")) == 16


def test_config_items():
    item = villain_defaults.lowmem
    assert (item.datatype, item.default, item.fixed) == (bool, False, True)
    assert isinstance(villain_defaults.HELPTEXT, str) and villain_defaults.HELPTEXT


def test_lowmem_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"'sometimes'.*model\.villain\.lowmem"):
        make_plugin("villain", tmp_path, {"model.villain": {"lowmem": "sometimes"}})
