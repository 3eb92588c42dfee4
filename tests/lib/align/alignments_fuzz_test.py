"""Fuzzing the alignments file reader (:func:`lib.align.alignments.load_alignments`): a zlib
stream holding a pickle, read by a restricted unpickler.

The genuine files: one written by :func:`~lib.align.alignments.serialize_alignments` (faces with
masks, identities and a thumbnail), a version 1.0 bare mapping (protocol 3) and a version 2.1
file written with NumPy 1.x module paths, as Faceswap wrote them; and two hostile pickles whose
payload (``builtins.open`` and ``os.system``) would create the sentinel file if it ran. Besides
the byte and tree mutations of :mod:`tests.fuzzing` (a tree is read back with the restricted
unpickler only: never with plain pickle), the pickle inside a valid zlib stream is mutated
byte-wise, and the stream is made a zip bomb. See :mod:`tests.fuzzing`."""
from __future__ import annotations

import builtins
import io
import os
import pickle
import random
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib.align.alignments import _RestrictedUnpickler, load_alignments, serialize_alignments
from lib.errors import FaceswapError
from tests.fuzzing import (
    BYTE_MUTATIONS,
    SENTINEL,
    Target,
    check,
    counts,
    fuzz,
    read_seeds,
    write_seeds,
)
from tests.lib.align.faces import spec_landmarks

_SEED = 20261209


class _Opens:
    def __reduce__(self):
        return (builtins.open, (SENTINEL, "w"))


class _Runs:
    def __reduce__(self):
        return (os.system, (f"touch {SENTINEL}",))


def _mask(size: int = 8) -> dict[str, Any]:
    pixels = (np.arange(size * size) % 256).astype("uint8")
    return {"mask": zlib.compress(pixels.tobytes()),
            "affine_matrix": np.array([[0.3, 0.05, -50.0], [-0.05, 0.3, 17.0]]),
            "interpolator": 2, "stored_size": size, "stored_centering": "face"}


def _face(seed: int) -> dict[str, Any]:
    return {"x": 230 + seed, "w": 200, "y": 140, "h": 220,
            "landmarks_xy": spec_landmarks(150.0 + seed, 5.0 * seed),
            "mask": {"components": _mask(), "extended": _mask(16)},
            "identity": {"vggface2": np.linspace(-1, 1, 16, dtype="float32")},
            "thumb": np.frombuffer(b"\xff\xd8\xff\xe0fakejpeg", dtype="uint8").copy()}


def _genuine() -> list[bytes]:
    ours = serialize_alignments({"frame_000001.png": {"faces": [_face(0), _face(1)],
                                                      "video_meta": {}},
                                 "frame_000002.png": {"faces": [], "video_meta": {}}})
    legacy_face = {"x": 1, "w": 2, "y": 3, "h": 4,
                   "landmarksXY": spec_landmarks().tolist(), "hash": "ab" * 20}
    version_1 = zlib.compress(pickle.dumps({"f1.png": [legacy_face], "f2.png": []}, protocol=3))
    face = _face(2)
    del face["mask"]["components"]["stored_centering"], face["identity"]
    raw = pickle.dumps({"__meta__": {"version": 2.1}, "__data__": {"f.png": {"faces": [face]}}},
                       protocol=3).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    hostile = [zlib.compress(pickle.dumps(
        {"__meta__": {"version": 2.4},
         "__data__": {"f.png": {"faces": [], "video_meta": {"x": payload()}}}}, protocol=4))
        for payload in (_Opens, _Runs)]
    return [ours, version_1, zlib.compress(raw), *hostile]


def _parse(data: bytes) -> Any:
    return _RestrictedUnpickler(io.BytesIO(zlib.decompress(data))).load()


def _serialise(tree: Any) -> bytes:
    return zlib.compress(pickle.dumps(tree, protocol=4))


def _mutate_pickle(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """The pickle mutated byte-wise inside a valid zlib stream."""
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        return "pickle (not zlib)", data
    description, raw = rng.choice(BYTE_MUTATIONS)(rng, raw)
    return f"pickle: {description}", zlib.compress(raw)


_BOMB: list[bytes] = []
_MAX_DATA = 16 << 20  # the decompressed bound, lowered from 4 GiB so a bomb is quick to reach


def _bomb(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """A zlib stream that inflates to 4 times the bound (made once)."""
    if not _BOMB:
        _BOMB.append(zlib.compress(b"\x00" * (4 * _MAX_DATA), 9))
    return f"zlib stream of {4 * _MAX_DATA} bytes", _BOMB[0]


def _read(path: Path) -> None:
    load_alignments(path, max_data_bytes=_MAX_DATA)


def alignments_target(seed_dir: Path) -> Target:
    return Target(read_seeds(seed_dir), _read, "alignments.fsa", parse=_parse,
                  serialise=_serialise, extra=[_mutate_pickle, _mutate_pickle, _bomb])


@counts(80)
def test_fuzz_alignments_file(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine())
    report = fuzz(f"{__name__}:alignments_target", seeds, tmp_path / "work", _SEED, count)
    check(report, count)


@pytest.mark.parametrize("change", ["landmarks", "matrix", "version"])
def test_numbers_beyond_float_are_refused(tmp_path, change):
    """What the fuzzing found: an integer too large for a float (10**400) in the landmarks, a
    mask's matrix or the version escaped as OverflowError."""
    face = _face(0)
    version: Any = 2.4
    if change == "landmarks":
        face["landmarks_xy"] = face["landmarks_xy"].tolist()
        face["landmarks_xy"][5][1] = 10 ** 400
    elif change == "matrix":
        face["mask"]["components"]["affine_matrix"] = [[10 ** 400, 0, 0], [0, 1, 0]]
    else:
        version = 10 ** 400
    path = tmp_path / "alignments.fsa"
    path.write_bytes(zlib.compress(pickle.dumps(
        {"__meta__": {"version": version}, "__data__": {"f.png": {"faces": [face]}}})))
    with pytest.raises(FaceswapError, match="cannot be used"):
        load_alignments(path)
