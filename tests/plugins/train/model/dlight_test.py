"""The dlight plugin: parameter counts, sub-models, names and shapes, and the output_size check."""
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

_SUB_MODELS = ["dlight", "encoder", "decoder_a", "decoder_b"]
CASES = [
    BuildCase(
        "default", "dlight", 143_614_006, [(None, 256, 256, 3)] * 2, smoke=True,
        attributes={"model_name": "dlight", "input_shape": (128, 128, 3), "features": 2,
                    "encoder_filters": 64, "encoder_dim": 1664, "details": 1,
                    "upscale_ratio": 4},
        sub_models=_SUB_MODELS, input_shapes=[(None, 128, 128, 3)] * 2,
        sub_model_outputs={"encoder": (None, 4, 4, 1024)},
        # both decoders name their output "face_out": the shared counter tells them apart
        layers={"encoder": ("conv_32_0_conv2d", "conv_64_0_leakyrelu", "conv_512_0_conv2d"),
                "decoder_a": ("upscale2x_256_hyb_0_conv2d", "upscale2x_32_hyb_0_concatenate",
                              "face_out_0"),
                "decoder_b": ("upscale2x_512_hyb_0_upsampling2D", "residual_512_0_conv2d_0",
                              "residual_512_4_conv2d_1", "residual_128_0_leakyrelu_3",
                              "face_out_1")}),
    BuildCase(
        "learn_mask", "dlight", 148_523_528, [(None, 256, 256, 3), (None, 256, 256, 1)] * 2,
        options=LEARN_MASK, sub_models=_SUB_MODELS,
        layers={"decoder_a": ("upscale2x_128_hyb_0_conv2d", "mask_out_0"),
                "decoder_b": ("mask_out_1",)}),
    BuildCase(
        "lowmem_fast", "dlight", 124_595_318, [(None, 256, 256, 3)] * 2, slow=True,
        options={"model.dlight": {"features": "lowmem", "details": "fast"}},
        attributes={"features": 0, "encoder_filters": 48, "encoder_dim": 640, "details": 0},
        sub_models=["dlight", "encoder", "decoder_a", "decoder_b_fast"],
        layers={"decoder_b_fast": ("upscale_512_0_pixelshuffler",
                                   "upscale2x_512_fast_0_conv2d")}),
    BuildCase(
        "output_size_128", "dlight", 115_299_382, [(None, 128, 128, 3)] * 2, slow=True,
        options={"model.dlight": {"output_size": 128}}, attributes={"upscale_ratio": 2}),
    BuildCase(
        "output_size_384", "dlight", 190_805_046, [(None, 384, 384, 3)] * 2, slow=True,
        options={"model.dlight": {"output_size": 384}}, attributes={"upscale_ratio": 6}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_default_forward_pass(tmp_path):
    model = build_network(make_plugin("dlight", tmp_path))
    outputs = forward_outputs(model, 128)
    assert [output.shape for output in outputs] == [(1, 256, 256, 3)] * 2


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("dlight", tmp_path, LEARN_MASK), policy="mixed_float16")
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("conv_32_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


@pytest.mark.slow
def test_fair_features(tmp_path):
    plugin = make_plugin("dlight", tmp_path, {"model.dlight": {"features": "fair"}})
    assert (plugin.features, plugin.encoder_filters, plugin.encoder_dim) == (1, 64, 1152)


@pytest.mark.parametrize("output_size", [200, 320])
def test_unsupported_output_size(tmp_path, output_size):
    with pytest.raises(FaceswapError, match=rf"{output_size} px.*128, 256 or 384.*"
                                            r"`output_size`.*\[model\.dlight\]"):
        make_plugin("dlight", tmp_path, {"model.dlight": {"output_size": output_size}})
