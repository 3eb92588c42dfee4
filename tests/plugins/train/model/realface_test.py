"""The realface plugin: parameter counts, sub-models, names and shapes, and its size checks."""
from __future__ import annotations

import pytest

from lib.utils import FaceswapError
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    layer_names,
    make_plugin,
    sub_model_names,
)


@pytest.mark.smoke
def test_default_build(tmp_path):
    plugin = make_plugin("realface", tmp_path)
    assert plugin.model_name == "realface"
    assert plugin.input_shape == (64, 64, 3)
    assert (plugin.downscalers_no, plugin._downscale_ratio) == (4, 16)  # pylint: disable=W0212
    assert (plugin.dense_width, plugin.upscalers_no, plugin.dense_filters) == (4, 5, 1024)
    model = build_network(plugin)
    assert model.count_params() == 238_241_676
    assert sub_model_names(model) == ["realface", "encoder", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 64, 64, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)


def test_default_layer_names_and_forward_pass(tmp_path):
    model = build_network(make_plugin("realface", tmp_path))
    encoder = model.get_layer("encoder")
    assert tuple(encoder.output.shape) == (None, 4, 4, 1024)
    assert {"conv_128_0_conv2d", "residual_128_1_conv2d_1", "residual_512_1_leakyrelu_3",
            "conv_1024_0_leakyrelu"} <= layer_names(encoder)
    # decoder A is two thirds of decoder B: 682 dense filters, 341 complexity
    assert {"upscale_682_0_pixelshuffler", "residual_682_0_conv2d_0",
            "upscale_341_0_conv2d_conv2d", "upscale_42_0_pixelshuffler",
            "face_out_a_0"} <= layer_names(model, "decoder_a")
    assert {"upscale_1024_0_pixelshuffler", "residual_1024_0_conv2d_0",
            "residual_512_3_conv2d_1", "residual_128_3_leakyrelu_3",
            "upscale_64_0_conv2d_leakyrelu", "face_out_b_0"} <= layer_names(model, "decoder_b")
    outputs = forward_outputs(model, 64)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


def test_learn_mask(tmp_path):
    model = build_network(make_plugin("realface", tmp_path, LEARN_MASK))
    assert model.count_params() == 268_800_878
    assert sub_model_names(model) == ["realface", "encoder", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert {"upscale_384_0_conv2d_conv2d", "upscale_48_0_pixelshuffler",
            "mask_out_a_0"} <= layer_names(model, "decoder_a")
    assert {"upscale_384_1_conv2d_conv2d", "mask_out_b_0"} <= layer_names(model, "decoder_b")


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("realface", tmp_path, LEARN_MASK), policy="mixed_float16")
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("conv_128_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


@pytest.mark.slow
def test_large_input_and_output(tmp_path):
    plugin = make_plugin("realface", tmp_path,
                         {"model.realface": {"input_size": 128, "output_size": 256}})
    assert (plugin.dense_width, plugin.upscalers_no, plugin.dense_filters) == (8, 5, 768)
    model = build_network(plugin)
    assert model.count_params() == 394_296_868
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 256, 256, 3)] * 2


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


@pytest.mark.slow
def test_small_output_builds(tmp_path):
    model = build_network(make_plugin("realface", tmp_path, {"model.realface": {
        "input_size": 96, "output_size": 96}}))
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 96, 96, 3)] * 2


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
