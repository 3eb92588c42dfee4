"""Tests for benchmarks/demo_quality.py: its SSIM against the closed form on flat images and its
basic properties, and the identity descriptor."""
from __future__ import annotations

import numpy as np

from benchmarks.demo_quality import feature, ssim


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
