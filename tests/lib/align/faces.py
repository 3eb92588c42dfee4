"""Synthetic faces with known landmarks for the lib.align and feeder tests (faceswap_data.md
§3.8: points 17-67 are the mean face, rotated 10 degrees, 200 px across, centred at (320, 240)).
"""
from __future__ import annotations

import numpy as np

from lib.align.constants import MEAN_FACE


def unit_landmarks() -> np.ndarray:
    """The 68 points of the §3.8 face in the unit square (jaw on an ellipse)."""
    theta = np.pi - np.arange(17) * np.pi / 16
    jaw = np.stack([0.5 + 0.55 * np.cos(theta), 0.3 + 0.8 * np.sin(theta)], axis=1)
    return np.concatenate([jaw, MEAN_FACE["68"]])


def spec_landmarks(scale: float = 200.0, angle: float = 10.0,
                   centre: tuple[float, float] = (320.0, 240.0)) -> np.ndarray:
    """Frame landmarks of the §3.8 face (float32 (68, 2))."""
    rad = np.deg2rad(angle)
    rotation = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    return np.float32(scale * (unit_landmarks() - 0.5) @ rotation.T + np.array(centre))


def draw_frame(landmarks: np.ndarray, shape: tuple[int, int] = (480, 640), seed: int = 0
               ) -> np.ndarray:
    """A BGR frame with a face drawn on the landmarks: skin inside the jaw and brows, dark eyes,
    a red mouth, on a textured background."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (6, 8, 3), dtype=np.uint8)
    frame = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    points = np.rint(landmarks).astype("int32")
    cv2.fillConvexPoly(frame, cv2.convexHull(points[:27]), (120, 160, 210), cv2.LINE_AA)
    for start in (36, 42):
        cv2.fillConvexPoly(frame, cv2.convexHull(points[start:start + 6]), (40, 30, 30),
                           cv2.LINE_AA)
    cv2.fillConvexPoly(frame, cv2.convexHull(points[48:60]), (40, 40, 190), cv2.LINE_AA)
    cv2.polylines(frame, [points[27:31]], False, (90, 120, 170), 2, cv2.LINE_AA)
    return frame


def write_extract(path, landmarks: np.ndarray, frame: np.ndarray, size: int = 256,
                  masks: tuple[str, ...] = ("components", "extended"), version: float = 2.4,
                  extra_masks: dict | None = None) -> np.ndarray:
    """Write a face PNG as Faceswap's extract does (head centering, coverage 1, the header with
    landmarks, masks and source); returns the face image."""
    from pathlib import Path

    from lib.align.aligned_face import AlignedFace
    from lib.align.aligned_mask import stored_landmark_mask
    from lib.align.detected_face import DetectedFace
    from lib.image import encode_image

    path = Path(path)
    face = AlignedFace(landmarks, "legacy" if version == 1.0 else "head", size)
    image = face.transform(frame)
    stored = {name: stored_landmark_mask(landmarks, name) for name in masks}
    stored.update(extra_masks or {})
    detected = DetectedFace(landmarks, 10, 20, 100, 120, mask=stored, source={
        "alignments_version": version, "original_filename": path.name,
        "face_index": 0, "source_filename": path.stem[:-2] + ".png",
        "source_is_video": False, "source_frame_dims": frame.shape[:2]})
    path.write_bytes(encode_image(image, ".png", detected.to_png_meta()))
    return image


def face_variants(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` sets of frame landmarks: the §3.8 face, scaled, turned and moved a little."""
    rng = np.random.default_rng(seed)
    return [spec_landmarks(float(rng.uniform(150, 220)), float(rng.uniform(-15, 15)),
                           (float(rng.uniform(280, 360)), float(rng.uniform(200, 260))))
            for _ in range(count)]
