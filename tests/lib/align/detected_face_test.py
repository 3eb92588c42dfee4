"""Tests for lib.align.detected_face: faces from PNG headers, refused when malformed."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from lib.align.aligned_mask import stored_landmark_mask
from lib.align.detected_face import DetectedFace
from lib.image import MetadataError, parse_literal
from tests.lib.align.faces import spec_landmarks


def _header(version: float = 2.4) -> dict:
    landmarks = spec_landmarks()
    face = DetectedFace(landmarks, 230, 140, 200, 220,
                        mask={"components": stored_landmark_mask(landmarks, "components")},
                        source={"alignments_version": version,
                                "original_filename": "frame_0.png", "face_index": 0,
                                "source_filename": "frame.png", "source_is_video": False,
                                "source_frame_dims": (480, 640)})
    return face.to_png_meta()


def test_round_trip_through_the_header_text() -> None:
    meta = _header()
    assert list(meta["alignments"]) == ["x", "w", "y", "h", "landmarks_xy", "mask", "identity"]
    assert list(meta["alignments"]["mask"]["components"]) == [
        "mask", "affine_matrix", "interpolator", "stored_size", "stored_centering"]
    face = DetectedFace.from_png_meta(parse_literal(str(meta)))
    np.testing.assert_array_equal(face.landmarks_xy, spec_landmarks())
    assert face.landmarks_xy.dtype == np.float32 and not face.is_legacy
    assert (face.x, face.y, face.w, face.h) == (230, 140, 200, 220)
    assert sorted(face.mask) == ["components"]
    assert DetectedFace.from_png_meta(_header(1.0)).is_legacy


def test_old_headers() -> None:
    meta = _header(2.1)
    del meta["alignments"]["mask"]["components"]["stored_centering"]
    del meta["alignments"]["identity"]
    face = DetectedFace.from_png_meta(meta)
    assert face.mask["components"].stored_centering == "face" and face.identity == {}


def _set(meta: dict, path: tuple, value) -> dict:
    meta = copy.deepcopy(meta)
    target = meta
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return meta


@pytest.mark.parametrize(("path", "value", "message"), [
    (("alignments",), [1, 2], "no 'alignments'"),
    (("alignments", "landmarks_xy"), "points", "landmarks_xy"),
    (("alignments", "landmarks_xy"), [[1.0, 2.0]] * 10, "shape"),
    (("alignments", "landmarks_xy"), [[1.0, "2"]] * 68, "landmarks_xy"),
    (("alignments", "landmarks_xy"), [[1.0, float("nan")]] * 68, "non-finite"),
    (("alignments", "mask"), KeyError, "no 'mask'"),
    (("alignments", "mask"), ["components"], "not a dict"),
    (("alignments", "mask", "components", "mask"), b"junk", "mask 'components'"),
    (("alignments", "identity"), {"arcface": [1.0]}, "vggface2"),
    (("alignments", "x"), "230", "'x'"),
    (("source",), "frame.png", "'source'"),
    (("source", "alignments_version"), "2.4", "alignments_version")])
def test_malformed_headers_are_refused(path: tuple, value, message: str) -> None:
    with pytest.raises(MetadataError, match=message) as info:
        DetectedFace.from_png_meta(_set(_header(), path, value), "face_0.png")
    assert "face_0.png" in str(info.value)
