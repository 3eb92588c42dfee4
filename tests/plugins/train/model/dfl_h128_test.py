"""The DFL-H128 plugin: parameter counts, sub-models, shapes, layer names and option errors."""
from __future__ import annotations

import numpy as np
import pytest

from lib.errors import ConfigError
from plugins.train.model import dfl_h128_defaults
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    decoder_face,
    forward_outputs,
    make_plugin,
    random_faces,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_FACE = [(None, 128, 128, 3)] * 2
CASES = [
    BuildCase(
        "default", "dfl_h128", 107_716_102, _FACE, ["decoder_a", "decoder_b"], smoke=True,
        attributes={"input_shape": (128, 128, 3), "encoder_dim": 512},
        sub_models=["dfl_h128", "encoder", "decoder_a", "decoder_b"], input_shapes=_FACE,
        sub_model_outputs={"encoder": (None, 16, 16, 512)},
        layers={"encoder": ("conv_128_0_conv2d", "conv_1024_0_conv2d", "conv_1024_0_leakyrelu",
                            "upscale_512_0_pixelshuffler"),
                "decoder_a": ("upscale_512_1_conv2d_conv2d", "upscale_256_0_pixelshuffler",
                              "upscale_128_0_conv2d_leakyrelu", "face_out_a_0_conv2d",
                              "face_out_a_0"),
                "decoder_b": ("upscale_512_2_conv2d_conv2d", "face_out_b_0")}),
    BuildCase(
        "learn_mask", "dfl_h128", 138_400_520, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        ["decoder_a", "decoder_a", "decoder_b", "decoder_b"], options=LEARN_MASK,
        layers={"decoder_a": ("upscale_512_2_conv2d_conv2d", "mask_out_a_0"),
                "decoder_b": ("upscale_512_3_conv2d_conv2d", "mask_out_b_0")}),
    BuildCase(
        "lowmem", "dfl_h128", 48_244_102, _FACE, options={"model.dfl_h128": {"lowmem": True}},
        attributes={"encoder_dim": 256}, sub_model_outputs={"encoder": (None, 16, 16, 256)},
        layers={"encoder": ("upscale_256_0_pixelshuffler",),
                "decoder_a": ("upscale_64_0_pixelshuffler",)},
        absent={"decoder_a": ("upscale_512_0_pixelshuffler",)}),
    # Only this plugin's own lowmem counts: it overrides the encoder Original's option would
    # shrink.
    BuildCase(
        "original_lowmem_changes_nothing", "dfl_h128", 107_716_102, _FACE,
        options={"model.original": {"lowmem": True}},
        attributes={"low_mem": True, "encoder_dim": 512}),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


def test_forward_pass(tmp_path):
    model = build_network(make_plugin("dfl_h128", tmp_path))
    outputs = forward_outputs(model, 128)
    assert [out.shape for out in outputs] == [(1, 128, 128, 3)] * 2
    faces = random_faces(128)
    expected_b = decoder_face(model, "b", faces)
    np.testing.assert_allclose(outputs[1], expected_b, atol=1e-5)


def test_config_items():
    item = dfl_h128_defaults.lowmem
    assert (item.datatype, item.default, item.fixed) == (bool, False, True)
    assert isinstance(dfl_h128_defaults.HELPTEXT, str) and dfl_h128_defaults.HELPTEXT


def test_lowmem_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"'maybe'.*model\.dfl_h128\.lowmem"):
        make_plugin("dfl_h128", tmp_path, {"model.dfl_h128": {"lowmem": "maybe"}})
