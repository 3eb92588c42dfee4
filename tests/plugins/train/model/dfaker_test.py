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
    make_plugin,
    random_faces,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

# Original's lowmem drops the encoder's 1024 convolution (5 * 5 * 512 * 1024 + 1024 weights);
# the dense layer stays 1024 wide but now sees 8 * 8 * 512 features instead of 4 * 4 * 1024.
_LOWMEM_PARAMS = 113_330_822 - (5 * 5 * 512 * 1024 + 1024) + (8 * 8 * 512 - 4 * 4 * 1024) * 1024
CASES = [
    BuildCase(
        "default", "dfaker", 113_330_822, [(None, 128, 128, 3)] * 2,
        ["decoder_a", "decoder_b"], smoke=True, attributes={"input_shape": (64, 64, 3)},
        sub_models=["dfaker", "encoder", "decoder_a", "decoder_b"],
        input_shapes=[(None, 64, 64, 3)] * 2,
        # The Original encoder, with the 1024 convolution (Original's lowmem is off)
        layers={"encoder": ("conv_1024_0_conv2d", "upscale_512_0_pixelshuffler"),
                "decoder_a": ("upscale_512_1_conv2d_conv2d", "residual_512_0_conv2d_0",
                              "residual_256_0_conv2d_1", "residual_128_0_leakyrelu_3",
                              "upscale_64_0_conv2d_leakyrelu", "face_out_a_0_conv2d",
                              "face_out_a_0"),
                "decoder_b": ("residual_512_1_conv2d_0", "face_out_b_0")},
        # The face upscales have no activation of their own (a separate LeakyReLU follows)
        absent={"decoder_a": ("upscale_512_1_conv2d_leakyrelu", "residual_1024_0_conv2d_0")}),
    BuildCase(
        "learn_mask", "dfaker", 144_602_376, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        ["decoder_a", "decoder_a", "decoder_b", "decoder_b"], options=LEARN_MASK,
        # The mask branch: plain leaky upscales, no residual blocks
        layers={"decoder_a": ("upscale_512_2_conv2d_leakyrelu", "mask_out_a_0"),
                "decoder_b": ("residual_512_1_conv2d_0", "mask_out_b_0")}),
    BuildCase(
        "output_size_256", "dfaker", 258_046_598, [(None, 256, 256, 3)] * 2,
        ["decoder_a", "decoder_b"], options={"model.dfaker": {"output_size": 256}},
        attributes={"input_shape": (128, 128, 3)}, input_shapes=[(None, 128, 128, 3)] * 2,
        layers={"decoder_a": ("residual_1024_0_conv2d_0",)}),
    # dfaker inherits Original's encoder, so [model.original] lowmem drops its 1024 convolution
    BuildCase(
        "original_lowmem", "dfaker", _LOWMEM_PARAMS, [(None, 128, 128, 3)] * 2,
        ["decoder_a", "decoder_b"], options={"model.original": {"lowmem": True}},
        absent={"encoder": ("conv_1024_0_conv2d",)}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


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
