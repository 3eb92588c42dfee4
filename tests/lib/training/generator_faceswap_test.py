"""Tests for lib.training.generator on Faceswap face sets (PNGs with Faceswap's metadata): the
crop, the stored masks, the eye/mouth masks, legacy extracts, warp-to-landmarks and bad data,
checked against the numbers of faceswap_data.md and direct OpenCV recomputations."""
from __future__ import annotations

import logging
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from lib.align.aligned_mask import Mask, stored_landmark_mask
from lib.errors import FaceswapError
from lib.image import encode_image
from lib.training.augmentation import AugmentationOptions
from lib.training.generator import MASK_TYPES, Feeder, FeederOptions
from tests.lib.align.faces import draw_frame, face_variants, spec_landmarks, write_extract

_STILL = AugmentationOptions(rotation_range=0, zoom_amount=0, shift_range=0)
_QUIET = {"no_warp": True, "no_flip": True, "no_augment_color": True, "augmentation": _STILL}


def _model(size: int = 64, outputs: tuple[tuple[int, int], ...] = ((64, 3),)) -> Any:
    def tensor(side: int, channels: int) -> Any:
        return SimpleNamespace(shape=(None, side, side, channels))

    side_outputs = [tensor(side, channels) for side, channels in outputs]
    return SimpleNamespace(model=SimpleNamespace(inputs=[tensor(size, 3)] * 2,
                                                 outputs=side_outputs + side_outputs),
                           color_order="bgr")


def _face_set(folder: Path, count: int, size: int = 256, seed: int = 0, **kwargs: Any
              ) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index, landmarks in enumerate(face_variants(count, seed)):
        images.append(write_extract(folder / f"frame{index:03d}_0.png", landmarks,
                                    draw_frame(landmarks, seed=seed * 100 + index), size,
                                    **kwargs))
    return images


def _feeder(folders: dict[str, Path], batch: int = 1, model: Any = None, **options: Any
            ) -> Feeder:
    values = {"mask_channels": (-1, -1, -1), "penalized_mask_loss": False} | options
    return Feeder({side: str(path) for side, path in folders.items()}, model or _model(), batch,
                  FeederOptions(**values), seed=0, workers=0)


def _first_target(feeder: Feeder) -> np.ndarray:
    """Side A's first preview face (un-augmented), uint8."""
    return np.round(feeder.generate_preview(1)["a"][1][0] * 255).astype("uint8")


def _spec_sides(tmp_path: Path, **kwargs: Any) -> tuple[dict[str, Path], np.ndarray]:
    """Side A: the §3.8 face at 512 px; side B: another face."""
    landmarks = spec_landmarks()
    (tmp_path / "a").mkdir()
    image = write_extract(tmp_path / "a" / "frame_0.png", landmarks, draw_frame(landmarks), 512,
                          **kwargs)
    _face_set(tmp_path / "b", 1, 512, seed=1)
    return {"a": tmp_path / "a", "b": tmp_path / "b"}, image


@pytest.mark.parametrize(("centering", "coverage", "y_offset", "roi"), [
    ("face", 1.0, 0.0, (64, 84, 448, 468)),
    ("face", 0.875, 0.0, (88, 108, 424, 444)),
    ("face", 0.875, 0.1, (88, 89, 424, 425)),
    ("legacy", 0.75, 0.0, (141, 194, 371, 424)),
    ("head", 1.0, 0.0, (0, 0, 512, 512))])
def test_training_crop_is_the_spec_roi(tmp_path: Path, centering, coverage, y_offset, roi
                                       ) -> None:
    folders, image = _spec_sides(tmp_path)
    with _feeder(folders, centering=centering, coverage=coverage, vertical_offset=y_offset,
                 **_QUIET) as feeder:
        assert feeder.centering == centering
        face = _first_target(feeder)
        _, targets = feeder.get_batch()
    left, top, right, bottom = roi
    expected = cv2.resize(image[top:bottom, left:right], (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(face[..., :3], expected)
    np.testing.assert_array_equal(np.round(targets[0][0, 0] * 255), expected)


def test_vertical_offset_sign_moves_the_face_down(tmp_path: Path) -> None:
    folders, _ = _spec_sides(tmp_path)
    rows = {}
    for offset in (-0.1, 0.0, 0.1):
        with _feeder(folders, centering="face", coverage=0.875, vertical_offset=offset,
                     **_QUIET) as feeder:
            mouth = np.all(_first_target(feeder)[..., :3] == (40, 40, 190), axis=-1)
        rows[offset] = np.mean(np.nonzero(mouth)[0])
    assert rows[-0.1] < rows[0.0] < rows[0.1]  # a positive offset: the face sits lower


def test_stored_mask_is_processed_and_sub_cropped(tmp_path: Path) -> None:
    folders, _ = _spec_sides(tmp_path)
    with _feeder(folders, centering="face", coverage=0.875, penalized_mask_loss=True,
                 mask_channels=(3, -1, -1), mask_type="components", mask_blur_kernel=4,
                 mask_threshold=4, **_QUIET) as feeder:
        face = _first_target(feeder)
    stored = stored_landmark_mask(spec_landmarks(), "components").stored_mask[..., 0]
    mask = stored.copy()
    mask[mask < 10.2] = 0
    mask[mask > 244.8] = 255
    mask = cv2.GaussianBlur(mask, (5, 5), 0)  # kernel 4 bumped to 5
    # spec §4.4: face, k = 0.875 -> rows and cols 8:120 of the 128 px face mask
    expected = cv2.resize(mask[8:120, 8:120], (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(face[..., 3], expected)


def _payload(value: int) -> bytes:
    pattern = np.zeros((128, 128), "uint8")
    pattern[20:100, 30 + value // 10:90] = value
    return zlib.compress(pattern.tobytes())


_CENTERINGS = {"unet-dfl": "legacy", "bisenet-fp_head": "head", "custom_head": "head"}


def test_every_mask_type(tmp_path: Path) -> None:
    names = [name for name in MASK_TYPES if name != "none"]
    matrix = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    extra = {name: Mask(_payload(100 + 15 * index), matrix, 2, 128,
                        _CENTERINGS.get(name, "face")) for index, name in enumerate(names)}
    folders, _ = _spec_sides(tmp_path, masks=(), extra_masks=extra)
    _face_set(folders["b"], 1, 512, seed=2, masks=(), extra_masks=extra)
    seen = []
    for name in names:
        with _feeder(folders, centering="head", penalized_mask_loss=True,
                     mask_channels=(3, -1, -1), mask_type=name, mask_threshold=0,
                     mask_blur_kernel=0, **_QUIET) as feeder:
            found = _first_target(feeder)[..., 3]
        mask = extra[name].stored_mask[..., 0]
        if extra[name].stored_centering == "head":  # the same centering at coverage 1
            expected = cv2.resize(mask, (64, 64), interpolation=cv2.INTER_AREA)
            np.testing.assert_array_equal(found, expected)
        seen.append(int(found.max()))
    # every type gives its own mask (each payload has its own value)
    assert len(set(seen)) == len(names)


def test_missing_mask_type_names_the_files_and_their_masks(tmp_path: Path) -> None:
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    _face_set(folders["a"], 2, 128, masks=("components",))
    _face_set(folders["b"], 2, 128, seed=1)
    with pytest.raises(FaceswapError, match=r"(?s)mask type 'extended' but 2 of the 2 faces of "
                                            r"side A.*'frame000_0.png': components.*"
                                            r"components \(2\)"):
        _feeder(folders, penalized_mask_loss=True, mask_channels=(3, -1, -1))
    with pytest.raises(FaceswapError, match="mask_type is 'none'"):
        _feeder(folders, penalized_mask_loss=True, mask_channels=(3, -1, -1), mask_type="none")


def test_eye_and_mouth_masks_sit_on_the_eyes_and_mouth(tmp_path: Path) -> None:
    folders, _ = _spec_sides(tmp_path)
    with _feeder(folders, model=_model(128, ((128, 3),)), centering="face", coverage=0.875,
                 vertical_offset=0.1, penalized_mask_loss=True, mask_channels=(3, 4, 5),
                 **_QUIET) as feeder:
        face = np.round(feeder.get_batch()[1][0][0, 0] * 255).astype("uint8")
    assert face.shape == (128, 128, 6)
    colour = face[..., :3].astype(int)
    eyes = np.all(np.abs(colour - (40, 30, 30)) < 8, axis=-1)
    mouth = np.all(np.abs(colour - (40, 40, 190)) < 8, axis=-1)
    assert eyes.sum() > 20 and mouth.sum() > 20
    assert face[..., 4][eyes].min() > 150 and face[..., 4][mouth].max() == 0
    assert face[..., 5][mouth].min() > 150 and face[..., 5][eyes].max() == 0


def test_legacy_extracts_switch_the_centering(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    images = _face_set(folders["a"], 2, 256, version=1.0)
    _face_set(folders["b"], 2, 256, seed=1)
    with caplog.at_level(logging.WARNING, logger="lib.training.generator"):
        with _feeder(folders, centering="face", coverage=0.875, vertical_offset=0.1,
                     **_QUIET) as feeder:
            assert feeder.centering == "legacy"
            face = _first_target(feeder)
    assert "legacy extracted faces" in caplog.text and "Switching centering to 'legacy'" in (
        caplog.text)
    # spec §7: legacy source and target, no pose: side 2 * rint(256 * 0.875 / 2) = 224,
    # centre 128 - 0.1 * 160 = 112 -> rows 0:224, cols 16:240
    expected = cv2.resize(images[0][0:224, 16:240], (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(face[..., :3], expected)
    with pytest.raises(FaceswapError, match="mask_type is 'none'"):
        _feeder(folders, penalized_mask_loss=True, mask_channels=(3, -1, -1), mask_type="none")
    write_extract(folders["a"] / "new_0.png", spec_landmarks(), draw_frame(spec_landmarks()),
                  256)
    with pytest.raises(FaceswapError, match="Mixing legacy and full head"):
        _feeder(folders)


def test_faces_without_or_with_bad_metadata_stop_training(tmp_path: Path) -> None:
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    _face_set(folders["a"], 2, 128)
    _face_set(folders["b"], 2, 128, seed=1)
    cv2.imwrite(str(folders["a"] / "plain.png"), np.zeros((128, 128, 3), "uint8"))
    with pytest.raises(FaceswapError, match="1 carry no Faceswap metadata: 'plain.png'"):
        _feeder(folders)
    (folders["a"] / "plain.png").unlink()
    png = cv2.imencode(".png", np.zeros((128, 128, 3), "uint8"))[1].tobytes()
    (folders["a"] / "zhostile.png").write_bytes(
        encode_image(np.zeros((128, 128, 3), "uint8"), ".png", {"a": 1})[:33]
        + _itxt(b"{'alignments': __import__('os').system('echo pwned')}") + png[33:])
    with pytest.raises(FaceswapError, match=r"(?s)unusable metadata.*zhostile.png.*not a literal"):
        _feeder(folders)


def _itxt(text: bytes) -> bytes:
    import struct

    data = b"faceswap\x00\x00\x00\x00\x00" + text
    return (struct.pack(">I", len(data)) + b"iTXt" + data
            + struct.pack(">I", zlib.crc32(b"iTXt" + data)))


def test_warp_to_landmarks(tmp_path: Path) -> None:
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    _face_set(folders["a"], 3, 128)
    _face_set(folders["b"], 3, 128, seed=1)
    options = {"warp_to_landmarks": True, "no_flip": True, "no_augment_color": True,
               "augmentation": _STILL}
    with _feeder(folders, 2, **options) as feeder:
        inputs, targets = feeder.get_batch()
        matches = feeder._matches
    assert matches["a"].shape == (3, 3) and sorted(matches["a"][0]) == [0, 1, 2]
    assert np.abs(inputs - targets[0]).mean() > 0.005  # warped
    assert np.abs(inputs - targets[0]).mean() < 0.2  # but still the face
    with _feeder(folders, 2, **(options | {"no_warp": True})) as feeder:
        inputs, targets = feeder.get_batch()
    np.testing.assert_array_equal(inputs, targets[0])  # -W wins over -M
