"""Tests for lib.training.augmentation: colour, transform, flip and warp against NumPy/cv2
references that replay the documented random draws."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from lib.training.augmentation import AugmentationOptions, ImageAugmentation
from plugins.train.trainer._base import check_batch_size


def _options(**values: int) -> AugmentationOptions:
    """Faceswap's default augmentation options with ``values`` changed."""
    return AugmentationOptions(**values)


def _batch(count: int, size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth random images (noise would make interpolation checks meaningless)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (count, 4, 4, channels), dtype=np.uint8)
    return np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
                     .reshape(size, size, channels) for image in small])


# --- colour --------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_color_adjust_lab_shift_hand_computed() -> None:
    options = _options(color_lightness=30, color_ab=8, color_clahe_chance=0)
    batch = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    batch[0] = (40, 120, 200)  # BGR
    batch[1] = (200, 60, 30)
    original = batch.copy()
    result = ImageAugmentation(2, 8, options).color_adjust(batch, np.random.default_rng(7))
    assert result is batch

    replay = np.random.default_rng(7)  # the shifts are drawn first
    shifts = replay.uniform(-np.array([0.3, 0.08, 0.08]), np.array([0.3, 0.08, 0.08]),
                            size=(2, 3)).astype("float32")
    for index in range(2):
        lab = cv2.cvtColor(original[index, :1, :1], cv2.COLOR_BGR2LAB)[0, 0].astype(int)
        expected = []
        for value, shift in zip(lab, shifts[index], strict=True):
            # the formula by hand: brighten towards 255, darken towards 0, then truncate
            expected.append(int(value + (255 - value) * shift) if shift >= 0
                            else int(value * (1 + shift)))
        bgr = cv2.cvtColor(np.array([[expected]], dtype=np.uint8), cv2.COLOR_LAB2BGR)[0, 0]
        np.testing.assert_array_equal(batch[index], np.broadcast_to(bgr, (8, 8, 3)))
    assert not np.array_equal(batch, original)


def test_color_adjust_lightness_of_a_grey_image() -> None:
    # A grey of L = 100 (OpenCV's 8-bit scale): u >= 0 gives 100 + 155 * u, u < 0 100 * (1 + u)
    options = _options(color_lightness=75, color_ab=0, color_clahe_chance=0)
    augment = ImageAugmentation(1, 4, options)
    grey = cv2.cvtColor(np.array([[[100, 128, 128]]], dtype=np.uint8), cv2.COLOR_LAB2BGR)
    image = np.broadcast_to(grey, (1, 4, 4, 3)).copy()
    assert int(cv2.cvtColor(image[0, :1, :1], cv2.COLOR_BGR2LAB)[0, 0, 0]) == 100
    signs = set()
    for seed in range(6):
        replay = np.random.default_rng(seed)
        shift = float(np.float32(replay.uniform(-0.75, 0.75, size=(1, 3))[0, 0]))
        signs.add(shift >= 0)
        expected = int(100 + 155 * shift) if shift >= 0 else int(100 * (1 + shift))
        batch = augment.color_adjust(image.copy(), np.random.default_rng(seed))
        result = int(cv2.cvtColor(batch[0, :1, :1], cv2.COLOR_BGR2LAB)[0, 0, 0])
        assert abs(result - expected) <= 1, (seed, shift)  # +-1: the LAB -> BGR -> LAB trip
    assert signs == {True, False}  # both branches of the formula were checked


def _clahe_seed(count: int, chance: float) -> int:
    """A seed whose CLAHE draw (after the (count, 3) shifts) picks image 0."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        rng.uniform(size=(count, 3))
        if rng.random(count)[0] < chance:
            return seed
    raise AssertionError("no seed found")


def test_color_adjust_clahe_on_first_image_only() -> None:
    # Faceswap's quirk skipped CLAHE when only image 0 was drawn; we apply it.
    options = _options(color_lightness=0, color_ab=0, color_clahe_chance=75,
                       color_clahe_max_size=4)
    batch = _batch(1, 64, seed=3)
    batch[0, :32] //= 3  # dark top half: CLAHE changes it visibly
    original = batch.copy()
    seed = _clahe_seed(1, 0.75)
    ImageAugmentation(1, 64, options).color_adjust(batch, np.random.default_rng(seed))

    replay = np.random.default_rng(seed)
    replay.uniform(size=(1, 3))  # the (zero) shifts
    replay.random(1)
    grid = int(replay.integers(0, 5, size=1)[0]) * (2 // 2) + 2  # base = max(2, 64 // 128)
    lab = cv2.cvtColor(original[0], cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(grid, grid)).apply(lab[..., 0])
    expected = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    np.testing.assert_array_equal(batch[0], expected)
    assert np.abs(batch.astype(int) - original).max() > 5


def test_color_adjust_shifts_then_clahe() -> None:
    # Faceswap's order: the random L*a*b* shift first, then CLAHE on the shifted lightness
    options = _options(color_lightness=40, color_ab=8, color_clahe_chance=100,
                       color_clahe_max_size=0)
    batch = _batch(1, 64, seed=4)
    batch[0, :32] //= 3
    original = batch.copy()
    ImageAugmentation(1, 64, options).color_adjust(batch, np.random.default_rng(2))
    replay = np.random.default_rng(2)
    shift = replay.uniform(-np.array([0.4, 0.08, 0.08]), np.array([0.4, 0.08, 0.08]),
                           size=(1, 3)).astype("float32")[0]
    lab = cv2.cvtColor(original[0], cv2.COLOR_BGR2LAB).astype("float32")
    lab = np.where(shift >= 0, lab + (255 - lab) * shift, lab * (1 + shift)).astype("uint8")
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(2, 2))  # g = 0: base 2
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    np.testing.assert_array_equal(batch[0], cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    # the other order gives another image
    other = cv2.cvtColor(original[0], cv2.COLOR_BGR2LAB)
    other[..., 0] = clahe.apply(np.ascontiguousarray(other[..., 0]))
    other = other.astype("float32")
    other = np.where(shift >= 0, other + (255 - other) * shift,
                     other * (1 + shift)).astype("uint8")
    assert not np.array_equal(batch[0], cv2.cvtColor(other, cv2.COLOR_LAB2BGR))


def test_color_adjust_keeps_masks() -> None:
    options = _options(color_clahe_chance=50)
    batch = _batch(3, 16, channels=5)
    original = batch.copy()
    ImageAugmentation(3, 16, options).color_adjust(batch, np.random.default_rng(1))
    np.testing.assert_array_equal(batch[..., 3:], original[..., 3:])
    assert not np.array_equal(batch[..., :3], original[..., :3])


# --- transform -----------------------------------------------------------------------------------
def _affine(angle: float, scale: float, centre: float, shift: np.ndarray) -> np.ndarray:
    """Rotation by ``angle`` degrees and zoom ``scale`` about ``(centre, centre)``, then shift."""
    alpha = scale * math.cos(math.radians(angle))
    beta = scale * math.sin(math.radians(angle))
    return np.array([[alpha, beta, (1 - alpha) * centre - beta * centre + shift[0]],
                     [-beta, alpha, beta * centre + (1 - alpha) * centre + shift[1]]])


@pytest.mark.smoke
def test_transform_matches_affine_reference() -> None:
    options = _options(rotation_range=20, zoom_amount=10, shift_range=10)
    batch = _batch(3, 32, channels=5)
    original = batch.copy()
    result = ImageAugmentation(3, 32, options).transform(batch, np.random.default_rng(11))
    assert result is batch

    replay = np.random.default_rng(11)
    angles = replay.uniform(-20, 20, 3)
    scales = replay.uniform(0.9, 1.1, 3)
    shifts = replay.uniform(-3.2, 3.2, (3, 2))
    for index in range(3):
        matrix = _affine(angles[index], scales[index], 16, shifts[index])
        expected = cv2.warpAffine(original[index], matrix, (32, 32),
                                  borderMode=cv2.BORDER_REPLICATE)
        np.testing.assert_allclose(batch[index], expected, atol=1)  # float64 vs float32 matrix
    assert np.abs(batch.astype(int) - original).max() > 20


def test_transform_without_ranges_is_identity() -> None:
    options = _options(rotation_range=0, zoom_amount=0, shift_range=0)
    batch = _batch(2, 16, channels=4)
    original = batch.copy()
    ImageAugmentation(2, 16, options).transform(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(batch, original)


# --- flip ----------------------------------------------------------------------------------------
def test_random_flip_honours_flip_chance() -> None:
    options = _options(flip_chance=75)
    batch = _batch(400, 8, channels=4)
    original = batch.copy()
    ImageAugmentation(400, 8, options).random_flip(batch, np.random.default_rng(5))
    flipped = np.random.default_rng(5).random(400) < 0.75
    np.testing.assert_array_equal(batch[flipped], original[flipped][:, :, ::-1])
    np.testing.assert_array_equal(batch[~flipped], original[~flipped])
    assert 0.65 < flipped.mean() < 0.85  # 75 %, not Faceswap 2's fixed 50 %


def test_random_flip_chance_zero_never_flips() -> None:
    options = _options(flip_chance=0)
    batch = _batch(50, 8)
    original = batch.copy()
    ImageAugmentation(50, 8, options).random_flip(batch, np.random.default_rng(5))
    np.testing.assert_array_equal(batch, original)


# --- warp ----------------------------------------------------------------------------------------
def _linear_resize(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize with pixel-centre alignment and edge clamping (OpenCV INTER_LINEAR)."""
    source = grid.shape[0]
    coords = np.clip((np.arange(size) + 0.5) * source / size - 0.5, 0, source - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, source - 1)
    weight = coords - low
    rows = grid[low] * (1 - weight)[:, None] + grid[high] * weight[:, None]
    return rows[:, low] * (1 - weight)[None] + rows[:, high] * weight[None]


def _reference_maps(noise: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(0, size, 5)
    pad = int(1.25 * size)
    start = pad // 10
    map_x = _linear_resize(np.tile(grid, (5, 1)) + noise[0], pad)[start:start + size,
                                                                  start:start + size]
    map_y = _linear_resize(np.tile(grid[:, None], (1, 5)) + noise[1], pad)[start:start + size,
                                                                           start:start + size]
    return map_x.astype("float32"), map_y.astype("float32")


def test_reference_maps_are_near_identity_without_noise() -> None:
    map_x, map_y = _reference_maps(np.zeros((2, 5, 5)), 64)
    np.testing.assert_allclose(map_x, np.tile(np.arange(64) + 0.5, (64, 1)), atol=1e-5)
    np.testing.assert_allclose(map_y, map_x.T, atol=1e-5)


@pytest.mark.smoke
def test_warp_matches_reference() -> None:
    batch = _batch(2, 64, channels=4)
    original = batch.copy()
    warped = ImageAugmentation(2, 64).warp(batch, np.random.default_rng(3))
    assert warped.shape == (2, 64, 64, 3) and warped.dtype == np.uint8
    np.testing.assert_array_equal(batch, original)  # the input batch is left alone

    noise = np.random.default_rng(3).normal(scale=5 / 256 * 64, size=(2, 2, 5, 5))
    for index in range(2):
        map_x, map_y = _reference_maps(noise[index].astype("float32"), 64)
        expected = cv2.remap(np.ascontiguousarray(original[index, ..., :3]), map_x, map_y,
                             cv2.INTER_LINEAR)
        assert np.abs(warped[index].astype(int) - expected).max() <= 1
    assert np.abs(warped.astype(int) - original[..., :3]).max() > 10


# --- general -------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_seed_reproduces_every_method() -> None:
    def run(seed: int) -> np.ndarray:
        augment = ImageAugmentation(3, 32, seed=seed)
        batch = _batch(3, 32, channels=4)
        augment.color_adjust(batch)
        augment.transform(batch)
        augment.random_flip(batch)
        return augment.warp(batch)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_invalid_arguments() -> None:
    with pytest.raises(TypeError, match="AugmentationOptions"):
        ImageAugmentation(2, 32, {"flip_chance": 0})
    with pytest.raises(ValueError, match="flip_chance"):
        AugmentationOptions(flip_chance=-1)
    # The batch size is checked once, where it enters training (the trainer), not here.
    with pytest.raises(ValueError, match="batch_size"):
        check_batch_size(0)
    with pytest.raises(ValueError, match="processing_size"):
        ImageAugmentation(2, 32.0)
    augment = ImageAugmentation(2, 32)
    with pytest.raises(TypeError, match="uint8"):
        augment.transform(np.zeros((2, 32, 32, 3), dtype="float32"))
    with pytest.raises(ValueError, match="32, 32"):
        augment.warp(np.zeros((2, 16, 16, 3), dtype="uint8"))
    with pytest.raises(TypeError, match="rng"):
        augment.random_flip(np.zeros((2, 32, 32, 3), dtype="uint8"), rng=5)


# --- warp to landmarks ---------------------------------------------------------------------------
def test_piecewise_maps_reproduce_an_affine_relation() -> None:
    from lib.training.augmentation import piecewise_affine_maps

    rng = np.random.default_rng(0)
    destination = np.concatenate([rng.uniform(5, 58, (30, 2)),
                                  [[0, 0], [0, 63], [63, 63], [63, 0]]])
    affine = np.array([[0.9, 0.1, 3.0], [-0.1, 0.95, 2.0]])
    source = destination @ affine[:, :2].T + affine[:, 2]
    map_x, map_y = piecewise_affine_maps(destination, source, 64)
    rows, cols = np.mgrid[:64, :64]
    np.testing.assert_allclose(map_x, 0.9 * cols + 0.1 * rows + 3.0, atol=1e-3)
    np.testing.assert_allclose(map_y, -0.1 * cols + 0.95 * rows + 2.0, atol=1e-3)


def test_warp_to_landmarks_moves_points_to_the_match() -> None:
    from tests.lib.align.faces import unit_landmarks

    size = 64
    source = unit_landmarks() * 40 + 12
    target = source + np.array([3.0, 0.0])  # the match: the same face 3 px to the right
    image = np.zeros((1, size, size, 3), "uint8")
    nose = np.rint(source[30]).astype(int)
    cv2.circle(image[0], tuple(int(v) for v in nose), 2, (255, 255, 255), -1)
    augment = ImageAugmentation(1, size)
    rng = np.random.default_rng(0)
    warped = augment.warp_to_landmarks(image, source[None], target[None, None], rng)
    assert warped.shape == (1, size, size, 3)
    replay = np.random.default_rng(0)
    replay.integers(0, 1, size=1)
    noise = replay.normal(scale=2 / 256 * size, size=(1, 68, 2))[0]
    moved = np.argwhere(warped[0, ..., 0] > 128).mean(axis=0)[::-1]  # (x, y)
    np.testing.assert_allclose(moved, nose + [3.0, 0.0] + noise[30], atol=1.0)
    with pytest.raises(ValueError, match="68, 2"):
        augment.warp_to_landmarks(image, source[None, :51], target[None, None], rng)
