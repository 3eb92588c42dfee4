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
    make_plugin,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

LIAE = {"model.dfl_sae": {"architecture": "liae"}}


_SUB_MODELS = ["dfl_sae_df", "encoder_df", "decoder_a", "decoder_b"]
_FACE_MASK = [(None, 128, 128, 3), (None, 128, 128, 1)] * 2
CASES = [
    BuildCase(
        "default", "dfl_sae", 130_008_718, [(None, 128, 128, 3)] * 2, smoke=True,
        attributes={"name": "dfl_sae", "model_name": "dfl_sae_df",
                    "freeze_layers": ["encoder_df"], "load_layers": ["encoder_df"],
                    "input_shape": (128, 128, 3), "ae_dims": 512},
        sub_models=_SUB_MODELS, input_shapes=[(None, 128, 128, 3)] * 2,
        sub_model_outputs={"encoder_df": (None, 16, 16, 512)},
        # encoder_dims 42 x 3 channels = 126 filters, doubled three times; decoder_dims 21 x 3 =
        # 63: upscales of 504, 252, 126 filters, two residual blocks each
        layers={"encoder_df": ("conv_126_0_conv2d", "conv_252_0_leakyrelu", "conv_1008_0_conv2d",
                               "upscale_512_0_pixelshuffler"),
                "decoder_a": ("upscale_504_0_conv2d_conv2d", "residual_504_1_conv2d_1",
                              "residual_126_1_conv2d_0", "face_out_128_a_0"),
                "decoder_b": ("upscale_504_1_pixelshuffler", "residual_504_3_leakyrelu_3",
                              "face_out_128_b_0")}),
    BuildCase(
        "learn_mask", "dfl_sae", 137_476_404, _FACE_MASK, options=LEARN_MASK,
        sub_models=_SUB_MODELS,
        # the mask widths are decoder_dims (not x 3 channels) times 8, 4, 2
        layers={"decoder_a": ("upscale_168_0_conv2d_conv2d", "upscale_84_0_pixelshuffler",
                              "upscale_42_0_conv2d_leakyrelu", "mask_out_a_0"),
                "decoder_b": ("mask_out_b_0",)}),
    BuildCase(
        "liae", "dfl_sae", 121_746_593, [(None, 128, 128, 3)] * 2, options=LIAE, slow=True,
        sub_models=["dfl_sae_liae", "encoder_liae", "intermediate_both", "intermediate_b",
                    "decoder_both"],
        # one decoder for both sides, fed the concatenation of two 512-channel intermediates
        sub_model_inputs={"decoder_both": (None, 16, 16, 1024)},
        layers={"dfl_sae_liae": ("face_out_128_both_0", "upscale_512_0_pixelshuffler")}),
    BuildCase(
        "liae_learn_mask", "dfl_sae", 128_577_012, _FACE_MASK, options={**LIAE, **LEARN_MASK},
        slow=True, last_sub_model="decoder_both",
        layers={"dfl_sae_liae": ("mask_out_both_0",)}),
    BuildCase(
        "multiscale_decoder", "dfl_sae", 130_122_130,
        [(None, 32, 32, 3), (None, 64, 64, 3), (None, 128, 128, 3)] * 2, slow=True,
        options={"model.dfl_sae": {"multiscale_decoder": True}},
        layers={"decoder_a": ("face_out_32_a_0", "face_out_64_a_0", "face_out_128_a_0")}),
    BuildCase(
        "autoencoder_dims_and_sizes", "dfl_sae", None, [(None, 64, 64, 3)] * 2, slow=True,
        options={"model.dfl_sae": {"input_size": 64, "autoencoder_dims": 128,
                                   "encoder_dims": 21, "decoder_dims": 10}},
        attributes={"ae_dims": 128}, sub_model_outputs={"encoder_df": (None, 8, 8, 128)},
        layers={"encoder_df": ("conv_63_0_conv2d",)}),  # 21 x 3
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_default_file_and_forward_pass(tmp_path):
    plugin = make_plugin("dfl_sae", tmp_path)
    assert Path(plugin.io.filename).name == "dfl_sae.keras"  # the plugin name, not model_name
    model = build_network(plugin)
    outputs = forward_outputs(model, 128)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


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


def test_bad_architecture_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"architecture.*\['df', 'liae'\]"):
        make_plugin("dfl_sae", tmp_path, {"model.dfl_sae": {"architecture": "dfhd"}})
