"""The dlight plugin: parameter counts, sub-models, names and shapes, and the output_size check."""
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
    plugin = make_plugin("dlight", tmp_path)
    assert plugin.model_name == "dlight"
    assert plugin.input_shape == (128, 128, 3)
    assert (plugin.features, plugin.encoder_filters, plugin.encoder_dim) == (2, 64, 1664)
    assert (plugin.details, plugin.upscale_ratio) == (1, 4)
    model = build_network(plugin)
    assert model.count_params() == 143_614_006
    assert sub_model_names(model) == ["dlight", "encoder", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 256, 256, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)


def test_default_layer_names_and_forward_pass(tmp_path):
    model = build_network(make_plugin("dlight", tmp_path))
    encoder = model.get_layer("encoder")
    assert tuple(encoder.output.shape) == (None, 4, 4, 1024)
    assert {"conv_32_0_conv2d", "conv_64_0_leakyrelu", "conv_512_0_conv2d"} <= layer_names(
        encoder)
    # both decoders name their output "face_out": the shared counter tells them apart
    assert {"upscale2x_256_hyb_0_conv2d", "upscale2x_32_hyb_0_concatenate",
            "face_out_0"} <= layer_names(model, "decoder_a")
    assert {"upscale2x_512_hyb_0_upsampling2D", "residual_512_0_conv2d_0",
            "residual_512_4_conv2d_1", "residual_128_0_leakyrelu_3",
            "face_out_1"} <= layer_names(model, "decoder_b")
    outputs = forward_outputs(model, 128)
    assert [output.shape for output in outputs] == [(1, 256, 256, 3)] * 2


def test_learn_mask(tmp_path):
    model = build_network(make_plugin("dlight", tmp_path, LEARN_MASK))
    assert model.count_params() == 148_523_528
    assert sub_model_names(model) == ["dlight", "encoder", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 256, 256, 3), (None, 256, 256, 1)] * 2
    assert {"upscale2x_128_hyb_0_conv2d", "mask_out_0"} <= layer_names(model, "decoder_a")
    assert "mask_out_1" in layer_names(model, "decoder_b")


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("dlight", tmp_path, LEARN_MASK), policy="mixed_float16")
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("conv_32_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


@pytest.mark.slow
def test_lowmem_fast(tmp_path):
    plugin = make_plugin("dlight", tmp_path,
                         {"model.dlight": {"features": "lowmem", "details": "fast"}})
    assert (plugin.features, plugin.encoder_filters, plugin.encoder_dim) == (0, 48, 640)
    assert plugin.details == 0
    model = build_network(plugin)
    assert model.count_params() == 124_595_318
    assert sub_model_names(model) == ["dlight", "encoder", "decoder_a", "decoder_b_fast"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 256, 256, 3)] * 2
    assert {"upscale_512_0_pixelshuffler", "upscale2x_512_fast_0_conv2d"} <= layer_names(
        model, "decoder_b_fast")


@pytest.mark.slow
def test_fair_features(tmp_path):
    plugin = make_plugin("dlight", tmp_path, {"model.dlight": {"features": "fair"}})
    assert (plugin.features, plugin.encoder_filters, plugin.encoder_dim) == (1, 64, 1152)


@pytest.mark.slow
@pytest.mark.parametrize(("output_size", "ratio", "params"), [(128, 2, 115_299_382),
                                                               (384, 6, 190_805_046)])
def test_output_sizes(tmp_path, output_size, ratio, params):
    plugin = make_plugin("dlight", tmp_path, {"model.dlight": {"output_size": output_size}})
    assert plugin.upscale_ratio == ratio
    model = build_network(plugin)
    assert model.count_params() == params
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, output_size, output_size, 3)] * 2


@pytest.mark.parametrize("output_size", [200, 320])
def test_unsupported_output_size(tmp_path, output_size):
    with pytest.raises(FaceswapError, match=rf"{output_size} px.*128, 256 or 384.*"
                                            r"`output_size`.*\[model\.dlight\]"):
        make_plugin("dlight", tmp_path, {"model.dlight": {"output_size": output_size}})
