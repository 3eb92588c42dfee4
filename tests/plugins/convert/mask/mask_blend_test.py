"""Tests for plugins/convert/mask/mask_blend.py against OpenCV recomputations (spec §6.3)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from plugins.convert.mask.mask_blend import MaskBlend


def _box(size: int) -> np.ndarray:
    box = np.zeros((size, size), "float32")
    edge = size // 32 + 1
    box[edge:-edge, edge:-edge] = 1
    return box


@pytest.mark.parametrize("size, ksize", [(64, 7), (128, 15), (256, 29)])
def test_box_kernel_sizes(size: int, ksize: int) -> None:
    blend = MaskBlend("extended", size)
    expected = cv2.GaussianBlur(_box(size), (ksize, ksize), 0)
    np.testing.assert_array_equal(blend.box[..., 0], expected)


def test_box_not_blurred_for_type_none() -> None:
    np.testing.assert_array_equal(MaskBlend("extended", 64, type="none").box[..., 0], _box(64))


def test_mask_type_none_is_all_ones_without_box() -> None:
    mask, raw = MaskBlend("none", 64).run()
    np.testing.assert_array_equal(mask, np.ones((64, 64, 1), "float32"))
    np.testing.assert_array_equal(raw, mask)


def test_stored_mask_is_resized_and_boxed() -> None:
    stored = np.zeros((128, 128, 1), "uint8")
    cv2.circle(stored, (64, 60), 50, 255, -1)
    blend = MaskBlend("components", 64)
    mask, raw = blend.run(stored)
    expected_raw = cv2.resize(stored, (64, 64), interpolation=cv2.INTER_AREA) / 255.0
    np.testing.assert_allclose(raw[..., 0], expected_raw, atol=1e-6)
    np.testing.assert_allclose(mask[..., 0], np.minimum(expected_raw, blend.box[..., 0]),
                               atol=1e-6)
    assert mask.shape == raw.shape == (64, 64, 1) and mask.dtype == np.float32
    small = cv2.resize(stored, (32, 32), interpolation=cv2.INTER_AREA)
    _, raw_up = blend.run(small[..., None])
    np.testing.assert_allclose(
        raw_up[..., 0], cv2.resize(small, (64, 64), interpolation=cv2.INTER_CUBIC) / 255.0,
        atol=1e-6)


def test_stored_mask_options_for_lib_align() -> None:
    assert MaskBlend("extended", 64).stored_mask_options() == {
        "threshold": 4, "blur_kernel": 3, "blur_type": "normalized", "blur_passes": 4}


def test_predicted_mask_is_blurred_with_the_blend_settings() -> None:
    rng = np.random.default_rng(0)
    predicted = (rng.random((64, 64, 1)) > 0.5).astype("float32")
    _, raw = MaskBlend("predicted", 64, type="normalized", kernel_size=3, passes=4).run(predicted)
    expected = predicted[..., 0]
    for _ in range(4):  # 3 x 0.5 = 1.5 -> 2 -> bumped to odd: 3 every pass
        expected = cv2.blur(expected, (3, 3))
    np.testing.assert_allclose(raw[..., 0], expected, atol=1e-6)
    _, raw_gauss = MaskBlend("predicted", 64, type="gaussian", kernel_size=9,
                             passes=2).run(predicted)
    expected = cv2.GaussianBlur(cv2.GaussianBlur(predicted[..., 0], (9, 9), 0), (7, 7), 0)
    np.testing.assert_allclose(raw_gauss[..., 0], expected, atol=1e-6)


def _square(size: int = 128, left: int = 30, top: int = 40, side: int = 60) -> np.ndarray:
    mask = np.zeros((size, size, 1), "uint8")
    mask[top:top + side, left:left + side] = 255
    return mask


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask[..., 0] > 0.5)
    return cols.min(), rows.min(), cols.max(), rows.max()  # left, top, right, bottom


def test_centre_erosion_uses_an_ellipse_of_the_mask_radius() -> None:
    stored = _square()
    blend = MaskBlend("components", 128, type="none", erosion=20)
    mask, raw = blend.run(stored)
    radius = np.sqrt(np.sum(stored / 255.0)) / 2  # 30
    size = int(0.2 * radius)  # 6
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    expected = np.minimum(cv2.erode(raw[..., 0], kernel), blend.box[..., 0])
    np.testing.assert_array_equal(mask[..., 0], expected)
    assert np.sum(mask) < np.sum(raw)
    _, _, dilated_right, _ = _extent(MaskBlend("components", 128, type="none",
                                               erosion=-20).run(stored)[0])
    assert dilated_right > _extent(raw)[2]


@pytest.mark.parametrize("option, side", [("erosion_left", 0), ("erosion_top", 1),
                                          ("erosion_right", 2), ("erosion_bottom", 3)])
def test_directional_erosion_moves_its_own_side(option: str, side: int) -> None:
    stored = _square()
    raw_extent = np.array(_extent(stored / 255.0))
    size = int(0.2 * np.sqrt(np.sum(stored / 255.0)) / 2)  # 6 px
    inward = np.array([1, 1, -1, -1])
    for amount, sign in ((20, 1), (-20, -1)):
        mask, _ = MaskBlend("components", 128, type="none", **{option: amount}).run(stored)
        moved = np.array(_extent(mask)) - raw_extent
        expected = np.zeros(4, int)
        expected[side] = sign * inward[side] * (size - 1)
        if option == "erosion_left":
            # Faceswap quirk (spec §6.3): the left kernel is a full square with a centred y
            # anchor (3 of 0-5), so the top and bottom move too.
            expected[1], expected[3] = (3, -2) if sign > 0 else (-2, 3)
        np.testing.assert_array_equal(moved, expected, err_msg=f"{option}={amount}")


def test_unknown_option_and_missing_mask() -> None:
    with pytest.raises(ValueError, match="Unknown mask_blend options"):
        MaskBlend("extended", 64, blur=3)
    with pytest.raises(ValueError, match="needs a mask"):
        MaskBlend("extended", 64).run(None)
