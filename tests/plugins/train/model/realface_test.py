"""The realface plugin: parameter counts, sub-models, names and shapes, and its size checks."""
from __future__ import annotations

import pytest

from lib.utils import FaceswapError
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    make_plugin,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_SUB_MODELS = ["realface", "encoder", "decoder_a", "decoder_b"]
CASES = [
    BuildCase(
        "default", "realface", 238_241_676, [(None, 128, 128, 3)] * 2, smoke=True,
        attributes={"model_name": "realface", "input_shape": (64, 64, 3), "downscalers_no": 4,
                    "_downscale_ratio": 16, "dense_width": 4, "upscalers_no": 5,
                    "dense_filters": 1024},
        sub_models=_SUB_MODELS, input_shapes=[(None, 64, 64, 3)] * 2,
        sub_model_outputs={"encoder": (None, 4, 4, 1024)},
        # decoder A is two thirds of decoder B: 682 dense filters, 341 complexity
        layers={"encoder": ("conv_128_0_conv2d", "residual_128_1_conv2d_1",
                            "residual_512_1_leakyrelu_3", "conv_1024_0_leakyrelu"),
                "decoder_a": ("upscale_682_0_pixelshuffler", "residual_682_0_conv2d_0",
                              "upscale_341_0_conv2d_conv2d", "upscale_42_0_pixelshuffler",
                              "face_out_a_0"),
                "decoder_b": ("upscale_1024_0_pixelshuffler", "residual_1024_0_conv2d_0",
                              "residual_512_3_conv2d_1", "residual_128_3_leakyrelu_3",
                              "upscale_64_0_conv2d_leakyrelu", "face_out_b_0")}),
    BuildCase(
        "learn_mask", "realface", 268_800_878, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        options=LEARN_MASK, sub_models=_SUB_MODELS,
        layers={"decoder_a": ("upscale_384_0_conv2d_conv2d", "upscale_48_0_pixelshuffler",
                              "mask_out_a_0"),
                "decoder_b": ("upscale_384_1_conv2d_conv2d", "mask_out_b_0")}),
    BuildCase(
        "large_input_and_output", "realface", 394_296_868, [(None, 256, 256, 3)] * 2,
        options={"model.realface": {"input_size": 128, "output_size": 256}}, slow=True,
        attributes={"dense_width": 8, "upscalers_no": 5, "dense_filters": 768},
        input_shapes=[(None, 128, 128, 3)] * 2),
    BuildCase(
        "small_output", "realface", None, [(None, 96, 96, 3)] * 2, slow=True,
        options={"model.realface": {"input_size": 96, "output_size": 96}}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_default_forward_pass(tmp_path):
    model = build_network(make_plugin("realface", tmp_path))
    outputs = forward_outputs(model, 64)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("realface", tmp_path, LEARN_MASK), policy="mixed_float16")
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("conv_128_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


@pytest.mark.parametrize(("input_size", "output_size", "width", "upscalers"), [
    (64, 64, 4, 4),     # 64 / 2**4 = 4 (x 16 = 64, the input) beats 64 / 2**5 = 2
    (64, 128, 4, 5),    # 128 / 2**4 = 8 (x 16 = 128) loses to 128 / 2**5 = 4 (x 16 = 64)
    (128, 128, 8, 4),
    (96, 160, 5, 5),    # 160 / 2**4 = 10 is not below 10
    (112, 256, 8, 5)])  # 256 / 2**4 = 16 is too wide
def test_dense_width_and_upscalers(tmp_path, input_size, output_size, width, upscalers):
    plugin = make_plugin("realface", tmp_path, {"model.realface": {
        "input_size": input_size, "output_size": output_size}})
    assert plugin.get_dense_width_upscalers_numbers() == (width, upscalers)
    assert (plugin.dense_width, plugin.upscalers_no) == (width, upscalers)
    assert plugin.dense_filters == (int(1024 - (width - 4) * 64) // 16) * 16


@pytest.mark.parametrize("input_size", [72, 100])
def test_input_size_not_divisible_by_16(tmp_path, input_size):
    with pytest.raises(FaceswapError, match=rf"{input_size} px.*`input_size` must be between 64 "
                                            r"and 128 and divisible by 16.*\[model\.realface\]"):
        make_plugin("realface", tmp_path, {"model.realface": {"input_size": input_size}})


@pytest.mark.parametrize("output_size", [80, 112, 250])
def test_output_size_not_divisible_by_32(tmp_path, output_size):
    with pytest.raises(FaceswapError, match=rf"{output_size} px.*`output_size` must be between "
                                            r"64 and 256 and divisible by 32.*"
                                            r"\[model\.realface\]"):
        make_plugin("realface", tmp_path, {"model.realface": {"output_size": output_size}})
