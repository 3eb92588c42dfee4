"""The Lightweight plugin: parameter counts, sub-models, shapes and layer names."""
from __future__ import annotations

import numpy as np
import pytest

from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    decoder_face,
    forward_outputs,
    make_plugin,
    random_faces,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_FACE = [(None, 64, 64, 3)] * 2
CASES = [
    BuildCase(
        "default", "lightweight", 51_066_374, _FACE, ["decoder_a", "decoder_b"], smoke=True,
        attributes={"input_shape": (64, 64, 3), "encoder_dim": 512},
        sub_models=["lightweight", "encoder", "decoder_a", "decoder_b"],
        input_shapes=[(None, 64, 64, 3)] * 2,
        sub_model_outputs={"encoder": (None, 8, 8, 256)},
        layers={"encoder": ("conv_512_0_conv2d", "upscale_256_0_pixelshuffler"),
                "decoder_a": ("upscale_512_0_conv2d_conv2d", "upscale_256_1_pixelshuffler",
                              "upscale_128_0_conv2d_leakyrelu", "face_out_a_0_conv2d",
                              "face_out_a_0"),
                "decoder_b": ("face_out_b_0",)},
        absent={"encoder": ("conv_1024_0_conv2d",)},
        activations={("decoder_a", "face_out_a_0"): "sigmoid"}),
    BuildCase(
        "learn_mask", "lightweight", 72_313_608, [(None, 64, 64, 3), (None, 64, 64, 1)] * 2,
        ["decoder_a", "decoder_a", "decoder_b", "decoder_b"], options=LEARN_MASK,
        layers={"decoder_a": ("upscale_512_1_conv2d_conv2d",), "decoder_b": ("mask_out_b_0",)},
        activations={("decoder_a", "mask_out_a_0"): "sigmoid"}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("lightweight", tmp_path))
    outputs = forward_outputs(model, 64, batch=2)
    assert [out.shape for out in outputs] == [(2, 64, 64, 3)] * 2
    faces = random_faces(64, batch=2)
    expected_a = decoder_face(model, "a", faces)
    np.testing.assert_allclose(outputs[0], expected_a, atol=1e-5)


def test_original_lowmem_changes_nothing(tmp_path):
    """Lightweight reads the Original model's ``lowmem`` (as ``low_mem``) but its own encoder
    ignores it."""
    plugin = make_plugin("lightweight", tmp_path, {"model.original": {"lowmem": True}})
    assert plugin.low_mem is True
    assert build_network(plugin).count_params() == 51_066_374


def test_no_defaults_module():
    with pytest.raises(ModuleNotFoundError):
        __import__("plugins.train.model.lightweight_defaults")
