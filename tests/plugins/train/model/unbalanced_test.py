"""The unbalanced plugin: parameter counts, sub-models, names and shapes of its builds."""
from __future__ import annotations

import keras
import pytest

from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    layer_names,
    make_plugin,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

LOWMEM = {"model.unbalanced": {"lowmem": True}}


def _layer_classes(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


_SUB_MODELS = ["unbalanced", "encoder", "decoder_a", "decoder_b"]
CASES = [
    BuildCase(
        "default", "unbalanced", 207_046_186, [(None, 128, 128, 3)] * 2, smoke=True,
        attributes={"model_name": "unbalanced", "input_shape": (128, 128, 3), "low_mem": False,
                    "encoder_dim": 1024},
        sub_models=_SUB_MODELS, input_shapes=[(None, 128, 128, 3)] * 2),
    BuildCase(
        "learn_mask", "unbalanced", 247_538_316, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        options=LEARN_MASK, sub_models=_SUB_MODELS,
        layers={"decoder_a": ("upscale_384_2_conv2d_conv2d", "mask_out_a_0"),
                "decoder_b": ("mask_out_b_0",)}),
    BuildCase(
        "lowmem_learn_mask", "unbalanced", None,
        [(None, 128, 128, 3), (None, 128, 128, 1)] * 2, options={**LOWMEM, **LEARN_MASK},
        slow=True),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_default_layers_and_forward_pass(tmp_path):
    model = build_network(make_plugin("unbalanced", tmp_path))
    encoder = model.get_layer("encoder")
    assert tuple(encoder.output.shape) == (None, 8, 8, 512)
    names = layer_names(encoder)
    # instance normalization in the first two convolutions only
    assert {"conv_128_0_instancenorm", "conv_256_0_instancenorm", "conv_512_0_conv2d",
            "conv_768_0_leakyrelu", "conv_1024_0_conv2d"} <= names
    assert not {"conv_512_0_instancenorm", "conv_768_0_instancenorm"} & names
    # every convolution and dense layer of the face path uses RandomNormal(0, 0.02)
    for layer in (encoder.get_layer("conv_128_0_conv2d"), encoder.get_layer("conv_1024_0_conv2d"),
                  *[layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]):
        initializer = layer.kernel_initializer
        assert isinstance(initializer, keras.initializers.RandomNormal), layer.name
        assert (initializer.mean, initializer.stddev) == (0.0, 0.02)
    decoder_a = model.get_layer("decoder_a")
    assert [layer.rate for layer in decoder_a.layers
            if isinstance(layer, keras.layers.SpatialDropout2D)] == [0.25, 0.25]
    assert {"upscale_384_0_conv2d_conv2d", "upscale_384_1_pixelshuffler",
            "upscale_96_0_conv2d_leakyrelu", "face_out_a_0"} <= layer_names(decoder_a)
    assert decoder_a.get_layer("upscale_384_0_conv2d_conv2d").kernel_size == (5, 5)
    decoder_b = model.get_layer("decoder_b")
    assert {"upscale_512_0_pixelshuffler", "residual_512_1_conv2d_1", "residual_256_0_leakyrelu_3",
            "upscale_128_0_conv2d_leakyrelu", "face_out_b_0"} <= layer_names(decoder_b)
    assert "SpatialDropout2D" not in _layer_classes(decoder_b)

    outputs = forward_outputs(model, 128)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


def test_learn_mask_branch_keeps_the_block_defaults(tmp_path):
    model = build_network(make_plugin("unbalanced", tmp_path, LEARN_MASK))
    decoder_a = model.get_layer("decoder_a")
    # the mask branch keeps the blocks' defaults (kernel 3, He uniform)
    assert decoder_a.get_layer("upscale_384_2_conv2d_conv2d").kernel_size == (3, 3)


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("unbalanced", tmp_path, LEARN_MASK), policy="mixed_float16")
    assert model.get_layer("encoder").get_layer("conv_512_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


@pytest.mark.slow
def test_lowmem(tmp_path):
    plugin = make_plugin("unbalanced", tmp_path, LOWMEM)
    assert (plugin.low_mem, plugin.encoder_dim) == (True, 512)
    model = build_network(plugin)
    assert model.count_params() == 107_962_506
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert tuple(model.get_layer("encoder").output.shape) == (None, 8, 8, 384)
    decoder_a = model.get_layer("decoder_a")
    assert [layer.rate for layer in decoder_a.layers
            if isinstance(layer, keras.layers.SpatialDropout2D)] == [0.25, 0.15]
    assert "upscale_320_0_pixelshuffler" in layer_names(decoder_a)
    decoder_b = model.get_layer("decoder_b")
    assert "upscale_48_0_pixelshuffler" in layer_names(decoder_b)
    assert not any(name.startswith("residual_") for name in layer_names(decoder_b))


@pytest.mark.slow
def test_sizes_and_complexities(tmp_path):
    plugin = make_plugin("unbalanced", tmp_path, {"model.unbalanced": {
        "input_size": 64, "nodes": 512, "complexity_encoder": 64, "complexity_decoder_a": 256,
        "complexity_decoder_b": 256}})
    assert plugin.encoder_dim == 512
    model = build_network(plugin)
    assert tuple(model.get_layer("encoder").output.shape) == (None, 4, 4, 512)
    assert "conv_64_0_instancenorm" in layer_names(model, "encoder")
    assert "upscale_256_0_pixelshuffler" in layer_names(model, "decoder_a")
    assert "residual_128_0_conv2d_0" in layer_names(model, "decoder_b")
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 64, 64, 3)] * 2
