"""Tests for faceswap_original.convert's crop: the one training crop (lib.align.training_crop),
so a model trained with a centering, coverage and vertical offset is fed the same framing."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from faceswap_original.convert import _read, swap_faces
from lib.align.aligned_face import AlignedFace
from tests.lib.align.faces import draw_frame, spec_landmarks, write_extract


class _Echo:
    """A swap model whose output is its input (channels last, size 32)."""

    inputs = [SimpleNamespace(shape=(None, 32, 32, 3))]

    @staticmethod
    def predict(feed, verbose=0):  # noqa: ARG004 - Keras' signature
        return feed


def _plugin(coverage: float = 1.0) -> SimpleNamespace:
    return SimpleNamespace(model=_Echo(), color_order="bgr", coverage_ratio=coverage)


def test_faceswap_extract_is_cut_as_training_cuts_it(tmp_path: Path) -> None:
    landmarks = spec_landmarks()
    write_extract(tmp_path / "frame_0.png", landmarks, draw_frame(landmarks), 512)
    image, box = _read(tmp_path / "frame_0.png", ("face", 0.875, 0.1))
    # faceswap_data.md §3.8: face, k = 0.875, y = 0.1 -> roi [88, 89, 424, 425]
    assert box == (88, 89, 336)
    assert box[:2] == AlignedFace(landmarks, "face", 64, 0.875, 0.1).crop_roi(512)[:2]
    assert image.shape == (512, 512, 3)


def test_simple_image_crop_and_offset(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), np.full((64, 64, 3), 9, "uint8"))
    _, box = _read(tmp_path / "face.png", ("face", 0.75, 0.0))
    assert box == (8, 8, 48)
    _, box = _read(tmp_path / "face.png", ("face", 1.0, 0.1))
    # the centre moves up by 0.1 x the face-centred core (64 * 0.5): rint(32 - 3.2) = 29
    assert box == (0, -3, 64)


def test_swap_faces_writes_back_only_the_crop_inside_the_image() -> None:
    rng = np.random.default_rng(0)
    image = cv2_smooth(rng)
    result = swap_faces(_plugin(), [image], boxes=[(-4, 6, 64)])[0]
    # an echo model: the face comes back as it was fed (resampled 64 -> 32 -> 64)
    inside = result[6 + 8:64 - 8, 8:60 - 8].astype(int)
    assert np.abs(inside - image[14:56, 8:52]).mean() < 6
    np.testing.assert_array_equal(result[:6], image[:6])  # above the crop: untouched
    default = swap_faces(_plugin(0.75), [image])[0]
    np.testing.assert_array_equal(default[:8], image[:8])  # outside the centred 48 px crop


def cv2_smooth(rng: np.random.Generator) -> np.ndarray:
    import cv2

    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (64, 64), interpolation=cv2.INTER_CUBIC)
