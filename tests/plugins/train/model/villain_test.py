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
    make_plugin,
    random_faces,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table


def _residuals(model: keras.Model, sub_model: str) -> list[str]:
    """The names of the residual blocks' first convolutions in ``sub_model``, in layer order."""
    return [layer.name for layer in model.get_layer(sub_model).layers
            if layer.name.startswith("residual_") and layer.name.endswith("_conv2d_0")]


def _residual_count(count: int):
    """A check: the encoder holds ``count`` residual blocks, numbered in order."""
    def check(model: keras.Model) -> None:
        assert _residuals(model, "encoder") == [f"residual_128_{idx}_conv2d_0"
                                                for idx in range(count)]
    return check


def _dense_weights(width: int) -> int:
    """The two dense layers at ``width``: 4 * 4 * 1024 -> width and width -> 8 * 8 * 1024, with
    biases."""
    return (16384 * width + width) + (width * 8 * 8 * 1024 + 8 * 8 * 1024)


_FACE = [(None, 128, 128, 3)] * 2
CASES = [
    BuildCase(
        "default", "villain", 155_115_014, _FACE, ["decoder_a", "decoder_b"], smoke=True,
        attributes={"input_shape": (128, 128, 3), "encoder_dim": 1024},
        sub_models=["villain", "encoder", "decoder_a", "decoder_b"], input_shapes=_FACE,
        sub_model_outputs={"encoder": (None, 16, 16, 512)},
        layers={"encoder": ("conv_128_0_conv2d", "conv_128_3_conv2d", "pixel_shuffler",
                            "pixel_shuffler_1", "separableconv2d_256_0_seperableconv2d",
                            "separableconv2d_256_0_relu", "conv_512_0_conv2d",
                            "separableconv2d_1024_0_seperableconv2d",
                            "upscale_512_0_pixelshuffler",
                            # the first convolution has no activation: a LeakyReLU follows it
                            "conv_128_1_leakyrelu"),
                "decoder_a": ("upscale_512_1_conv2d_conv2d", "residual_512_0_conv2d_0",
                              "residual_128_16_conv2d_0", "face_out_a_0"),
                "decoder_b": ("face_out_b_0",)},
        absent={"encoder": ("conv_128_0_leakyrelu",),
                "decoder_a": ("upscale_512_1_conv2d_leakyrelu",)},
        extra=_residual_count(16)),
    BuildCase(
        "learn_mask", "villain", 185_799_432, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        ["decoder_a", "decoder_a", "decoder_b", "decoder_b"], options=LEARN_MASK,
        layers={"decoder_a": ("upscale_512_2_conv2d_leakyrelu", "mask_out_a_0"),
                "decoder_b": ("mask_out_b_0",)}),
    # Villain's own lowmem: 8 residual blocks and no 1024 separable convolution, but MORE
    # weights, since the dense layer then sees 8 * 8 * 512 features instead of 4 * 4 * 1024.
    BuildCase(
        "villain_lowmem", "villain", 168_992_774,  # Faceswap 3's build (after acdcfa87)
        _FACE, options={"model.villain": {"lowmem": True}},
        attributes={"low_mem": False, "encoder_dim": 1024},
        layers={"decoder_a": ("residual_128_8_conv2d_0",)},
        absent={"encoder": ("separableconv2d_1024_0_seperableconv2d",)},
        extra=_residual_count(8)),
    # [model.original] lowmem halves the dense width (1024 -> 512)
    BuildCase(
        "original_lowmem_sets_encoder_dim", "villain",
        155_115_014 - _dense_weights(1024) + _dense_weights(512), _FACE,
        options={"model.original": {"lowmem": True}},
        attributes={"low_mem": True, "encoder_dim": 512}, extra=_residual_count(16)),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


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


def test_config_items():
    item = villain_defaults.lowmem
    assert (item.datatype, item.default, item.fixed) == (bool, False, True)
    assert isinstance(villain_defaults.HELPTEXT, str) and villain_defaults.HELPTEXT


def test_lowmem_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"'sometimes'.*model\.villain\.lowmem"):
        make_plugin("villain", tmp_path, {"model.villain": {"lowmem": "sometimes"}})
