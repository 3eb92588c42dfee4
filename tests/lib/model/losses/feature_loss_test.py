"""Tests for lib.model.losses.feature_loss: LPIPSLoss refuses to build without its weights."""
from __future__ import annotations

import keras
import pytest

from lib.errors import FaceswapError
from lib.model.losses.feature_loss import LPIPSLoss


@pytest.mark.smoke
@pytest.mark.parametrize("trunk", ["alex", "squeeze", "vgg16"])
def test_each_trunk_raises_faceswap_error_naming_problem_and_fix(trunk):
    with pytest.raises(FaceswapError) as info:
        LPIPSLoss(trunk)
    message = str(info.value)
    assert f"lpips_{trunk}" in message
    assert "pretrained" in message and "cannot download" in message
    for fix in ("ssim", "ms_ssim", "gmsd", "ffl", "[global.loss]"):
        assert fix in message


@pytest.mark.smoke
def test_keyword_arguments_are_accepted_before_the_error():
    with pytest.raises(FaceswapError, match="lpips_vgg16"):
        LPIPSLoss(trunk_network="vgg16", trunk_pretrained=False, trunk_eval_mode=False,
                  linear_pretrained=False, linear_eval_mode=False, linear_use_dropout=False,
                  lpips=False, spatial=True, normalize=False, ret_per_layer=True,
                  name="lpips", reduction="sum")


@pytest.mark.smoke
@pytest.mark.parametrize("trunk", ["alexnet", "ALEX", "vgg19", "", None, 3])
def test_unknown_trunk_raises_value_error(trunk):
    with pytest.raises(ValueError, match="trunk_network") as info:
        LPIPSLoss(trunk)
    assert not isinstance(info.value, FaceswapError)
    assert repr(trunk) in str(info.value)


@pytest.mark.smoke
def test_registered_under_faceswap_and_bare_names():
    """Configurations that name the class resolve to it (and then fail with the clear error)."""
    assert keras.saving.get_registered_object("faceswap>LPIPSLoss") is LPIPSLoss
    assert keras.saving.get_custom_objects()["LPIPSLoss"] is LPIPSLoss
    assert issubclass(LPIPSLoss, keras.losses.Loss)
    config = {"module": None, "class_name": "LPIPSLoss", "registered_name": "faceswap>LPIPSLoss",
              "config": {"trunk_network": "squeeze", "name": "LPIPSLoss",
                         "reduction": "sum_over_batch_size"}}
    with pytest.raises(FaceswapError, match="lpips_squeeze"):
        keras.saving.deserialize_keras_object(config)
