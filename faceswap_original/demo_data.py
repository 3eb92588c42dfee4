"""Synthetic training faces for the ``demo`` command: two drawn identities, no downloads.

The demo must let a new user watch the Original model learn a swap within minutes on a laptop, so
the data is generated on the fly with OpenCV and NumPy, deterministically from a seed:

* identity ``"a"``: a round, pale face with short dark hair, blue eyes, thin eyebrows, a small
  nose and a narrow, thin-lipped mouth;
* identity ``"b"``: a longer, oval, darker face with long copper-red hair, a full red beard and
  moustache, green almond eyes, thick eyebrows, a broad nose and a wide, full-lipped mouth.

Each face varies in pose (in-plane rotation, a small yaw rendered as a horizontal squash of the
head with the features shifted by their depth, a little pitch, scale and shift), expression (mouth
closed, open or smiling, eyes open or blinking, gaze, eyebrows), lighting (direction, strength and
brightness) and background (gradient, colour blotches, noise). :func:`render_face` draws a
roughly aligned "frame" (BGRA: the alpha channel is the face mask) and its 68 iBUG landmarks,
computed from the drawn geometry.

The demo's training folders are **Faceswap face sets** (:func:`write_demo_faces`): each drawn
frame is aligned as Faceswap's extract aligns a face (head centering, coverage 1, from the 68
landmarks) and written as ``<identity>_<index:04d>_0.png`` with Faceswap's PNG metadata: the
landmarks in the frame, the ``components`` and ``extended`` masks stored as extract stores them,
and the source. So the demo trains through the same path as faces extracted by Faceswap.
Faceswap compat: where the head extract reaches past the drawn frame, extract leaves it black;
the demo reflects the frame there instead (a drawn frame is smaller than a real one).

Examples
--------
>>> import numpy as np
>>> image, landmarks = render_face("a", np.random.default_rng(0), size=64)
>>> image.shape, image.dtype.name, landmarks.shape
((64, 64, 4), 'uint8', (68, 2))
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["IDENTITIES", "extract_demo_face", "generate_demo_data", "render_face",
           "write_demo_faces"]

logger = logging.getLogger(__name__)

IDENTITIES = ("a", "b")
"""The identities that :func:`render_face` can draw."""

_MIN_SIZE = 32
_MAX_SIZE = 2048
_MARKER = "demo_data.json"
# Bump when the drawing changes, so that `generate_demo_data` replaces data drawn by an older one.
_DRAWING_VERSION = 2  # 2: Faceswap face sets (aligned faces with PNG metadata)
_ALIGNMENTS_VERSION = 2.4
_EYE_LINE = 0.42  # vertical position of the eyes, as a fraction of the image size
_SHIFT = 4  # fractional bits for sub-pixel drawing with cv2 (coordinates times 16)


@dataclass(frozen=True)
class _Identity:
    """The fixed look of one person. Lengths are fractions of the image size; colours BGR."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    brow: tuple[float, float, float]
    iris: tuple[float, float, float]
    lips: tuple[float, float, float]
    beard: tuple[float, float, float] | None
    long_hair: bool
    blush: float
    face_half_width: float
    face_half_height: float
    face_centre: float  # vertical centre of the face outline, below the eye line
    jaw_taper: float  # how much the outline narrows towards the chin
    eye_spacing: float
    eye_half_width: float
    eye_height: float
    eye_tilt: float  # outer corners raised (positive) or lowered
    brow_thickness: float
    brow_arch: float
    nose_half_width: float
    nose_length: float
    mouth_level: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float


_LOOKS = {
    "a": _Identity(
        skin=(178.0, 198.0, 236.0), hair=(26.0, 28.0, 36.0), brow=(34.0, 38.0, 50.0),
        iris=(210.0, 125.0, 35.0), lips=(118.0, 116.0, 196.0), beard=None, long_hair=False,
        blush=0.28, face_half_width=0.29, face_half_height=0.37, face_centre=0.085,
        jaw_taper=0.10, eye_spacing=0.14, eye_half_width=0.046, eye_height=0.025,
        eye_tilt=0.0, brow_thickness=0.010, brow_arch=0.016, nose_half_width=0.028,
        nose_length=0.145, mouth_level=0.265, mouth_half_width=0.062, upper_lip=0.007,
        lower_lip=0.010),
    "b": _Identity(
        skin=(82.0, 116.0, 168.0), hair=(30.0, 78.0, 196.0), brow=(28.0, 62.0, 150.0),
        iris=(70.0, 160.0, 60.0), lips=(72.0, 70.0, 168.0), beard=(24.0, 56.0, 150.0),
        long_hair=True, blush=0.0, face_half_width=0.245, face_half_height=0.41,
        face_centre=0.06, jaw_taper=0.24, eye_spacing=0.132, eye_half_width=0.052,
        eye_height=0.017, eye_tilt=0.006, brow_thickness=0.019, brow_arch=0.006,
        nose_half_width=0.05, nose_length=0.17, mouth_level=0.29, mouth_half_width=0.098,
        upper_lip=0.015, lower_lip=0.021),
}


@dataclass(frozen=True)
class _Pose:
    """What varies from one image of a person to the next."""

    roll: float
    yaw: float
    pitch: float
    scale: float
    shift_x: float
    shift_y: float
    mouth_open: float
    smile: float
    eye_open: float
    gaze_x: float
    gaze_y: float
    brow_raise: float
    light_angle: float
    light_strength: float
    brightness: float
    skin_tint: tuple[float, float, float]


def _sample_pose(rng: np.random.Generator) -> _Pose:
    mouth_open = 0.0 if rng.random() < 0.45 else float(rng.uniform(0.15, 1.0))
    eye_open = float(rng.uniform(0.0, 0.35)) if rng.random() < 0.15 else float(
        rng.uniform(0.8, 1.1))
    return _Pose(
        roll=float(rng.uniform(-0.14, 0.14)), yaw=float(rng.uniform(-0.4, 0.4)),
        pitch=float(rng.uniform(-0.15, 0.15)), scale=float(rng.uniform(0.93, 1.07)),
        shift_x=float(rng.uniform(-0.025, 0.025)), shift_y=float(rng.uniform(-0.025, 0.025)),
        mouth_open=mouth_open, smile=float(rng.uniform(-0.3, 1.0)), eye_open=eye_open,
        gaze_x=float(rng.uniform(-0.4, 0.4)), gaze_y=float(rng.uniform(-0.15, 0.15)),
        brow_raise=float(rng.uniform(-0.008, 0.016)),
        light_angle=float(rng.uniform(0.0, 2.0 * math.pi)),
        light_strength=float(rng.uniform(0.08, 0.35)), brightness=float(rng.uniform(0.82, 1.12)),
        skin_tint=tuple(float(v) for v in rng.uniform(0.95, 1.05, 3)))


class _Projector:
    """Maps face-frame points ``(x, y, protrusion)`` to image pixels.

    The face frame has its origin between the eyes, ``y`` pointing down, in fractions of the image
    size. The head is treated as a half-ellipsoid so that yaw squashes the outline and moves each
    feature sideways by its depth, which reads as a turned head in a 2D drawing.
    """

    def __init__(self, look: _Identity, pose: _Pose, size: int) -> None:
        self._half_width = look.face_half_width
        self._depth = 0.75 * look.face_half_width
        self._cos_yaw, self._sin_yaw = math.cos(pose.yaw), math.sin(pose.yaw)
        self._cos_pitch, self._sin_pitch = math.cos(pose.pitch), math.sin(pose.pitch)
        scale = pose.scale * size
        self._cos_roll = scale * math.cos(pose.roll)
        self._sin_roll = scale * math.sin(pose.roll)
        self._origin_x = (0.5 + pose.shift_x) * size
        self._origin_y = (_EYE_LINE + pose.shift_y) * size
        self.pixels_per_unit = scale

    def __call__(self, x: np.ndarray, y: np.ndarray | float,
                 protrusion: np.ndarray | float = 0.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        across = x * (1.0 / (1.08 * self._half_width))
        depth = self._depth * np.sqrt(np.maximum(1.0 - across * across, 0.0)) + protrusion
        turned_x = x * self._cos_yaw + depth * self._sin_yaw
        turned_y = y * self._cos_pitch + depth * self._sin_pitch
        points = np.empty(turned_x.shape + (2,))
        points[..., 0] = self._origin_x + turned_x * self._cos_roll - turned_y * self._sin_roll
        points[..., 1] = self._origin_y + turned_x * self._sin_roll + turned_y * self._cos_roll
        return points


# ----------------------------------------------------------------------------------------------
# Drawing helpers (all sub-pixel and anti-aliased)
# ----------------------------------------------------------------------------------------------
def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _colour(bgr: np.ndarray | tuple[float, ...]) -> tuple[float, float, float]:
    return tuple(float(min(255.0, max(0.0, c))) for c in bgr)


def _fill(canvas: np.ndarray, points: np.ndarray, colour: tuple[float, ...] | float) -> None:
    cv2.fillPoly(canvas, [_fixed(points)], colour, cv2.LINE_AA, _SHIFT)


def _line(canvas: np.ndarray, points: np.ndarray, colour: tuple[float, ...] | float,
          thickness: int) -> None:
    cv2.polylines(canvas, [_fixed(points)], False, colour, max(1, thickness), cv2.LINE_AA,
                  _SHIFT)


def _soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur, done at a quarter of the resolution when that changes nothing
    visible (it is the slowest step otherwise)."""
    size = mask.shape[0]
    if sigma < 3.0 or size < 64:
        return cv2.GaussianBlur(mask, (0, 0), sigma)
    small = cv2.resize(mask, (size // 4, size // 4), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4.0)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def _mask(size: int, *polygons: np.ndarray) -> np.ndarray:
    """Filled polygons as a float32 coverage map in [0, 1]."""
    canvas = np.zeros((size, size), np.uint8)
    for polygon in polygons:
        _fill(canvas, polygon, 255)
    return canvas.astype(np.float32) * (1.0 / 255.0)


def _blend(image: np.ndarray, mask: np.ndarray, layer: np.ndarray | tuple[float, ...],
           opacity: float = 1.0) -> None:
    """``image = image * (1 - m) + layer * m`` in place, ``m = mask * opacity``, computed only
    over the bounding box of the mask (most layers are small)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    weight = mask[box][..., None] * opacity
    base = image[box].astype(np.float32)
    layer = np.asarray(layer, np.float32)
    if layer.ndim == 3:
        layer = layer[box]
    mixed = base + (layer - base) * weight
    np.clip(mixed, 0.0, 255.0, out=mixed)
    image[box] = np.rint(mixed)


def _texture(rng: np.random.Generator, size: int, streak: float) -> np.ndarray:
    """Zero-mean, unit-spread strand-like noise (hair, beard): fine white noise smeared
    vertically, plus broad soft variations so that it does not look like a bar code."""
    fine = rng.standard_normal((size, size), dtype=np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), sigmaX=0.5 + 0.002 * size,
                            sigmaY=streak * size / 128.0)
    fine /= float(fine.std()) + 1e-6
    broad = rng.standard_normal((6, 6), dtype=np.float32)
    broad = cv2.resize(broad, (size, size), interpolation=cv2.INTER_CUBIC)
    return 0.6 * fine + 0.6 * broad


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


# ----------------------------------------------------------------------------------------------
# Geometry in the face frame
# ----------------------------------------------------------------------------------------------
def _outline(look: _Identity, angles: np.ndarray, grow: float = 1.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """Face outline at parameter ``angles`` (pi/2 is the chin, 3pi/2 the top of the forehead)."""
    sin, cos = np.sin(angles), np.cos(angles)
    taper = 1.0 - look.jaw_taper * np.clip(sin, 0.0, None) ** 2
    x = grow * look.face_half_width * cos * taper
    y = look.face_centre + grow * look.face_half_height * sin
    return x, y


def _outline_angle(look: _Identity, level: float) -> float:
    """The angle past pi (image left) at which the outline reaches height ``level``."""
    return -math.asin(max(-1.0, min(1.0, (level - look.face_centre) / look.face_half_height)))


def _jaw(look: _Identity) -> tuple[np.ndarray, np.ndarray]:
    start = _outline_angle(look, 0.015)  # iBUG point 0 sits just below the eye corners
    angles = math.pi + start - np.arange(17) * (math.pi + 2.0 * start) / 16.0
    return _outline(look, angles)


def _eye(look: _Identity, pose: _Pose, side: int, samples: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense upper and lower lids (left to right) and the six iBUG points, in the face frame.

    ``side`` is -1 for the eye on the image's left (iBUG 36-41), +1 for the right (42-47).
    """
    half, centre = look.eye_half_width, side * look.eye_spacing
    height = look.eye_height * max(pose.eye_open, 0.04)

    def lids(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        base = np.clip(1.0 - t ** 2, 0.0, None)
        # Outer corner (away from the nose) raised by the tilt.
        tilt = -look.eye_tilt * (side * t + 1.0) / 2.0
        upper = tilt - height * base ** 0.65 - 0.06 * height * t * side
        lower = tilt + 0.6 * height * base ** 0.9
        return centre + half * t, upper, lower

    t = np.linspace(-1.0, 1.0, samples)
    x, upper, lower = lids(t)
    key_t = np.array([-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0])
    kx, kupper, klower = lids(key_t)
    # iBUG order for both eyes: left corner, two upper points, right corner, two lower points
    # back to the left (36 is the outer corner of the left eye, 42 the inner corner of the right).
    key_x = np.array([kx[0], kx[1], kx[2], kx[3], kx[2], kx[1]])
    key_y = np.array([kupper[0], kupper[1], kupper[2], kupper[3], klower[2], klower[1]])
    return np.stack([x, upper]), np.stack([x, lower]), key_x, key_y


def _brow(look: _Identity, pose: _Pose, side: int, samples: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper and lower edges (inner to outer) and the centre line, in the face frame."""
    inner, outer = 0.06, 0.205
    t = np.linspace(0.0, 1.0, samples)  # 0 at the inner end
    level = -0.072 - look.eye_height * 0.6 - pose.brow_raise
    x = side * (inner + (outer - inner) * t)
    # Arched, slightly lower at the outer end; raising the brows lifts the inner end more.
    centre = (level - look.brow_arch * np.sin(np.pi * (0.25 + 0.75 * t)) + 0.012 * t ** 2
              + 0.3 * pose.brow_raise * t)
    thickness = look.brow_thickness * (1.15 - 0.55 * t ** 1.5)
    return x, centre - thickness / 2.0, centre + thickness / 2.0, centre


def _mouth(look: _Identity, pose: _Pose, t: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, outer upper, inner upper, inner lower and outer lower lip lines at ``t`` in [-1, 1]."""
    half = look.mouth_half_width * (1.0 + 0.12 * pose.smile - 0.1 * pose.mouth_open)
    x = half * t
    base = np.clip(1.0 - t ** 2, 0.0, None)
    seam = look.mouth_level - 0.022 * pose.smile * t ** 2 + 0.008 * pose.smile * base
    gap = 0.062 * pose.mouth_open * base ** 0.8
    inner_upper = seam - 0.2 * gap
    inner_lower = seam + 0.8 * gap
    # A cupid's bow: the upper lip dips a little in the middle.
    bow = 1.0 - 0.35 * np.exp(-(t / 0.18) ** 2)
    outer_upper = inner_upper - look.upper_lip * base ** 0.45 * bow - 0.002
    outer_lower = inner_lower + look.lower_lip * base ** 0.55 + 0.001
    return x, outer_upper, inner_upper, inner_lower, outer_lower


def _landmarks(look: _Identity, pose: _Pose, project: _Projector) -> np.ndarray:
    """The 68 iBUG points in image pixels."""
    points = np.zeros((68, 2))
    points[0:17] = project(*_jaw(look))
    for side, start in ((-1, 17), (1, 22)):
        x, _, _, centre = _brow(look, pose, side, 5)
        order = slice(None, None, -1) if side < 0 else slice(None)  # outer to inner on the left
        points[start:start + 5] = project(x[order], centre[order], 0.015)
    tip = look.nose_length
    points[27:31] = project(np.zeros(4), tip * np.array([0.0, 1 / 3, 2 / 3, 1.0]),
                            np.array([0.01, 0.025, 0.04, 0.06]))
    nostril_x = look.nose_half_width * np.array([-0.85, -0.45, 0.0, 0.45, 0.85])
    points[31:36] = project(nostril_x, tip + np.array([0.012, 0.02, 0.024, 0.02, 0.012]),
                            np.array([0.02, 0.035, 0.04, 0.035, 0.02]))
    for side, start in ((-1, 36), (1, 42)):
        _, _, key_x, key_y = _eye(look, pose, side, 3)
        points[start:start + 6] = project(key_x, key_y, 0.005)
    outer_t = np.array([-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0])
    x, outer_upper, _, _, outer_lower = _mouth(look, pose, outer_t)
    points[48:55] = project(x, outer_upper, 0.02)
    points[55:60] = project(x[5:0:-1], outer_lower[5:0:-1], 0.02)
    inner_t = np.array([-0.85, -0.4, 0.0, 0.4, 0.85])
    x, _, inner_upper, inner_lower, _ = _mouth(look, pose, inner_t)
    points[60:65] = project(x, inner_upper, 0.02)
    points[65:68] = project(x[3:0:-1], inner_lower[3:0:-1], 0.02)
    return points


# ----------------------------------------------------------------------------------------------
# The layers of the drawing, back to front
# ----------------------------------------------------------------------------------------------
def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A two-colour gradient at a random angle, colour blotches and fine noise (float32)."""
    first, second = rng.uniform(20.0, 235.0, (2, 3)).astype(np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    # The gradient is linear, so it is computed on a coarse grid and resized (cheaper).
    coarse = np.linspace(-0.5, 0.5, 8, dtype=np.float32)
    ramp = np.clip(coarse[None, :] * math.cos(angle) + coarse[:, None] * math.sin(angle) + 0.5,
                   0.0, 1.0)
    image = first + (second - first) * ramp[..., None]
    cells = int(rng.integers(2, 6))
    blotches = rng.uniform(-35.0, 35.0, (cells, cells, 3)).astype(np.float32)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    image += cv2.resize(blotches, (size, size), interpolation=cv2.INTER_CUBIC)
    image += rng.uniform(2.0, 9.0) * rng.standard_normal((size, size, 1), dtype=np.float32)
    return image


def _draw_back_hair(image: np.ndarray, look: _Identity, project: _Projector,
                    texture: np.ndarray, size: int) -> np.ndarray:
    """Long hair behind the head and down to the shoulders; returns its coverage."""
    angles = np.linspace(math.pi - 0.35, 2.0 * math.pi + 0.35, 40)
    x, y = _outline(look, angles, grow=1.12)
    y = y - 0.01
    # The hair falls from the sides of the head, flaring a little towards the shoulders.
    fall = np.linspace(0.0, 1.0, 8)[1:]
    side_y = y[-1] + (0.62 - y[-1]) * fall
    side_x = x[-1] + 0.085 * fall ** 0.6 + 0.008 * np.sin(fall * 9.0)
    x = np.concatenate([-side_x[::-1], x, side_x])
    y = np.concatenate([side_y[::-1], y, side_y])
    mask = _mask(size, project(x, y))
    _blend(image, mask, np.asarray(look.hair, np.float32) * 0.7 * (1.0 + 0.1 * texture[..., None]))
    return mask


def _draw_body(image: np.ndarray, look: _Identity, project: _Projector,
               rng: np.random.Generator, skin: np.ndarray) -> None:
    half = look.face_half_width
    neck = project(np.array([-0.5, -0.58, 0.58, 0.5]) * half, np.array([0.2, 0.7, 0.7, 0.2]))
    _fill(image, neck, _colour(skin * 0.78))
    shirt = rng.uniform(30.0, 220.0, 3)
    collar_y = look.face_centre + look.face_half_height + 0.035
    shoulders = project(np.array([-0.75, -0.75, -0.5, -0.62 * half, 0.0, 0.62 * half, 0.5,
                                  0.75, 0.75]),
                        np.array([0.75, 0.55, collar_y + 0.02, collar_y, collar_y + 0.05,
                                  collar_y, collar_y + 0.02, 0.55, 0.75]))
    _fill(image, shoulders, _colour(shirt))


def _draw_ears(image: np.ndarray, look: _Identity, project: _Projector, skin: np.ndarray
               ) -> None:
    t = np.linspace(0.0, 2.0 * math.pi, 24)
    for side in (-1, 1):
        x = side * (look.face_half_width * 0.97 + 0.022 * (1.0 + np.cos(t)) / 2.0)
        y = 0.075 + 0.052 * np.sin(t)
        _fill(image, project(x, y), _colour(skin * 0.9))
        inner = project(side * (look.face_half_width * 0.985 + 0.01 * (1.0 + np.cos(t[4:16]))),
                        0.075 + 0.03 * np.sin(t[4:16]))
        _line(image, inner, _colour(skin * 0.7), 1)


def _face_polygon(look: _Identity, project: _Projector) -> np.ndarray:
    x, y = _outline(look, np.linspace(0.0, 2.0 * math.pi, 97)[:-1])
    return project(x, y)


def _draw_cheeks(image: np.ndarray, look: _Identity, project: _Projector, size: int) -> None:
    if look.blush <= 0.0:
        return
    t = np.linspace(0.0, 2.0 * math.pi, 20)
    cheeks = [project(side * 0.14 + 0.045 * np.cos(t), 0.17 + 0.03 * np.sin(t), 0.01)
              for side in (-1, 1)]
    mask = _soften(_mask(size, *cheeks), 0.03 * project.pixels_per_unit)
    _blend(image, mask, (120.0, 125.0, 235.0), look.blush)


def _draw_beard(image: np.ndarray, look: _Identity, project: _Projector,
                texture: np.ndarray, size: int) -> None:
    if look.beard is None:
        return
    half = look.face_half_width

    def upper_edge(x: np.ndarray) -> np.ndarray:
        # Below the nose in the middle, rising along the cheeks to join the sideburns.
        return look.nose_length + 0.045 - 0.13 * (np.abs(x) / half) ** 2

    x, y = _outline(look, np.linspace(math.pi + 0.5, -0.5, 120), grow=1.03)
    keep = y > upper_edge(x)
    x, y = x[keep], y[keep]
    edge_x = np.linspace(x[-1], x[0], 30)
    edge_y = upper_edge(edge_x) + 0.006 * np.sin(edge_x * 190.0)  # a slightly ragged edge
    polygon = project(np.concatenate([x, edge_x]), np.concatenate([y, edge_y]), 0.01)
    mask = cv2.GaussianBlur(_mask(size, polygon), (0, 0), 0.004 * project.pixels_per_unit + 0.3)
    _blend(image, mask, np.asarray(look.beard, np.float32) * (1.0 + 0.13 * texture[..., None]))


def _draw_front_hair(image: np.ndarray, look: _Identity, project: _Projector,
                     texture: np.ndarray, size: int) -> np.ndarray:
    """Hair over the top of the head; returns its coverage."""
    half = look.face_half_width
    if look.long_hair:
        low = 0.24
        start = _outline_angle(look, low)
        x, y = _outline(look, np.linspace(math.pi + start, 2.0 * math.pi - start, 48), grow=1.1)
        # The inner edge: down the right side, up to a parting just right of centre, and down
        # the left side, framing the face like curtains.
        edge_x = half * np.array([1.02, 0.93, 0.86, 0.7, 0.4, 0.12, -0.1, -0.45, -0.75, -0.9,
                                  -0.95, -1.03])
        edge_y = np.array([low, 0.1, -0.06, -0.17, -0.23, -0.28, -0.25, -0.2, -0.14, -0.02,
                           0.1, low])
    else:
        low = 0.03
        start = _outline_angle(look, low)
        x, y = _outline(look, np.linspace(math.pi + start, 2.0 * math.pi - start, 48), grow=1.06)
        y = y - 0.012
        # Short hair: sideburns, temples, and a fringe swept to one side.
        edge_x = half * np.array([0.99, 0.92, 0.9, 0.75, 0.5, 0.2, -0.1, -0.4, -0.7, -0.88,
                                  -0.92, -0.99])
        edge_y = np.array([low, low, -0.08, -0.15, -0.175, -0.19, -0.205, -0.19, -0.16, -0.1,
                           low, low])
    polygon = project(np.concatenate([x, edge_x]), np.concatenate([y, edge_y]), 0.015)
    mask = _mask(size, polygon)
    shade = np.asarray(look.hair, np.float32) * (1.0 + 0.12 * texture[..., None])
    # A few highlight strands, kept inside the hair, so it reads as hair and not as a hat.
    strands = np.empty_like(image)
    strands[...] = np.clip(np.rint(shade), 0.0, 255.0)
    top = look.face_centre - look.face_half_height
    for frac in (-0.55, -0.2, 0.2, 0.55):
        along = np.linspace(0.0, 1.0, 8)
        strand_x = half * (frac + 0.25 * along * frac)
        strand_y = top + 0.02 + 0.1 * along - 0.04 * (1.0 - abs(frac))
        _line(strands, project(strand_x, strand_y, 0.02),
              _colour(np.asarray(look.hair) * 1.3 + 14.0), 1)
    _blend(image, mask, strands)
    return mask


def _draw_brows(image: np.ndarray, look: _Identity, pose: _Pose, project: _Projector) -> None:
    for side in (-1, 1):
        x, upper, lower, _ = _brow(look, pose, side, 14)
        polygon = project(np.concatenate([x, x[::-1]]), np.concatenate([upper, lower[::-1]]),
                          0.015)
        _fill(image, polygon, _colour(look.brow))


def _draw_eyes(image: np.ndarray, look: _Identity, pose: _Pose, project: _Projector,
               skin: np.ndarray, size: int) -> None:
    scale = project.pixels_per_unit
    lid_thickness = max(1, int(round(0.009 * scale)))
    for side in (-1, 1):
        upper, lower, _, _ = _eye(look, pose, side, 20)
        # The lid crease and a little shadow above the eye.
        crease = project(upper[0], upper[1] - 0.012 - 0.3 * look.eye_height, 0.005)
        _line(image, crease[3:-3], _colour(skin * 0.8), 1)
        outline = project(np.concatenate([upper[0], lower[0][::-1]]),
                          np.concatenate([upper[1], lower[1][::-1]]), 0.005)
        if pose.eye_open > 0.2:
            layer = np.empty_like(image)
            layer[...] = (222.0, 228.0, 234.0)
            centre_x = side * look.eye_spacing + pose.gaze_x * look.eye_half_width * 0.35
            centre_y = pose.gaze_y * look.eye_height * 0.4 - 0.1 * look.eye_height
            centre = project(np.array([centre_x]), np.array([centre_y]), 0.005)[0]
            iris_radius = 0.5 * look.eye_half_width * scale
            point = tuple(int(v) for v in np.round(centre * (1 << _SHIFT)))
            cv2.circle(layer, point, int(round(iris_radius * (1 << _SHIFT))),
                       _colour(look.iris), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(layer, point, int(round(iris_radius * 0.45 * (1 << _SHIFT))),
                       (20.0, 18.0, 18.0), -1, cv2.LINE_AA, _SHIFT)
            glint = tuple(int(v) for v in np.round(
                (centre + iris_radius * np.array([0.35, -0.35])) * (1 << _SHIFT)))
            cv2.circle(layer, glint, int(round(max(0.6, iris_radius * 0.22) * (1 << _SHIFT))),
                       (250.0, 250.0, 250.0), -1, cv2.LINE_AA, _SHIFT)
            _blend(image, _mask(size, outline), layer)
        else:
            _fill(image, outline, _colour(skin * 0.85))
        _line(image, project(upper[0], upper[1], 0.005), (30.0, 26.0, 30.0), lid_thickness)
        _line(image, project(lower[0][3:-3], lower[1][3:-3], 0.005), _colour(skin * 0.72), 1)


def _draw_nose(image: np.ndarray, look: _Identity, pose: _Pose, project: _Projector,
               skin: np.ndarray) -> None:
    half, tip = look.nose_half_width, look.nose_length
    shadow_side = -1.0 if math.cos(pose.light_angle) > 0.0 else 1.0
    bridge = project(shadow_side * (0.018 + np.linspace(0.0, 0.6, 6) * half),
                     np.linspace(0.02, tip - 0.01, 6), np.linspace(0.01, 0.04, 6))
    _line(image, bridge, _colour(skin * 0.84), 1)
    t = np.linspace(0.0, 2.0 * math.pi, 16)
    for side in (-1, 1):
        wing_t = np.linspace(-0.6 * math.pi, 0.7 * math.pi, 10)
        wing = project(side * (0.7 * half + 0.4 * half * np.cos(wing_t)),
                       tip + 0.002 - 0.022 * np.sin(wing_t) * 0.6, 0.03)
        _line(image, wing, _colour(skin * 0.7), 1)
        nostril = project(side * 0.42 * half + 0.22 * half * np.cos(t),
                          tip + 0.017 + 0.006 * np.sin(t), 0.035)
        _fill(image, nostril, _colour(skin * 0.38))
    highlight = project(0.012 * np.cos(t), tip - 0.012 + 0.01 * np.sin(t), 0.06)
    _fill(image, highlight, _colour(skin * 1.08 + 8.0))


def _draw_mouth(image: np.ndarray, look: _Identity, pose: _Pose, project: _Projector,
                skin: np.ndarray) -> None:
    t = np.linspace(-1.0, 1.0, 25)
    x, outer_upper, inner_upper, inner_lower, outer_lower = _mouth(look, pose, t)
    lips = project(np.concatenate([x, x[::-1]]), np.concatenate([outer_upper, outer_lower[::-1]]),
                   0.02)
    _fill(image, lips, _colour(look.lips))
    upper_lip = project(np.concatenate([x, x[::-1]]),
                        np.concatenate([outer_upper, inner_upper[::-1]]), 0.02)
    _fill(image, upper_lip, _colour(np.asarray(look.lips) * 0.85))
    if pose.mouth_open > 0.1:
        opening = project(np.concatenate([x, x[::-1]]),
                          np.concatenate([inner_upper, inner_lower[::-1]]), 0.02)
        _fill(image, opening, (45.0, 30.0, 60.0))
        teeth_bottom = inner_upper + np.minimum(inner_lower - inner_upper, 0.012)
        teeth = project(np.concatenate([x[3:-3], x[-4:2:-1]]),
                        np.concatenate([inner_upper[3:-3], teeth_bottom[-4:2:-1]]), 0.02)
        _fill(image, teeth, (215.0, 225.0, 232.0))
    else:
        _line(image, project(x, inner_upper, 0.02), _colour(np.asarray(look.lips) * 0.45), 1)
    # Dimples at the corners deepen with the smile.
    if pose.smile > 0.3:
        for side in (-1, 1):
            corner = project(side * (x[-1] + np.array([0.004, 0.009])),
                             outer_upper[-1] + np.array([-0.006, 0.006]), 0.01)
            _line(image, corner, _colour(skin * 0.78), 1)


def _light(image: np.ndarray, head: np.ndarray, pose: _Pose, project: _Projector,
           size: int) -> None:
    """Directional light and a darker rim over the head; the background is left as it is."""
    xs, ys = _grid(size)
    cx, cy = (float(v) for v in project(np.array([0.0]), np.array([0.1]))[0])
    reach = 0.3 * project.pixels_per_unit
    # Python floats keep the maths in float32 (NumPy promotes to float64 for NumPy scalars).
    dx = pose.light_strength * math.cos(pose.light_angle) / reach
    dy = pose.light_strength * math.sin(pose.light_angle) / reach
    light = np.clip(xs * dx + (ys * dy + (1.0 - cx * dx - cy * dy)),
                    1.0 - 1.5 * pose.light_strength, 1.0 + 1.5 * pose.light_strength)
    rim = _soften(head, 0.06 * project.pixels_per_unit)
    gain = (pose.brightness * light) * (0.72 + 0.28 * np.clip(rim * 1.4, 0.0, 1.0))
    image *= (1.0 + (gain - 1.0) * head)[..., None]


def _validate_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"`size` must be an int. Received: size={size!r}")
    if not _MIN_SIZE <= size <= _MAX_SIZE:
        raise ValueError(f"`size` must be between {_MIN_SIZE} and {_MAX_SIZE} pixels. "
                         f"Received: size={size}")
    return int(size)


def _validate_identity(identity: str) -> str:
    if identity not in IDENTITIES:
        raise ValueError(f"`identity` must be one of {sorted(IDENTITIES)}. "
                         f"Received: identity={identity!r}")
    return identity


def _validate_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}. Received: {name}={value}")
    return int(value)


def render_face(identity: str, rng: np.random.Generator, size: int = 128
                ) -> tuple[np.ndarray, np.ndarray]:
    """Draw one aligned face of a demo identity.

    Parameters
    ----------
    identity
        ``"a"`` (round, pale, short dark hair, blue eyes, thin mouth) or ``"b"`` (oval, darker,
        long red hair and beard, green eyes, wide mouth).
    rng
        The source of every random choice (pose, expression, lighting, background, noise): the
        same generator state gives the same image.
    size
        Width and height of the square image in pixels, 32 to 2048.

    Returns
    -------
    image
        ``(size, size, 4)`` uint8 BGRA. The alpha channel is the face mask: 255 over the face
        (including the forehead), 0 elsewhere, with a soft edge about a pixel wide at 128 px.
    landmarks
        ``(68, 2)`` float64 ``(x, y)`` pixel positions in the iBUG-68 order (jaw 0-16, brows
        17-26, nose 27-35, eyes 36-47, mouth 48-67), taken from the drawn geometry.

    Raises
    ------
    ValueError
        For an unknown identity or a size out of range.
    TypeError
        If ``rng`` is not a :class:`numpy.random.Generator` or ``size`` not an int.
    """
    identity = _validate_identity(identity)
    size = _validate_size(size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("`rng` must be a numpy.random.Generator (numpy.random.default_rng(seed)). "
                        f"Received: {type(rng).__name__}")
    return _render(identity, _sample_pose(rng), rng, size)


def _render(identity: str, pose: _Pose, rng: np.random.Generator, size: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_face`'s drawing for a given pose (``rng``: textures, background, noise)."""
    look = _LOOKS[identity]
    project = _Projector(look, pose, size)
    skin = np.asarray(look.skin) * np.asarray(pose.skin_tint)
    hair_texture = _texture(rng, size, streak=5.0 if look.long_hair else 1.5)
    beard_texture = _texture(rng, size, streak=1.5) if look.beard is not None else hair_texture

    # Drawing goes on uint8: OpenCV anti-aliases only 8-bit images.
    canvas = np.clip(np.rint(_background(rng, size)), 0.0, 255.0).astype(np.uint8)
    head = np.zeros((size, size), np.float32)
    if look.long_hair:
        head = np.maximum(head, _draw_back_hair(canvas, look, project, hair_texture, size))
    _draw_body(canvas, look, project, rng, skin)
    _draw_ears(canvas, look, project, skin)
    face = _face_polygon(look, project)
    _fill(canvas, face, _colour(skin))
    _draw_cheeks(canvas, look, project, size)
    _draw_beard(canvas, look, project, beard_texture, size)
    face_mask = _mask(size, face)
    head = np.maximum(head, _draw_front_hair(canvas, look, project, hair_texture, size))
    _draw_brows(canvas, look, pose, project)
    _draw_eyes(canvas, look, pose, project, skin, size)
    _draw_nose(canvas, look, pose, project, skin)
    _draw_mouth(canvas, look, pose, project, skin)
    head = np.maximum(head, face_mask)
    shaded = canvas.astype(np.float32)
    _light(shaded, head, pose, project, size)
    shaded = cv2.GaussianBlur(shaded, (0, 0), 0.45 * size / 128.0)
    shaded += 1.5 * rng.standard_normal(shaded.shape, dtype=np.float32)
    colour = np.clip(np.rint(shaded), 0.0, 255.0).astype(np.uint8)
    alpha = cv2.GaussianBlur(face_mask, (0, 0), 0.6 * size / 128.0 + 0.2)
    alpha = np.clip(np.rint(alpha * 255.0), 0.0, 255.0).astype(np.uint8)
    landmarks = _landmarks(look, pose, project)
    return np.dstack([colour, alpha]), landmarks


def render_clip_frame(identity: str, time: float, size: int = 256, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One frame of a short clip: a demo identity's head moving in a fixed scene.

    The scene (background, hair and beard texture, clothes, noise) depends only on ``seed``;
    the head drifts across the frame, turns, nods, tilts, talks and blinks as ``time`` (in
    seconds) goes on, smoothly, at about 0.6 of :func:`render_face`'s scale.

    Returns
    -------
    frame
        ``(size, size, 3)`` uint8 BGR.
    landmarks
        ``(68, 2)`` float64 ``(x, y)`` frame pixels (see :func:`render_face`).
    """
    identity = _validate_identity(identity)
    size = _validate_size(size)
    phase = 2.0 * math.pi * float(time)
    blink = 0.1 if (float(time) % 1.7) < 0.12 else 1.0
    pose = _Pose(
        roll=0.08 * math.sin(0.45 * phase + 0.5), yaw=0.32 * math.sin(0.3 * phase),
        pitch=0.08 * math.sin(0.55 * phase + 1.0), scale=0.6 + 0.04 * math.sin(0.2 * phase),
        shift_x=0.16 * math.sin(0.25 * phase), shift_y=0.1 + 0.04 * math.sin(0.4 * phase),
        mouth_open=max(0.0, math.sin(1.3 * phase)), smile=0.3 + 0.4 * math.sin(0.35 * phase),
        eye_open=blink, gaze_x=0.2 * math.sin(0.3 * phase), gaze_y=0.0, brow_raise=0.004,
        light_angle=0.8, light_strength=0.2, brightness=1.0, skin_tint=(1.0, 1.0, 1.0))
    rng = np.random.default_rng((seed, 2 + _identity_stream(identity)))
    image, landmarks = _render(identity, pose, rng, size)
    return np.ascontiguousarray(image[..., :3]), landmarks


def _identity_stream(identity: str) -> int:
    return IDENTITIES.index(identity)


def extract_demo_face(frame: np.ndarray, landmarks: np.ndarray, source_name: str,
                      size: int) -> tuple[np.ndarray, dict]:
    """Align a drawn frame as Faceswap's extract does and build the face's PNG metadata.

    Parameters
    ----------
    frame
        The drawn frame, BGR or BGRA (the alpha channel is dropped, as Faceswap's reader does).
    landmarks
        Its 68 ``(x, y)`` landmarks in frame pixels.
    source_name
        The frame's file name (``source_filename`` of the header).
    size
        The side of the extracted face.

    Returns
    -------
    face
        The head-centred aligned face, BGR uint8 ``(size, size, 3)``.
    metadata
        Faceswap's header: ``alignments`` (bounding box, landmarks, ``components`` and
        ``extended`` masks, identity) and ``source``.
    """
    from lib.align.aligned_face import AlignedFace, get_matrix_scaling
    from lib.align.aligned_mask import stored_landmark_mask
    from lib.align.detected_face import DetectedFace

    landmarks = np.asarray(landmarks, dtype="float32")
    colour = np.ascontiguousarray(frame[..., :3])
    aligned = AlignedFace(landmarks, "head", size)
    matrix = aligned.adjusted_matrix()
    face = cv2.warpAffine(colour, matrix, (size, size), flags=get_matrix_scaling(matrix)[0],
                          borderMode=cv2.BORDER_REFLECT_101)
    left, top = np.floor(landmarks.min(axis=0)).astype(int).tolist()
    right, bottom = np.ceil(landmarks.max(axis=0)).astype(int).tolist()
    detected = DetectedFace(
        landmarks, left, top, right - left, bottom - top,
        mask={name: stored_landmark_mask(landmarks, name) for name in ("components", "extended")},
        source={"alignments_version": _ALIGNMENTS_VERSION,
                "original_filename": f"{Path(source_name).stem}_0.png", "face_index": 0,
                "source_filename": source_name, "source_is_video": False,
                "source_frame_dims": (int(frame.shape[0]), int(frame.shape[1]))})
    return face, detected.to_png_meta()


def write_demo_faces(folder: str | Path, identity: str, count: int, seed: int = 0,
                     size: int = 128) -> list[Path]:
    """Write ``count`` faces of one identity into ``folder`` as a Faceswap face set.

    Frame ``i`` (``<identity>_<i:04d>.png``, not written) is drawn by :func:`render_face` with
    the generator ``numpy.random.default_rng((seed, k, i))``, where ``k`` is the identity's index
    in ``("a", "b")``, then aligned and written as the face ``<identity>_<i:04d>_0.png`` with
    Faceswap's metadata (:func:`extract_demo_face`); so each file depends only on its seed,
    identity, index and size. Each file is written through a temporary file and
    :func:`os.replace`. Other files in the folder are left alone.

    Parameters
    ----------
    folder
        Where to write; created (with its parents) if missing.
    identity
        ``"a"`` or ``"b"``.
    count
        How many faces, at least 1.
    seed
        A non-negative integer.
    size
        Image size in pixels, 32 to 2048.

    Returns
    -------
    list[Path]
        The image paths, in index order.

    Raises
    ------
    ValueError
        For an unknown identity, a count below 1, a negative seed or a size out of range.
    TypeError
        If ``count``, ``seed`` or ``size`` is not an int.
    """
    from lib.image import encode_image

    identity = _validate_identity(identity)
    count = _validate_count("count", count, 1)
    seed = _validate_count("seed", seed, 0)
    size = _validate_size(size)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stream = _identity_stream(identity)
    paths: list[Path] = []
    for index in range(count):
        frame, points = render_face(identity, np.random.default_rng((seed, stream, index)), size)
        source = f"{identity}_{index:04d}.png"
        face, metadata = extract_demo_face(frame, points, source, size)
        path = folder / metadata["source"]["original_filename"]
        _write_atomic(path, encode_image(face, ".png", metadata))
        paths.append(path)
    logger.debug("Wrote %d demo faces of identity '%s' to '%s'", count, identity, folder)
    return paths


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_json_atomic(path: Path, content: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(content, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _expected_names(identity: str, count: int) -> set[str]:
    return {f"{identity}_{index:04d}_0.png" for index in range(count)}


def _image_names(folder: Path) -> set[str]:
    suffixes = {".png", ".jpg", ".jpeg"}
    return {path.name for path in folder.iterdir()
            if path.is_file() and path.suffix.lower() in suffixes}


def _is_complete(root: Path, marker: dict, folders: dict[str, Path], count: int) -> bool:
    """Whether the marker matches and every folder holds exactly the expected files."""
    marker_path = root / _MARKER
    try:
        found = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if found != marker:
        return False
    for identity, folder in folders.items():
        if not folder.is_dir():
            return False
        if _image_names(folder) != _expected_names(identity, count):
            return False
    return True


def generate_demo_data(root: str | Path, count: int = 200, seed: int = 0, size: int = 128
                       ) -> tuple[Path, Path]:
    """Make (or reuse) the demo's training folders ``root/faces_a`` and ``root/faces_b``.

    Each folder gets ``count`` faces of its identity as a Faceswap face set, as
    :func:`write_demo_faces` writes them. A small ``root/demo_data.json`` marker records the seed,
    count, size and drawing version; when it matches and both folders hold exactly the expected
    images, nothing is drawn or written again. Otherwise the marker is removed first, stale demo
    images (``a_NNNN_0.png``/``b_NNNN_0.png`` beyond ``count``, and ``a_NNNN.png``/
    ``b_NNNN.png`` and ``landmarks.json`` of the older simple-format demo) are deleted, the
    faces are rewritten and the marker is written last, so an interrupted run is redone next time.

    Parameters
    ----------
    root
        The demo's data folder; created if missing.
    count
        Faces per identity, at least 1. Rendering takes a few milliseconds per 128 px face.
    seed
        A non-negative integer; the same seed, count and size give byte-identical files.
    size
        Image size in pixels, 32 to 2048.

    Returns
    -------
    tuple[Path, Path]
        The folders of identity ``a`` and identity ``b``.

    Raises
    ------
    ValueError
        For a count below 1, a negative seed or a size out of range.
    TypeError
        If ``count``, ``seed`` or ``size`` is not an int.
    """
    count = _validate_count("count", count, 1)
    seed = _validate_count("seed", seed, 0)
    size = _validate_size(size)
    root = Path(root)
    folders = {identity: root / f"faces_{identity}" for identity in IDENTITIES}
    marker = {"version": _DRAWING_VERSION, "seed": seed, "count": count, "size": size}
    if _is_complete(root, marker, folders, count):
        logger.debug("Demo data in '%s' is up to date; not regenerating it", root)
        return folders["a"], folders["b"]

    logger.info("Drawing %d synthetic demo faces per identity (%d px) into '%s'", count, size,
                root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).unlink(missing_ok=True)
    for identity, folder in folders.items():
        if folder.is_dir():
            pattern = re.compile(rf"^{identity}_\d{{4,}}(_0)?\.png$")
            (folder / "landmarks.json").unlink(missing_ok=True)  # the older demo's
            expected = _expected_names(identity, count)
            for path in folder.iterdir():
                if pattern.match(path.name) and path.name not in expected and path.is_file():
                    path.unlink()
            others = {name for name in _image_names(folder) if not pattern.match(name)}
            if others:
                logger.warning("The demo folder '%s' holds other images that training will "
                               "also read: %s", folder, sorted(others)[:5])
        write_demo_faces(folder, identity, count, seed=seed, size=size)
    _write_json_atomic(root / _MARKER, marker)
    return folders["a"], folders["b"]
