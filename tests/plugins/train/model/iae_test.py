"""The IAE plugin: parameter counts, sub-models, shared decoder, shapes and layer names."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    make_plugin,
    random_faces,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_INTER = {f"inter_{side}": (None, 16384) for side in ("a", "b", "both")}
CASES = [
    BuildCase(
        "default", "iae", 117_816_003, [(None, 64, 64, 3)] * 2,
        ["decoder", "decoder"], smoke=True,  # one decoder serves both sides
        attributes={"input_shape": (64, 64, 3), "encoder_dim": 1024},
        sub_models=["iae", "encoder", "inter_a", "inter_both", "inter_b", "decoder"],
        input_shapes=[(None, 64, 64, 3)] * 2,
        sub_model_inputs=_INTER,
        sub_model_outputs={"encoder": (None, 4 * 4 * 1024),
                           **{name: (None, 4, 4, 512) for name in _INTER}},
        # dense 16384 -> 1024 -> 4 * 4 * 512, with biases
        sub_model_params={name: 16384 * 1024 + 1024 + 1024 * 8192 + 8192 for name in _INTER},
        layers={"encoder": ("conv_1024_0_conv2d",),
                "decoder": ("upscale_512_0_conv2d_conv2d", "upscale_64_0_pixelshuffler",
                            "face_out_0_conv2d", "face_out_0")}),
    BuildCase(
        "learn_mask", "iae", 142_888_964, [(None, 64, 64, 3), (None, 64, 64, 1)] * 2,
        ["decoder"] * 4, options=LEARN_MASK, last_sub_model="decoder",
        # the mask branch
        layers={"decoder": ("upscale_512_1_conv2d_conv2d", "mask_out_0", "face_out_0")}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_forward_pass_wiring(tmp_path):
    """Side A is decoded from [inter_a, inter_both], side B from [inter_b, inter_both]
    (concatenated on channels, own intermediate first), through the one decoder."""
    model = build_network(make_plugin("iae", tmp_path))
    outputs = forward_outputs(model, 64, batch=2)
    assert [out.shape for out in outputs] == [(2, 64, 64, 3)] * 2

    faces = random_faces(64, batch=2)
    encoded = to_numpy(model.get_layer("encoder")(faces))
    inter = {side: to_numpy(model.get_layer(f"inter_{side}")(encoded))
             for side in ("a", "b", "both")}
    decoder = model.get_layer("decoder")
    for output, side in zip(outputs, "ab", strict=True):
        joined = np.concatenate([inter[side], inter["both"]], axis=-1)
        expected = to_numpy(keras.tree.flatten(decoder(joined))[0])
        np.testing.assert_allclose(output, expected, atol=1e-5)
    assert not np.allclose(outputs[0], outputs[1], atol=1e-5)  # inter_a and inter_b differ


def test_no_defaults_module():
    with pytest.raises(ModuleNotFoundError):
        __import__("plugins.train.model.iae_defaults")
