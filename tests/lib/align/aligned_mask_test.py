"""Tests for lib.align.aligned_mask: stored masks (faceswap_data.md §4.4 examples), landmark
masks and the localised eye/mouth masks."""
from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from lib.align import aligned_mask as am
from lib.align.aligned_face import AlignedFace
from tests.lib.align.faces import spec_landmarks


def _mask(payload: np.ndarray, centering: str = "face") -> am.Mask:
    size = payload.shape[0]
    return am.Mask(zlib.compress(payload.astype("uint8").tobytes()), np.eye(2, 3), 2, size,
                   centering)


def test_threshold_maps_the_spec_values() -> None:
    payload = np.array([[0, 10, 11, 128], [244, 245, 250, 255]], "uint8")
    square = np.zeros((4, 4), "uint8")
    square[:2] = payload
    out = _mask(square).get_mask(threshold=4)[..., 0]
    np.testing.assert_array_equal(out[:2], [[0, 0, 11, 128], [244, 255, 255, 255]])


def test_dilation_of_2_5_percent_is_a_3x3_plus() -> None:
    payload = np.zeros((128, 128), "uint8")
    payload[64, 64] = 255
    grown = _mask(payload).get_mask(dilation=2.5)[..., 0]
    expected = np.zeros((128, 128), "uint8")
    expected[63:66, 64] = expected[64, 63:66] = 255
    np.testing.assert_array_equal(grown, expected)
    block = np.zeros((128, 128), "uint8")
    block[10:20, 10:20] = 255
    shrunk = _mask(block).get_mask(dilation=-2.5)[..., 0]
    expected = np.zeros((128, 128), "uint8")
    expected[11:19, 11:19] = 255
    np.testing.assert_array_equal(shrunk, expected)
    # too small to make a kernel: nothing (Faceswap raises, spec Q8)
    np.testing.assert_array_equal(_mask(payload).get_mask(dilation=0.1)[..., 0], payload)


@pytest.mark.parametrize(("kernel", "blur_type", "sequence"), [
    (9, "gaussian", (9, 7, 7, 7)), (5, "normalized", (5, 3, 3, 3)), (3, "normalized", (3, 3)),
    (4, "gaussian", (5,))])
def test_blur_pass_kernels(kernel: int, blur_type: str, sequence: tuple[int, ...]) -> None:
    mask = np.zeros((32, 32, 1), "uint8")
    mask[10:20, 8:25] = 255
    expected = mask[..., 0]
    for size in sequence:
        expected = (cv2.GaussianBlur(expected, (size, size), 0) if blur_type == "gaussian"
                    else cv2.blur(expected, (size, size)))
    out = am.blur_mask(mask, kernel, blur_type, len(sequence))
    assert out.shape == (32, 32, 1)
    np.testing.assert_array_equal(out[..., 0], expected)
    assert am.blur_mask(mask, 0) is mask


@pytest.mark.parametrize(("target", "coverage", "side", "source", "dest"), [
    ("face", 0.875, 112, (slice(8, 120), slice(8, 120)), (slice(0, 112), slice(0, 112))),
    ("head", 1.0, 170, (slice(0, 142), slice(0, 149)), (slice(28, 156), slice(21, 149))),
    ("legacy", 1.0, 102, (slice(24, 126), slice(13, 115)), (slice(0, 102), slice(0, 102)))])
def test_sub_crop_slices_of_the_spec(target, coverage, side, source, dest) -> None:
    payload = np.random.default_rng(0).integers(1, 256, (128, 128), dtype="uint8")
    face = AlignedFace(spec_landmarks(), target, 256, coverage)
    out = _mask(payload).get_mask(sub_crop=(face, target))[..., 0]
    expected = np.zeros((side, side), "uint8")
    expected[dest] = payload[source]
    np.testing.assert_array_equal(out, expected)


def test_sub_crop_applies_the_vertical_offset_at_full_coverage() -> None:
    payload = np.random.default_rng(1).integers(1, 256, (128, 128), dtype="uint8")
    face = AlignedFace(spec_landmarks(), "face", 256, 1.0, 0.1)
    out = _mask(payload).get_mask(sub_crop=(face, "face"))[..., 0]
    # core 64 px: the crop centre moves up by rint(6.4) = 6 px
    np.testing.assert_array_equal(out[6:], payload[:122])
    assert not out[:6].any()
    still = AlignedFace(spec_landmarks(), "face", 256, 1.0, 0.0)
    np.testing.assert_array_equal(_mask(payload).get_mask(sub_crop=(still, "face"))[..., 0],
                                  payload)


def test_stored_landmark_masks_as_extract_stores_them() -> None:
    landmarks = spec_landmarks()
    mask = am.stored_landmark_mask(landmarks, "components")
    face = AlignedFace(landmarks, "face", 128)
    np.testing.assert_allclose(mask.affine_matrix, face.matrix() * 64 + [[0, 0, 32], [0, 0, 32]])
    assert (mask.stored_size, mask.stored_centering, mask.interpolator) == (128, "face", 2)
    again = am.Mask.from_dict(mask.to_dict())
    np.testing.assert_array_equal(again.stored_mask, mask.stored_mask)
    # the mask covers the nose tip and not the corners; extended reaches higher
    nose = np.rint(face.landmarks[30]).astype(int)
    stored = mask.stored_mask[..., 0]
    assert stored[nose[1], nose[0]] == 255 and stored[0, 0] == 0 and stored[-1, -1] == 0
    extended = am.stored_landmark_mask(landmarks, "extended").stored_mask[..., 0]
    brow = np.rint(face.landmarks[19]).astype(int)
    assert extended[brow[1] - 4, brow[0]] == 255 and stored[brow[1] - 4, brow[0]] == 0
    assert int(extended.sum()) > int(stored.sum())
    # the full-frame mask sits on the face in the frame
    full = cv2.warpAffine(stored, mask.affine_matrix, (640, 480),
                          flags=cv2.WARP_INVERSE_MAP | mask.interpolator)
    x, y = np.rint(landmarks[30]).astype(int)
    assert full[y, x] == 255 and full[5, 5] == 0


def test_components_polygons_against_an_independent_drawing() -> None:
    landmarks = spec_landmarks()
    aligned = AlignedFace(landmarks, "face", 256).landmarks
    drawn = am.components_mask(landmarks)[..., 0]
    # every part's hull is filled: points well inside the jaw outline are 1
    inside = cv2.pointPolygonTest(cv2.convexHull(np.rint(aligned[0:17]).astype("int32")),
                                  (128.0, 140.0), False)
    assert inside > 0 and drawn[140, 128] == 1.0
    assert drawn.shape == (256, 256) and drawn.max() == 1.0 and drawn[2, 2] == 0.0


def test_localised_masks() -> None:
    points = AlignedFace(spec_landmarks(), "face", 256).landmarks
    eye = am.landmark_mask(points, "eye", 256)[..., 0]
    mouth = am.landmark_mask(points, "mouth", 256)[..., 0]
    assert eye.dtype == np.uint8 and eye.shape == (256, 256)
    for index in (36, 39, 42, 45):
        x, y = np.rint(points[index]).astype(int)
        assert eye[y, x] > 100 and mouth[y, x] == 0
    x, y = np.rint(points[48:60].mean(axis=0)).astype(int)
    assert mouth[y, x] == 255 and eye[y, x] == 0
    # independent recipe: hull, dilate 6 px ellipse, gaussian 17, x255, truncate
    canvas = np.zeros((256, 256), "float32")
    cv2.fillConvexPoly(canvas, cv2.convexHull(np.rint(points[48:60]).astype("int32")), 1.0,
                       lineType=cv2.LINE_AA)
    canvas = cv2.dilate(canvas, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6, 6)))
    canvas = cv2.GaussianBlur(canvas, (17, 17), 0)
    np.testing.assert_array_equal(mouth, (canvas * 255).astype("uint8"))
    with pytest.raises(ValueError, match="68-point"):
        am.landmark_mask(points[:51], "eye", 256)


@pytest.mark.parametrize(("change", "message"), [
    ({"mask": zlib.compress(b"\x00" * 10)}, "does not hold"),
    ({"mask": b"not zlib"}, "not zlib"),
    ({"mask": zlib.compress(b"\x00" * (128 * 128 * 64))}, "does not hold"),
    ({"mask": "text"}, "bytes"),
    ({"stored_size": 1 << 20}, "stored_size"),
    ({"stored_size": 12.5}, "stored_size"),
    ({"stored_centering": "chin"}, "stored_centering"),
    ({"affine_matrix": [[1, 2], [3, 4]]}, "affine_matrix"),
    ({"interpolator": "cubic"}, "interpolator")])
def test_bad_mask_entries(change: dict, message: str) -> None:
    entry = am.stored_landmark_mask(spec_landmarks(), "components").to_dict()
    entry.update(change)
    with pytest.raises(ValueError, match=message):
        am.Mask.from_dict(entry)
    entry.pop("interpolator")
    with pytest.raises(ValueError, match="lacks"):
        am.Mask.from_dict(entry)
