"""Tests for benchmarks/demo_quality.py: its SSIM against the closed form on flat images and its
basic properties, and the identity descriptor."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.demo_quality import feature, paired_margin, ssim


def test_ssim_of_flat_images_is_the_luminance_term() -> None:
    c1 = (0.01 * 255) ** 2
    first, second = np.full((32, 32, 3), 100.0), np.full((32, 32, 3), 140.0)
    # no variance: SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    expected = (2 * 100 * 140 + c1) / (100 ** 2 + 140 ** 2 + c1)
    assert abs(ssim(first, second) - expected) < 1e-9


def test_ssim_is_one_for_equal_images_and_falls_with_noise() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (48, 48, 3))
    assert abs(ssim(image, image) - 1.0) < 1e-9
    slight = ssim(image, image + rng.normal(0, 5, image.shape))
    strong = ssim(image, image + rng.normal(0, 40, image.shape))
    assert 1.0 > slight > strong > 0.0
    assert abs(ssim(image, image[::-1]) - ssim(image[::-1], image)) < 1e-9  # symmetric


def test_feature_is_a_16px_lab_layout() -> None:
    import cv2

    face = np.zeros((64, 64, 3), np.uint8)
    face[:, 32:] = (0, 0, 255)  # red on the right
    described = feature(face).reshape(16, 16, 3)
    lab_red = cv2.cvtColor(np.full((1, 1, 3), (0, 0, 255), np.uint8), cv2.COLOR_BGR2LAB)[0, 0]
    np.testing.assert_array_equal(described[:, 8:], np.broadcast_to(lab_red, (16, 8, 3)))
    assert described[:, :8, 0].max() == 0  # black on the left


def test_weighted_ssim_counts_only_the_weighted_pixels() -> None:
    """The weighted SSIM is the weighted mean of the per-pixel SSIM map: a picture equal on
    the left half and noisy on the right scores 1 with the weight on the left (away from the
    edge the window reaches), the noisy right half below the unweighted mean, and a uniform
    weight is the plain mean."""
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (48, 48, 3))
    other = image.copy()
    other[:, 24:] += rng.normal(0, 40, (48, 24, 3))
    left = np.zeros((48, 48))
    left[:, :16] = 1.0  # 8 px from the noise: beyond the 11 px window's reach
    assert abs(ssim(image, other, left) - 1.0) < 1e-9
    right = np.zeros((48, 48))
    right[:, 32:] = 1.0
    assert ssim(image, other, right) < ssim(image, other) < 0.999
    assert abs(ssim(image, other, np.full((48, 48), 0.3)) - ssim(image, other)) < 1e-9


def test_face_masks_are_the_stored_masks_in_the_coverage_crop(tmp_path) -> None:
    """On demo faces: each mask lies on the face (the landmarks' hull in the crop) and not on
    the crop's corners."""
    from pathlib import Path

    import cv2

    from benchmarks.demo_quality import coverage_crops, face_masks
    from faceswap_original.demo_data import write_demo_faces
    from lib.align.aligned_face import AlignedFace
    from lib.align.detected_face import DetectedFace
    from lib.image import read_image_file

    write_demo_faces(tmp_path, "a", 2, seed=3, size=128)
    crop = ("face", 0.875, 0.0)
    masks = face_masks(Path(tmp_path), crop, 64)
    assert masks.shape == (2, 64, 64) and 0.0 <= masks.min() and masks.max() <= 1.0
    assert coverage_crops(Path(tmp_path), crop, 64).shape == (2, 64, 64, 3)
    for mask, path in zip(masks, sorted(Path(tmp_path).glob("*.png")), strict=True):
        _, _, meta, _ = read_image_file(path)
        detected = DetectedFace.from_png_meta(meta, path.name)
        aligned = AlignedFace(detected.landmarks_xy, "face", 64, 0.875)
        points = np.rint(aligned.crop_landmarks(128)).astype("int32")
        hull = np.zeros((64, 64), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(points[[0, 4, 8, 12, 16, 30]]), 1)
        assert mask[hull > 0].mean() > 0.9  # the lower face is inside the extended mask
        assert mask[:6, :6].max() == 0 and mask[:6, -6:].max() == 0  # the top corners are not


def test_paired_margin_by_hand() -> None:
    """Differences (0.1, 0, 0.2, -0.1): mean 0.05, sample standard deviation sqrt(0.05 / 3),
    standard error half of it, better on 2 of 4 faces."""
    margin = paired_margin(np.array([0.5, 0.6, 0.7, 0.8]), np.array([0.4, 0.6, 0.5, 0.9]))
    error = np.sqrt(0.05 / 3) / 2
    assert margin["mean"] == pytest.approx(0.05)
    assert margin["standard_error"] == pytest.approx(error)
    assert margin["t"] == pytest.approx(0.05 / error)
    assert margin["share_better"] == 0.5
