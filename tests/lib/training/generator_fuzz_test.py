"""Fuzzing the reader of ``landmarks.json``, the simple face format's landmark file (read by the
training feeder, :mod:`lib.training.generator`, when eye and mouth masks or warp-to-landmarks
need 68-point landmarks). The genuine files follow the format's description
(``{"<file name>": [[x, y], ... 68 points]}``): float and integer points, and entries for
images that are not in the folder. See :mod:`tests.fuzzing`."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.training.generator import FeederOptions, _FaceSet
from tests.fuzzing import Target, check, counts, fuzz, read_seeds, write_seeds
from tests.lib.align.faces import spec_landmarks

_SEED = 20261210
_SIZE = 32
_IMAGES = ("face_0.png", "face_1.png")


def _image(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    face = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (_SIZE, _SIZE))
    alpha = np.zeros((_SIZE, _SIZE, 1), dtype=np.uint8)
    cv2.circle(alpha, (_SIZE // 2, _SIZE // 2), _SIZE // 3, 255, -1)
    return cv2.imencode(".png", np.concatenate([face, alpha], axis=-1))[1].tobytes()


def _points(scale: float) -> list[list[float]]:
    return spec_landmarks(scale, 5.0, (_SIZE / 2, _SIZE / 2)).tolist()


def _genuine() -> list[bytes]:
    floats = {name: _points(20.0 + index) for index, name in enumerate(_IMAGES)}
    ints = {name: [[round(x), round(y)] for x, y in _points(22.0)] for name in _IMAGES}
    extra = {**floats, "face_9.png": _points(18.0), "other.jpg": _points(24.0)}
    return [json.dumps(doc).encode() for doc in (floats, ints, extra)]


def landmarks_target(seed_dir: Path) -> Target:
    """``landmarks.json`` beside two simple-format faces, read for eye and mouth masks."""
    face_sets: list[_FaceSet] = []

    def read(path: Path) -> None:
        if not face_sets:  # scanned once: the images are the same for every input
            face_sets.append(_FaceSet(
                "a", [str(path.parent / name) for name in _IMAGES], FeederOptions(),
                {"landmarks": "set eye_multiplier and mouth_multiplier to 1"}, workers=1))
        face_set = face_sets[0]
        face_set._landmarks(face_set._usable)

    return Target(read_seeds(seed_dir), read, "landmarks.json", parse=json.loads,
                  serialise=lambda tree: json.dumps(tree).encode("utf-8"),
                  support={name: _image(index) for index, name in enumerate(_IMAGES)})


@counts(60)
def test_fuzz_landmarks_json(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine())
    report = fuzz(f"{__name__}:landmarks_target", seeds, tmp_path / "work", _SEED, count)
    check(report, count)


def test_numbers_beyond_float_are_refused(tmp_path):
    """What the fuzzing found: an integer too large for a float (10**400) among the points
    escaped as OverflowError."""
    entries = {name: _points(20.0) for name in _IMAGES}
    entries["face_1.png"][53][1] = 10 ** 400
    seeds = write_seeds(tmp_path / "seeds", [json.dumps(entries).encode()])
    target = landmarks_target(seeds)
    for name, content in target.support.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "landmarks.json").write_bytes(target.seeds[0])
    with pytest.raises(FaceswapError, match="landmarks of 'face_1.png'.*not 68"):
        target.read(tmp_path / "landmarks.json")
