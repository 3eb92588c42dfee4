"""The training preview: colour conversion, the learned-mask tint, the layout and the PNG."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from plugins.train.trainer import _display


def test_hex_to_bgr():
    assert _display._hex_to_bgr("#ff8000") == (0, 128, 255)
    assert _display._hex_to_bgr("0a0b0c") == (12, 11, 10)


def test_to_bgr_uint8_orders_rounds_and_resizes():
    images = np.zeros((1, 2, 2, 4), dtype="float32")
    images[..., 0], images[..., 2], images[..., 3] = 1.0, 0.5, 0.7  # 4th channel: a mask
    bgr = _display._to_bgr_uint8(images, "bgr", 2)
    assert bgr.dtype == np.uint8 and bgr.shape == (1, 2, 2, 3)
    assert bgr[0, 0, 0].tolist() == [255, 0, 128]              # round half up: 127.5 -> 128
    assert _display._to_bgr_uint8(images, "rgb", 2)[0, 0, 0].tolist() == [128, 0, 255]
    assert _display._to_bgr_uint8(images, "bgr", 8).shape == (1, 8, 8, 3)


def test_tint_outside_the_mask_with_the_configured_colour():
    faces = np.full((1, 4, 4, 3), 100, dtype="uint8")
    masks = np.zeros((1, 4, 4, 1), dtype="float32")
    masks[:, :2] = 1.0                                         # the top half is face
    tinted = _display._tint(faces, masks, 4)
    # defaults: opacity 30 %, colour #ff0000 (BGR 0, 0, 255)
    outside = np.array([100 * 0.7, 100 * 0.7, 100 * 0.7 + 255 * 0.3])
    np.testing.assert_array_equal(tinted[0, 3, 3], np.floor(outside + 0.5).astype("uint8"))
    np.testing.assert_array_equal(tinted[0, 0, 0], [100, 100, 100])
    assert _display._tint(faces, None, 4) is faces


def test_compose_preview_layout_and_png(tmp_path):
    count, size = 2, 16

    def predict(feeds, verbose=0):
        # the reconstruction of a feed is the feed itself, plus a one-channel mask of ones
        return [feeds[0], np.ones((count, size, size, 1)), feeds[1],
                np.ones((count, size, size, 1))]

    model = SimpleNamespace(model=SimpleNamespace(predict=predict), color_order="bgr")
    rng = np.random.default_rng(0)
    samples = {side: (rng.random((count, size, size, 3), dtype="float32"),
                      rng.random((count, size, size, 4), dtype="float32")) for side in "ab"}
    image = _display.compose_preview(model, samples)
    face = 128                                                 # faces are shown at >= 128 px
    assert image.shape == (24 + count * face, 2 * 3 * face + 8, 3)
    assert image.dtype == np.uint8
    path = tmp_path / "preview.png"
    _display.write_png(path, image)
    np.testing.assert_array_equal(cv2.imread(str(path)), image)
    assert not list(tmp_path.glob("*.tmp*"))
