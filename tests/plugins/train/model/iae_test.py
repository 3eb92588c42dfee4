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
    layer_names,
    make_plugin,
    random_faces,
    sub_model_names,
)


@pytest.mark.smoke
def test_default_build(tmp_path):
    plugin = make_plugin("iae", tmp_path)
    assert plugin.input_shape == (64, 64, 3) and plugin.encoder_dim == 1024
    model = build_network(plugin)
    assert model.count_params() == 117_816_003  # Faceswap 3's build
    assert sub_model_names(model) == ["iae", "encoder", "inter_a", "inter_both", "inter_b",
                                      "decoder"]
    assert [tensor.name for tensor in model.inputs] == ["face_in_a", "face_in_b"]
    assert [tuple(tensor.shape) for tensor in model.inputs] == [(None, 64, 64, 3)] * 2
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 64, 64, 3)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder", "decoder"]  # one decoder serves both sides
    assert tuple(model.get_layer("encoder").output.shape) == (None, 4 * 4 * 1024)
    for side in ("a", "b", "both"):
        inter = model.get_layer(f"inter_{side}")
        assert tuple(inter.input.shape) == (None, 16384)
        assert tuple(inter.output.shape) == (None, 4, 4, 512)
        # dense 16384 -> 1024 -> 4 * 4 * 512, with biases
        assert inter.count_params() == 16384 * 1024 + 1024 + 1024 * 8192 + 8192
    assert "conv_1024_0_conv2d" in layer_names(model, "encoder")
    decoder = layer_names(model, "decoder")
    for name in ("upscale_512_0_conv2d_conv2d", "upscale_64_0_pixelshuffler",
                 "face_out_0_conv2d", "face_out_0"):
        assert name in decoder


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


def test_learn_mask_build(tmp_path):
    model = build_network(make_plugin("iae", tmp_path, LEARN_MASK))
    assert model.count_params() == 142_888_964  # Faceswap 3's build
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 64, 64, 3), (None, 64, 64, 1)] * 2
    assert all(tensor.dtype == "float32" for tensor in model.outputs)
    assert model.output_names == ["decoder"] * 4
    assert sub_model_names(model)[-1] == "decoder"
    decoder = layer_names(model, "decoder")
    assert "upscale_512_1_conv2d_conv2d" in decoder  # the mask branch
    assert "mask_out_0" in decoder and "face_out_0" in decoder


def test_no_defaults_module():
    with pytest.raises(ModuleNotFoundError):
        __import__("plugins.train.model.iae_defaults")
