"""Tests for lib.training.generator: reading faces, masks, batches, previews and bad data."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.training.generator import Feeder, FeederOptions, get_image_paths
from plugins.train import train_config as cfg
from plugins.train.trainer import trainer_config as tcfg
from plugins.train.trainer._base import check_batch_size
from plugins.train.training import feeder_options
from tests.plugins.train.model.plugin_helpers import installed_plugins, make_plugin

NO_AUGMENT = {"rotation_range": 0, "zoom_amount": 0, "shift_range": 0}


# --- synthetic data ------------------------------------------------------------------------------
def _face(size: int, seed: int, alpha: bool = True, channels: int = 3) -> np.ndarray:
    """A smooth random face with (optionally) a disc-shaped alpha mask."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, channels), dtype=np.uint8)
    image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    image = image.reshape(size, size, channels)
    if not alpha:
        return image
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.circle(mask, (size // 2, size // 2), int(size * 0.4), 255, -1)
    return np.concatenate([image, mask[..., None]], axis=-1)


def _landmarks(size: int) -> list[list[float]]:
    """68 points: eyes around (0.35, 0.4) and (0.65, 0.4), mouth around (0.5, 0.75)."""
    points = [[size * 0.5, size * 0.55]] * 68
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for start, centre_x in ((36, 0.35), (42, 0.65)):
        for index, angle in enumerate(angles):
            points[start + index] = [size * (centre_x + 0.07 * np.cos(angle)),
                                     size * (0.4 + 0.04 * np.sin(angle))]
    for index, angle in enumerate(np.linspace(0, 2 * np.pi, 12, endpoint=False)):
        points[48 + index] = [size * (0.5 + 0.15 * np.cos(angle)),
                              size * (0.75 + 0.06 * np.sin(angle))]
    return [[float(x), float(y)] for x, y in points]


def _write_side(folder: Path, count: int, size: int = 64, alpha: bool = True,
                landmarks: bool = True, seed: int = 0) -> list[np.ndarray]:
    """Write ``count`` faces ``face_<i>.png`` (and landmarks.json); returns the images."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(count):
        image = _face(size, seed * 100 + index, alpha)
        cv2.imwrite(str(folder / f"face_{index}.png"), image)
        images.append(image)
    if landmarks:
        (folder / "landmarks.json").write_text(json.dumps(
            {f"face_{index}.png": _landmarks(size) for index in range(count)}))
    return images


def _fake_model(input_size: int = 32, outputs: tuple[tuple[int, int], ...] = ((32, 3),),
                coverage: float = 1.0, color_order: str = "bgr") -> Any:
    """What the feeder reads of a built plugin, without building one (fast)."""
    def tensor(size: int, channels: int) -> Any:
        return SimpleNamespace(shape=(None, size, size, channels))

    side_outputs = [tensor(size, channels) for size, channels in outputs]
    return SimpleNamespace(
        model=SimpleNamespace(inputs=[tensor(input_size, 3)] * 2,
                              outputs=side_outputs + side_outputs),
        coverage_ratio=coverage, color_order=color_order)


def _set(section: Any, **values: Any) -> None:
    cfg.get_config()  # names the options so that they accept set(); conftest resets them
    for name, value in values.items():
        getattr(section, name).set(value)


def _masks_off() -> None:
    _set(cfg.Loss, penalized_mask_loss=False, learn_mask=False)


@pytest.fixture(name="tiny")
def fixture_tiny(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Build the 32 px ``tiny`` test plugin with training-config options."""
    built = []

    def make(options: dict[str, dict[str, Any]] | None = None) -> Any:
        plugin = make_plugin("tiny", tmp_path / f"plugin_{len(built)}", options)
        plugin.build()
        built.append(plugin)
        return plugin

    with installed_plugins():
        yield make


def _feeder(folders: dict[str, Path], model: Any, batch_size: int = 4, seed: int | None = None,
            workers: int | None = None, **changes: Any) -> Feeder:
    """A feeder with the options of the training config as set now (``changes`` on top)."""
    return Feeder({side: str(folder) for side, folder in folders.items()}, model, batch_size,
                  feeder_options(model, **changes), seed=seed, workers=workers)


def _sides(tmp_path: Path, count: int = 4, **kwargs: Any) -> dict[str, Path]:
    for index, side in enumerate("ab"):
        _write_side(tmp_path / side, count, seed=index, **kwargs)
    return {"a": tmp_path / "a", "b": tmp_path / "b"}


# --- batches -------------------------------------------------------------------------------------
_CONFIGS = {
    "masks_off": ({"penalized_mask_loss": False, "learn_mask": False}, [3], False),
    "penalized": ({"eye_multiplier": 1, "mouth_multiplier": 1}, [4], True),
    "penalized_eye_mouth": ({}, [6], True),
    "learn_mask": ({"learn_mask": True, "eye_multiplier": 1, "mouth_multiplier": 1}, [4, 1],
                   True),
    "learn_mask_only": ({"learn_mask": True, "penalized_mask_loss": False}, [3, 1], True),
}


@pytest.mark.parametrize("config", [pytest.param("masks_off", marks=pytest.mark.smoke),
                                    "penalized", "penalized_eye_mouth",
                                    pytest.param("learn_mask", marks=pytest.mark.smoke),
                                    "learn_mask_only"])
def test_batch_shapes_and_ranges(tiny: Callable[..., Any], tmp_path: Path, config: str) -> None:
    options, channels, alpha = _CONFIGS[config]
    plugin = tiny({"global.loss": options})
    folders = _sides(tmp_path / "data", alpha=alpha)
    with _feeder(folders, plugin, 4, seed=1) as feeder:
        inputs, targets = feeder.get_batch()
    assert inputs.shape == (2, 4, 32, 32, 3) and inputs.dtype == np.float32
    assert [target.shape for target in targets] == [(2, 4, 32, 32, c) for c in channels]
    for array in [inputs, *targets]:
        assert array.dtype == np.float32
        assert array.min() >= 0.0 and array.max() <= 1.0
    if len(channels) == 2 and channels[0] == 4:  # the mask target is the face target's mask
        np.testing.assert_array_equal(targets[1], targets[0][..., 3:4])
    if alpha:
        mask = targets[-1][..., -1] if channels[-1] == 1 else targets[0][..., 3]
        assert mask.min() == 0.0 and mask.max() == 1.0  # a real mask, not a constant


def test_targets_are_the_coverage_crop_with_masks(tmp_path: Path) -> None:
    _set(tcfg, **NO_AUGMENT)
    _set(cfg.Loss, mask_blur_kernel=0, mask_threshold=0)
    images = _write_side(tmp_path / "a", 4)
    _write_side(tmp_path / "b", 4, seed=1)
    model = _fake_model(coverage=0.625)  # 64 px: crop (64 * 0.625 // 2) * 2 = 40, from 12
    with _feeder({"a": tmp_path / "a", "b": tmp_path / "b"}, model, 4, no_warp=True,
                 no_flip=True, no_augment_color=True, workers=0) as feeder:
        inputs, targets = feeder.get_batch()
    references = [cv2.resize(image[12:52, 12:52], (32, 32), interpolation=cv2.INTER_AREA)
                  for image in images]
    face = targets[0][0]
    assert face.shape == (4, 32, 32, 6)
    found = []
    for target in np.round(face * 255).astype(np.uint8):
        matches = [index for index, ref in enumerate(references)
                   if np.array_equal(target[..., :4], ref)]
        assert len(matches) == 1
        found.append(matches[0])
    assert sorted(found) == [0, 1, 2, 3]  # one epoch: every face once
    np.testing.assert_array_equal(inputs[0], face[..., :3])  # no warp: input = target colours
    # eye and mouth masks: on at the landmarks (in crop coordinates), off in the corners
    eye, mouth = face[..., 4], face[..., 5]
    eye_centre = (round((0.4 * 64 - 12) * 32 / 40), round((0.35 * 64 - 12) * 32 / 40))
    mouth_centre = (round((0.75 * 64 - 12) * 32 / 40), 16)
    assert (eye[:, eye_centre[0], eye_centre[1]] == 1.0).all()
    assert (mouth[:, mouth_centre[0], mouth_centre[1]] == 1.0).all()
    assert (eye[:, mouth_centre[0], mouth_centre[1]] == 0.0).all()
    assert (mouth[:, eye_centre[0], eye_centre[1]] == 0.0).all()
    assert (eye[:, :3, :3] == 0).all() and (mouth[:, :3, :3] == 0).all()


def test_mask_options_applied(tmp_path: Path) -> None:
    _set(tcfg, **NO_AUGMENT)
    _set(cfg.Loss, eye_multiplier=1, mouth_multiplier=1, mask_blur_kernel=4, mask_threshold=10,
         mask_dilation=5.0)
    images = _write_side(tmp_path / "a", 1, landmarks=False)
    _write_side(tmp_path / "b", 1, seed=1, landmarks=False)
    with _feeder({"a": tmp_path / "a", "b": tmp_path / "b"}, _fake_model(), 1, no_warp=True,
                 no_flip=True, no_augment_color=True, workers=0) as feeder:
        _, targets = feeder.get_batch()
    # Faceswap's order on the mask at its own size (64 px), then the crop is resized to 32:
    # dilation 5 % of 64 px: a round(3.2) = 3 px elliptic kernel
    alpha = cv2.dilate(images[0][..., 3], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    alpha = np.where(alpha < 25.5, 0, np.where(alpha > 229.5, 255, alpha)).astype(np.uint8)
    # the blur kernel is in pixels at 128 px: 4 -> round(4 * 64 / 128) = 2 -> odd 3
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
    expected = cv2.resize(alpha, (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(np.round(targets[0][0, 0, ..., 3] * 255), expected)


def test_vertical_offset_moves_the_face_down(tmp_path: Path) -> None:
    _set(tcfg, **NO_AUGMENT)
    _masks_off()
    cfg.vertical_offset.set(10)  # Faceswap: positive moves the face down (the crop centre up)
    images = _write_side(tmp_path / "a", 1, size=32, alpha=False, landmarks=False)
    _write_side(tmp_path / "b", 1, size=32, seed=1, alpha=False, landmarks=False)
    with _feeder({"a": tmp_path / "a", "b": tmp_path / "b"}, _fake_model(), 1, no_warp=True,
                 no_flip=True, no_augment_color=True, workers=0) as feeder:
        _, targets = feeder.get_batch()
    face = np.round(targets[0][0, 0] * 255)
    # by 0.1 x the face-centred core (32 * 0.5 = 16 px): rint(16 - 1.6) = 14, so 2 px
    np.testing.assert_array_equal(face[2:], images[0][:30])
    np.testing.assert_array_equal(face[:2], 0)  # above the image: black


def test_warp_changes_inputs_not_targets(tmp_path: Path) -> None:
    folders = _sides(tmp_path)
    with _feeder(folders, _fake_model(), 4, seed=3, workers=0) as warped, \
            _feeder(folders, _fake_model(), 4, seed=3, no_warp=True, workers=0) as straight:
        inputs_w, targets_w = warped.get_batch()
        inputs_s, targets_s = straight.get_batch()
    for target_w, target_s in zip(targets_w, targets_s, strict=True):
        np.testing.assert_array_equal(target_w, target_s)
    np.testing.assert_array_equal(inputs_s, targets_s[0][..., :3])
    assert np.abs(inputs_w - inputs_s).mean() > 0.01


@pytest.mark.smoke
def test_seed_gives_same_batches_whatever_the_workers(tmp_path: Path) -> None:
    folders = _sides(tmp_path, count=5)

    def batches(seed: int, workers: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        with _feeder(folders, _fake_model(), 2, seed=seed, workers=workers) as feeder:
            return [feeder.get_batch() for _ in range(4)]

    first, threaded = batches(7, 0), batches(7, 3)
    for (inputs_0, targets_0), (inputs_1, targets_1) in zip(first, threaded, strict=True):
        np.testing.assert_array_equal(inputs_0, inputs_1)
        for target_0, target_1 in zip(targets_0, targets_1, strict=True):
            np.testing.assert_array_equal(target_0, target_1)
    other = batches(8, 2)
    assert not np.array_equal(first[0][0], other[0][0])
    assert not np.array_equal(first[0][0], first[1][0])  # batches differ from each other


def test_epochs_draw_every_image_equally(tmp_path: Path) -> None:
    _set(tcfg, **NO_AUGMENT)
    _masks_off()
    for side in "ab":
        folder = tmp_path / side
        folder.mkdir()
        for index in range(4):
            cv2.imwrite(str(folder / f"{index}.png"), np.full((32, 32, 3), 40 * index + 20,
                                                               dtype=np.uint8))
    with _feeder({"a": tmp_path / "a", "b": tmp_path / "b"}, _fake_model(), 3, seed=2,
                 no_warp=True, no_augment_color=True, workers=2) as feeder:
        values = [np.round(feeder.get_batch()[1][0][0, :, 0, 0, 0] * 255)
                  for _ in range(4)]  # 12 draws = 3 epochs of 4
    counts = np.unique(np.concatenate(values), return_counts=True)
    assert counts[0].tolist() == [20, 60, 100, 140] and counts[1].tolist() == [3, 3, 3, 3]


def test_rgb_color_order(tmp_path: Path) -> None:
    folders = _sides(tmp_path)
    with _feeder(folders, _fake_model(color_order="bgr"), 4, seed=5, workers=0) as bgr, \
            _feeder(folders, _fake_model(color_order="rgb"), 4, seed=5, workers=0) as rgb:
        inputs_bgr, targets_bgr = bgr.get_batch()
        inputs_rgb, targets_rgb = rgb.get_batch()
        preview_bgr, preview_rgb = bgr.generate_preview(2), rgb.generate_preview(2)
    np.testing.assert_array_equal(targets_rgb[0][..., :3], targets_bgr[0][..., 2::-1])
    np.testing.assert_array_equal(targets_rgb[0][..., 3:], targets_bgr[0][..., 3:])
    np.testing.assert_allclose(inputs_rgb, inputs_bgr[..., ::-1], atol=1.5 / 255)  # warp
    assert not np.array_equal(inputs_rgb, inputs_bgr)
    np.testing.assert_array_equal(preview_rgb["a"][1][..., :3], preview_bgr["a"][1][..., 2::-1])


def test_output_sizes_differ_from_input(tmp_path: Path) -> None:
    # 24 px input, 48 px face and 16 px mask outputs; processing at 48 px
    _set(cfg.Loss, learn_mask=True, eye_multiplier=1, mouth_multiplier=1)
    folders = _sides(tmp_path)
    model = _fake_model(input_size=24, outputs=((48, 3), (16, 1)))
    with _feeder(folders, model, 2, seed=1) as feeder:
        inputs, targets = feeder.get_batch()
        preview = feeder.generate_preview(3)
    assert inputs.shape == (2, 2, 24, 24, 3)
    assert [target.shape for target in targets] == [(2, 2, 48, 48, 4), (2, 2, 16, 16, 1)]
    assert preview["b"][0].shape == (3, 24, 24, 3) and preview["b"][1].shape == (3, 48, 48, 4)


# --- preview -------------------------------------------------------------------------------------
def test_preview_is_fixed_and_unaugmented(tmp_path: Path) -> None:
    _masks_off()
    images = _write_side(tmp_path / "a", 3, alpha=False, landmarks=False)
    _write_side(tmp_path / "b", 3, seed=1, alpha=False, landmarks=False)
    with _feeder({"a": tmp_path / "a", "b": tmp_path / "b"}, _fake_model(coverage=0.75), 2,
                 seed=1) as feeder:
        first = feeder.generate_preview(5)
        feeder.get_batch()
        second = feeder.generate_preview(5)
    feed, faces = first["a"]
    assert feed.shape == (3, 32, 32, 3) and faces.shape == (3, 32, 32, 4)  # 3 available
    assert feed.dtype == np.float32 and faces.dtype == np.float32
    np.testing.assert_array_equal(faces[..., 3], 1.0)  # no mask: all ones
    # 64 px at 75 %: crop 48 from 8, resized to 32
    expected = cv2.resize(images[0][8:56, 8:56], (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(np.round(faces[0, ..., :3] * 255), expected)
    np.testing.assert_array_equal(feed, faces[..., :3])
    for side in "ab":
        for array_1, array_2 in zip(first[side], second[side], strict=True):
            np.testing.assert_array_equal(array_1, array_2)
    with pytest.raises(ValueError, match="count"):
        feeder.generate_preview(0)


# --- trainer contract ----------------------------------------------------------------------------
@pytest.mark.smoke
def test_trainer_trains_on_a_batch(tiny: Callable[..., Any], tmp_path: Path) -> None:
    from plugins.train.trainer.original import Trainer

    plugin = tiny({"global.loss": {"learn_mask": True, "loss_function": "mae",
                                    "loss_function_2": "none"}})
    with _feeder(_sides(tmp_path / "data"), plugin, 2, seed=0) as feeder:
        inputs, targets = feeder.get_batch()
    losses = Trainer(plugin, 2).train_batch(inputs, targets)
    assert losses.shape == (4,) and np.isfinite(losses).all() and (losses > 0).all()


def test_close_stops_workers(tmp_path: Path) -> None:
    feeder = _feeder(_sides(tmp_path), _fake_model(), 2, workers=2)
    # pylint: disable=protected-access
    deadline = time.monotonic() + 20
    while len(feeder._results) < feeder._ahead and time.monotonic() < deadline:
        time.sleep(0.01)  # the workers fill the queue before anyone asks
    time.sleep(0.05)
    assert len(feeder._results) == feeder._ahead == 4  # and stop there: the queue is bounded
    feeder.get_batch()
    threads = list(feeder._threads)
    assert len(threads) == 2
    feeder.close()
    assert not any(thread.is_alive() for thread in threads)
    with pytest.raises(RuntimeError, match="closed"):
        feeder.get_batch()
    feeder.close()  # twice is fine


# --- bad data ------------------------------------------------------------------------------------
def test_get_image_paths(tmp_path: Path) -> None:
    with pytest.raises(FaceswapError, match="does not exist"):
        get_image_paths(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(FaceswapError, match="is a file"):
        get_image_paths(tmp_path / "file.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no faces here")
    with pytest.raises(FaceswapError, match="holds no images.*Extract faces"):
        get_image_paths(empty)
    for name in ("b.PNG", "a.jpg", "c.JPEG", "d.txt"):
        (empty / name).write_bytes(b"x")
    assert [Path(path).name for path in get_image_paths(empty)] == ["a.jpg", "b.PNG", "c.JPEG"]


def test_missing_folder_through_feeder(tmp_path: Path) -> None:
    _write_side(tmp_path / "a", 2)
    with pytest.raises(FaceswapError, match="'.*missing' does not exist"):
        Feeder({"a": str(tmp_path / "a"), "b": str(tmp_path / "missing")}, _fake_model(), 2,
               FeederOptions())
    with pytest.raises(FaceswapError, match="No training images were given for side B"):
        Feeder({"a": str(tmp_path / "a"), "b": []}, _fake_model(), 2, FeederOptions())


def test_fewer_images_than_batch_size(tmp_path: Path) -> None:
    folders = _sides(tmp_path, count=3)
    with pytest.raises(FaceswapError, match=r"side A .*3 usable.*batch size of 4.*at most 3"):
        _feeder(folders, _fake_model(), 4)


def test_bad_files_are_skipped_with_warnings(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    _masks_off()
    folders = _sides(tmp_path, count=3, alpha=False, landmarks=False)
    side_a = folders["a"]
    (side_a / "empty.png").write_bytes(b"")
    (side_a / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    png = cv2.imencode(".png", _face(64, 9, alpha=False))[1].tobytes()
    (side_a / "truncated.png").write_bytes(png[:60])
    cv2.imwrite(str(side_a / "wide.png"), np.zeros((64, 80, 3), np.uint8))
    cv2.imwrite(str(side_a / "small.png"), np.zeros((48, 48, 3), np.uint8))
    with caplog.at_level(logging.WARNING, logger="lib.training.generator"):
        with _feeder(folders, _fake_model(), 3, workers=0) as feeder:
            assert feeder.image_count == {"a": 3, "b": 3}
            feeder.get_batch()
    text = caplog.text
    for name in ("empty.png", "corrupt.jpg", "truncated.png", "wide.png", "small.png"):
        assert name in text
    assert "empty file" in text and "not square" in text and "48 px, while most" in text
    for name in ("face_0.png", "face_1.png", "face_2.png"):
        assert name not in text
    with pytest.raises(FaceswapError, match=r"3 usable .*8 listed were skipped.*batch size of 4"):
        _feeder(folders, _fake_model(), 4)


def test_images_larger_than_4096_are_skipped(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    _masks_off()
    folders = _sides(tmp_path, count=2, alpha=False, landmarks=False)
    cv2.imwrite(str(folders["a"] / "huge.png"), np.zeros((4097, 4097), np.uint8))
    with caplog.at_level(logging.WARNING, logger="lib.training.generator"):
        with _feeder(folders, _fake_model(), 2) as feeder:
            assert feeder.image_count["a"] == 2
    assert "huge.png" in caplog.text and "larger than 4096" in caplog.text


def test_16_bit_grayscale_and_jpeg_are_read(tmp_path: Path) -> None:
    _masks_off()
    _set(tcfg, **NO_AUGMENT)
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for folder in folders.values():
        folder.mkdir()
    image_8 = _face(32, 1, alpha=False)
    cv2.imwrite(str(folders["a"] / "deep.png"), image_8.astype(np.uint16) * 257)
    grey = _face(32, 2, alpha=False, channels=1)
    cv2.imwrite(str(folders["b"] / "grey.png"), grey)
    cv2.imwrite(str(folders["b"] / "photo.JPG"), image_8)
    with _feeder(folders, _fake_model(), 1, no_warp=True, no_flip=True, no_augment_color=True,
                 workers=0) as feeder:
        preview = feeder.generate_preview(2)
    np.testing.assert_array_equal(np.round(preview["a"][1][0, ..., :3] * 255), image_8)
    grey_face = np.round(preview["b"][1][0, ..., :3] * 255)  # grey.png sorts first
    np.testing.assert_array_equal(grey_face, np.repeat(grey, 3, axis=-1))
    assert preview["b"][1].shape[0] == 2  # the .JPG was read too


def test_mixed_sizes_most_common_wins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _masks_off()
    folders = _sides(tmp_path, count=3, alpha=False, landmarks=False)
    cv2.imwrite(str(folders["b"] / "other_size.png"), _face(96, 5, alpha=False))
    with caplog.at_level(logging.WARNING, logger="lib.training.generator"):
        with _feeder(folders, _fake_model(), 2) as feeder:
            assert feeder.image_count == {"a": 3, "b": 3}
    assert "other_size.png" in caplog.text and "96 px, while most images are 64 px" in caplog.text


def test_missing_alpha_mask_names_the_options(tmp_path: Path) -> None:
    folders = _sides(tmp_path, alpha=False)
    with pytest.raises(FaceswapError, match=r"(?s)penalized_mask_loss is on.*side A.*no alpha"
                                            r".*face_0.png.*\[global.loss\].*penalized_mask_loss "
                                            r"and learn_mask to False"):
        _feeder(folders, _fake_model(), 2)
    _set(cfg.Loss, penalized_mask_loss=False, learn_mask=True)
    with pytest.raises(FaceswapError, match="learn_mask is on"):
        _feeder(folders, _fake_model(), 2)
    _set(cfg.Loss, learn_mask=False)  # a model with mask outputs needs the mask all the same
    with pytest.raises(FaceswapError, match="model has mask outputs"):
        _feeder(folders, _fake_model(outputs=((32, 3), (32, 1))), 2)


def test_missing_landmarks_names_the_options(tmp_path: Path) -> None:
    folders = _sides(tmp_path, landmarks=False)
    with pytest.raises(FaceswapError, match=r"(?s)eye and mouth masks.*side A.*landmarks.json.*"
                                            r"eye_multiplier to 1 and set mouth_multiplier to 1"):
        _feeder(folders, _fake_model(), 2)
    _set(cfg.Loss, eye_multiplier=1)
    (folders["a"] / "landmarks.json").write_text(json.dumps({"face_0.png": _landmarks(64)}))
    with pytest.raises(FaceswapError, match=r"(?s)mouth masks.*3 image\(s\).*'face_1.png'.*"
                                            r"mouth_multiplier to 1"):
        _feeder(folders, _fake_model(), 2)


def test_bad_landmarks_file(tmp_path: Path) -> None:
    folders = _sides(tmp_path)
    (folders["b"] / "landmarks.json").write_text("{not json")
    with pytest.raises(FaceswapError, match="landmarks.json' .*side B.*cannot be read"):
        _feeder(folders, _fake_model(), 2)
    entries = {f"face_{index}.png": _landmarks(64) for index in range(4)}
    entries["face_2.png"] = [[1, 2]] * 67
    (folders["b"] / "landmarks.json").write_text(json.dumps(entries))
    with pytest.raises(FaceswapError, match="landmarks of 'face_2.png'.*not 68"):
        _feeder(folders, _fake_model(), 2)


def test_invalid_arguments(tmp_path: Path) -> None:
    folders = {"a": str(tmp_path), "b": str(tmp_path)}
    options = FeederOptions()
    # The batch size is checked once, where it enters training (the trainer): a batch size of 0
    # never reaches the feeder.
    with pytest.raises(ValueError, match="batch_size"):
        check_batch_size(0)
    with pytest.raises(ValueError, match="workers"):
        Feeder(folders, _fake_model(), 2, options, workers=-1)
    with pytest.raises(ValueError, match="'a' and 'b'"):
        Feeder({"a": str(tmp_path)}, _fake_model(), 2, options)
    with pytest.raises(ValueError, match="color_order"):
        Feeder(folders, _fake_model(color_order="bgra"), 2, options)
    with pytest.raises(TypeError, match="FeederOptions"):
        Feeder(folders, _fake_model(), 2, {"centering": "face"})
    for bad in ({"centering": "chin"}, {"coverage": 1.5}, {"mask_type": "hull"},
                {"vertical_offset": 10}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FeederOptions(**bad)
