"""The dfl_sae plugin: parameter counts, sub-models, names and shapes of its df and liae builds."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from lib.errors import ConfigError
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    layer_names,
    make_plugin,
    sub_model_names,
)

LIAE = {"model.dfl_sae": {"architecture": "liae"}}


@pytest.mark.smoke
def test_default_build(tmp_path):
    plugin = make_plugin("dfl_sae", tmp_path)
    assert plugin.name == "dfl_sae"
    assert plugin.model_name == "dfl_sae_df"
    assert plugin.freeze_layers == plugin.load_layers == ["encoder_df"]
    assert plugin.input_shape == (128, 128, 3)
    assert plugin.ae_dims == 512
    assert Path(plugin.io.filename).name == "dfl_sae.keras"  # the plugin name, not model_name
    model = build_network(plugin)
    assert model.name == "dfl_sae_df"
    assert model.count_params() == 130_008_718
    assert sub_model_names(model) == ["dfl_sae_df", "encoder_df", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 128, 128, 3)] * 2
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)


def test_default_layer_names_and_forward_pass(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path))
    encoder = model.get_layer("encoder_df")
    assert tuple(encoder.output.shape) == (None, 16, 16, 512)
    # encoder_dims 42 x 3 channels = 126 filters, doubled three times
    assert {"conv_126_0_conv2d", "conv_252_0_leakyrelu", "conv_1008_0_conv2d",
            "upscale_512_0_pixelshuffler"} <= layer_names(encoder)
    decoder_a, decoder_b = model.get_layer("decoder_a"), model.get_layer("decoder_b")
    # decoder_dims 21 x 3 = 63: upscales of 504, 252, 126 filters, two residual blocks each
    assert {"upscale_504_0_conv2d_conv2d", "residual_504_1_conv2d_1", "residual_126_1_conv2d_0",
            "face_out_128_a_0"} <= layer_names(decoder_a)
    assert {"upscale_504_1_pixelshuffler", "residual_504_3_leakyrelu_3",
            "face_out_128_b_0"} <= layer_names(decoder_b)
    outputs = forward_outputs(model, 128)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


def test_learn_mask(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path, LEARN_MASK))
    assert model.count_params() == 137_476_404
    assert sub_model_names(model) == ["dfl_sae_df", "encoder_df", "decoder_a", "decoder_b"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    # the mask widths are decoder_dims (not x 3 channels) times 8, 4, 2
    assert {"upscale_168_0_conv2d_conv2d", "upscale_84_0_pixelshuffler",
            "upscale_42_0_conv2d_leakyrelu", "mask_out_a_0"} <= layer_names(model, "decoder_a")
    assert "mask_out_b_0" in layer_names(model, "decoder_b")


def test_outputs_float32_under_mixed_precision(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path, LEARN_MASK), policy="mixed_float16")
    assert model.get_layer("encoder_df").get_layer("conv_126_0_conv2d").compute_dtype == "float16"
    assert [tensor.dtype for tensor in model.outputs] == ["float32"] * 4


def test_liae_names(tmp_path):
    plugin = make_plugin("dfl_sae", tmp_path, LIAE)
    assert plugin.name == "dfl_sae"
    assert plugin.model_name == "dfl_sae_liae"
    assert plugin.freeze_layers == plugin.load_layers == ["encoder_liae"]
    assert Path(plugin.io.filename).name == "dfl_sae.keras"


@pytest.mark.parametrize(("architecture", "autoencoder_dims", "expected"), [
    ("df", 0, 512), ("liae", 0, 256), ("df", 256, 256), ("liae", 1024, 1024)])
def test_ae_dims(tmp_path, architecture, autoencoder_dims, expected):
    plugin = make_plugin("dfl_sae", tmp_path, {"model.dfl_sae": {
        "architecture": architecture, "autoencoder_dims": autoencoder_dims}})
    assert plugin.ae_dims == expected


@pytest.mark.slow
def test_liae(tmp_path):
    plugin = make_plugin("dfl_sae", tmp_path, LIAE)
    model = build_network(plugin)
    assert model.name == "dfl_sae_liae"
    assert model.count_params() == 121_746_593
    assert sub_model_names(model) == ["dfl_sae_liae", "encoder_liae", "intermediate_both",
                                      "intermediate_b", "decoder_both"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    # one decoder for both sides, fed the concatenation of two 512-channel intermediates
    assert tuple(model.get_layer("decoder_both").input.shape) == (None, 16, 16, 1024)
    assert {"face_out_128_both_0", "upscale_512_0_pixelshuffler"} <= layer_names(model)


@pytest.mark.slow
def test_liae_side_a_repeats_the_shared_intermediate(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path, LIAE))
    encoder = model.get_layer("encoder_liae")
    inter_both = model.get_layer("intermediate_both")
    decoder = model.get_layer("decoder_both")
    faces = np.random.default_rng(1).random((1, 128, 128, 3), dtype="float32")
    shared = inter_both(encoder(faces))
    expected = decoder(keras.ops.concatenate([shared, shared], axis=-1))
    expected = to_numpy(keras.tree.flatten(expected)[0])
    np.testing.assert_allclose(to_numpy(model([faces, faces])[0]), expected, atol=1e-5)


@pytest.mark.slow
def test_liae_learn_mask(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path, {**LIAE, **LEARN_MASK}))
    assert model.count_params() == 128_577_012
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    assert "mask_out_both_0" in layer_names(model)


@pytest.mark.slow
def test_multiscale_decoder(tmp_path):
    model = build_network(make_plugin("dfl_sae", tmp_path,
                                      {"model.dfl_sae": {"multiscale_decoder": True}}))
    assert model.count_params() == 130_122_130
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 32, 32, 3), (None, 64, 64, 3), (None, 128, 128, 3)] * 2
    assert {"face_out_32_a_0", "face_out_64_a_0", "face_out_128_a_0"} <= layer_names(
        model, "decoder_a")


@pytest.mark.slow
def test_autoencoder_dims_and_sizes(tmp_path):
    plugin = make_plugin("dfl_sae", tmp_path, {"model.dfl_sae": {
        "input_size": 64, "autoencoder_dims": 128, "encoder_dims": 21, "decoder_dims": 10}})
    assert plugin.ae_dims == 128
    model = build_network(plugin)
    encoder = model.get_layer("encoder_df")
    assert tuple(encoder.output.shape) == (None, 8, 8, 128)
    assert "conv_63_0_conv2d" in layer_names(encoder)  # 21 x 3
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 64, 64, 3)] * 2


def test_bad_architecture_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"architecture.*\['df', 'liae'\]"):
        make_plugin("dfl_sae", tmp_path, {"model.dfl_sae": {"architecture": "dfhd"}})
