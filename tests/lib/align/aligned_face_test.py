"""Tests for lib.align.aligned_face against NumPy and faceswap_data.md's worked examples."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.align import aligned_face as af
from tests.lib.align.faces import spec_landmarks


def _similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    rad = np.deg2rad(degrees)
    return np.array([[scale * np.cos(rad), -scale * np.sin(rad), shift[0]],
                     [scale * np.sin(rad), scale * np.cos(rad), shift[1]]])


def test_umeyama_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 100, (30, 2))
    truth = _similarity(0.37, -23.0, (5.0, -7.5))
    destination = source @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(af.umeyama(source, destination), truth, atol=1e-10)
    # with noise it is the least-squares fit: no other similarity nearby does better
    noisy = destination + rng.normal(0, 0.5, destination.shape)
    fit = af.umeyama(source, noisy)
    error = np.sum((source @ fit[:, :2].T + fit[:, 2] - noisy) ** 2)
    for delta in (_similarity(1.001, 0.1, (0.01, 0)), _similarity(0.999, -0.1, (0, 0.01))):
        other = np.vstack([delta, [0, 0, 1]]) @ np.vstack([fit, [0, 0, 1]])
        assert np.sum((source @ other[:2, :2].T + other[:2, 2] - noisy) ** 2) > error
    assert np.isnan(af.umeyama(np.ones((5, 2)), source[:5])).all()


def test_worked_example_matrices_and_pose() -> None:
    landmarks = spec_landmarks()
    face = af.AlignedFace(landmarks, "face", 256)
    # M_L is the inverse similarity: scale 1/200, rotation -10 degrees, (320, 240) -> (0.5, 0.5)
    inverse = np.linalg.inv(np.vstack([_similarity(200, 10, (0, 0)), [0, 0, 1]]))[:2]
    inverse[:, 2] = np.array([0.5, 0.5]) - inverse[:, :2] @ np.array([320.0, 240.0])
    np.testing.assert_allclose(face.legacy_matrix, inverse, atol=1e-6)
    np.testing.assert_allclose(face.legacy_matrix, [[0.0049240, 0.00086824, -1.284070],
                                                    [-0.00086824, 0.0049240, -0.403932]],
                               atol=1e-6)
    np.testing.assert_allclose(face.pose.offset["face"], [0.0, -0.171288], atol=1e-4)
    np.testing.assert_allclose(face.pose.offset["head"], [0.0, -0.275769], atol=1e-4)
    np.testing.assert_array_equal(face.pose.offset["legacy"], [0.0, 0.0])
    pitch, yaw, roll = face.pose.pitch_yaw_roll
    assert pitch == pytest.approx(3.43, abs=0.01) and abs(yaw) < 0.01 and abs(roll) < 0.01
    np.testing.assert_allclose(face.adjusted_matrix(), [[0.630277, 0.111135, -100.3609],
                                                        [-0.111135, 0.630277, 34.2216]],
                               atol=2e-4)
    assert face.interpolators == (cv2.INTER_AREA, cv2.INTER_CUBIC)
    head = af.AlignedFace(landmarks, "head", 512)
    np.testing.assert_allclose(head.adjusted_matrix(), [[0.945415, 0.166702, -86.5414],
                                                        [-0.166702, 0.945415, 135.39]],
                               atol=5e-3)  # the spec gives 135.39 to 2 decimals
    np.testing.assert_allclose(head.landmarks[30], [256.0, 311.95], atol=0.01)
    # the pose does not change under a similarity transform of the frame
    moved = af.AlignedFace(spec_landmarks(90.0, -25.0, (100.0, 400.0)), "face", 256)
    np.testing.assert_allclose(moved.pose.offset["face"], face.pose.offset["face"], atol=1e-4)


@pytest.mark.parametrize(("size", "coverage", "expected"), [
    (256, 1.0, (48, 64, 80)), (256, 0.875, (32, 48, 64)), (256, 0.75, (16, 32, 48)),
    (256, 0.625, (0, 16, 32)), (64, 1.0, (12, 16, 20)), (128, 1.0, (24, 32, 40)),
    (512, 1.0, (96, 128, 160))])
def test_padding_table(size: int, coverage: float, expected: tuple[int, int, int]) -> None:
    assert tuple(af.padding_from_coverage(size, coverage, centering)
                 for centering in ("legacy", "face", "head")) == expected


@pytest.mark.parametrize(("source", "size", "rows"), [
    ("head", 512, {"legacy": (308, 268, 230, 192), "face": (384, 336, 288, 240),
                   "head": (512, 448, 384, 320)}),
    ("face", 128, {"legacy": (102, 90, 76, 64), "face": (128, 112, 96, 80),
                   "head": (170, 150, 128, 106)}),
    ("legacy", 256, {"legacy": (256, 224, 192, 160)})])
def test_crop_side_tables(source: str, size: int, rows: dict) -> None:
    for target, sides in rows.items():
        assert tuple(af.get_centered_size(source, target, size, coverage)
                     for coverage in (1.0, 0.875, 0.75, 0.625)) == sides


@pytest.mark.parametrize(("target", "coverage", "y_offset", "side", "roi"), [
    ("face", 1.0, 0.0, 384, (64, 84, 448, 468)),
    ("face", 0.875, 0.0, 336, (88, 108, 424, 444)),
    ("face", 0.875, 0.1, 336, (88, 89, 424, 425)),
    ("legacy", 0.75, 0.0, 230, (141, 194, 371, 424)),
    ("head", 1.0, 0.0, 512, (0, 0, 512, 512))])
def test_crop_rectangles_of_the_worked_example(target, coverage, y_offset, side, roi) -> None:
    face = af.AlignedFace(spec_landmarks(), target, 256, coverage, y_offset)
    assert face.crop_size(512) == side
    assert face.crop_roi(512) == roi


def test_legacy_source_has_no_pose_shift() -> None:
    face = af.AlignedFace(spec_landmarks(), "legacy", 256, 0.875, 0.1, is_legacy=True)
    # C = 256 * 0.625 = 160; centre = 128 - 0.1 * 160 = 112; side 224
    assert face.crop_roi(256) == (16, 0, 240, 224)


def _marked_extract(landmarks: np.ndarray, size: int = 512) -> np.ndarray:
    """A head extract of a frame whose only bright pixels are discs on landmarks 30 and 8."""
    frame = np.zeros((480, 640), "uint8")
    for index in (30, 8):
        cv2.circle(frame, tuple(int(v) for v in np.rint(landmarks[index])), 4, 255, -1)
    return af.AlignedFace(landmarks, "head", size).transform(frame)


def _centroid(image: np.ndarray, near: np.ndarray, radius: float = 12) -> np.ndarray:
    rows, cols = np.mgrid[:image.shape[0], :image.shape[1]]
    keep = (np.hypot(cols - near[0], rows - near[1]) < radius) & (image > 64)
    weights = image * keep
    return np.array([np.sum(cols * weights), np.sum(rows * weights)]) / np.sum(weights)


@pytest.mark.parametrize("centering", ["legacy", "face", "head"])
@pytest.mark.parametrize("coverage", [1.0, 0.75])
@pytest.mark.parametrize("y_offset", [-0.15, 0.0, 0.15])
def test_face_lands_where_the_spec_says(centering, coverage, y_offset) -> None:
    landmarks = spec_landmarks()
    extract = _marked_extract(landmarks)
    face = af.AlignedFace(landmarks, centering, 128, coverage, y_offset)
    crop = face.extract_face(extract)
    assert crop.shape == (128, 128)
    expected = face.crop_landmarks(512)
    # the crop is the roi of the extract, resized: the marked points are where the landmarks go
    inside = [index for index in (30, 8)
              if np.all((expected[index] > 6) & (expected[index] < 122))]
    assert 30 in inside
    for index in inside:
        np.testing.assert_allclose(_centroid(crop, expected[index]), expected[index], atol=1.0)
    # the nose tip lands at the crop centre moved by the offsets, in the spec's units
    core = 512 * (1 - 0.625)
    side = face.crop_size(512)
    head_nose = face.extract_landmarks(512)[30]
    centre = np.rint(256 + core * (face.pose.offset[centering] - face.pose.offset["head"]
                                   - [0, y_offset]))
    np.testing.assert_allclose(expected[30], (head_nose - centre) * 128 / side + 64, atol=1e-6)
    # a positive offset moves the face down in the crop (the crop centre moves up)
    neutral = af.AlignedFace(landmarks, centering, 128, coverage, 0.0).crop_landmarks(512)
    shift = (expected[30, 1] - neutral[30, 1]) / 128 * face.crop_size(512)
    assert shift == pytest.approx(y_offset * core, abs=1.0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="centering"):
        af.AlignedFace(spec_landmarks(), "chin")
    with pytest.raises(ValueError, match="shape"):
        af.AlignedFace(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="3-D"):
        af.AlignedFace(np.zeros((26, 3)))
    four = af.AlignedFace(np.array([[10, 10], [60, 10], [60, 60], [10, 60]], "float32"), "face")
    np.testing.assert_array_equal(four.pose.offset["face"], [0, 0])
    np.testing.assert_allclose(four.legacy_matrix, [[0.02, 0, -0.2], [0, 0.02, -0.2]])
