"""Faceswap's masks (faceswap_data.md §4): stored masks and landmark masks.

* :class:`Mask`: a mask as Faceswap stores it (zlib-compressed ``uint8`` at ``stored_size``,
  with its affine matrix and centering), decompressed within bounds, then dilated or eroded,
  thresholded, blurred and sub-cropped to another centering, coverage and vertical offset
  (:meth:`Mask.get_mask`).
* :func:`components_mask` and :func:`extended_mask`: the two landmark masks Faceswap's extract
  always stores; :func:`stored_landmark_mask` packs one the way extract stores it.
* :func:`landmark_mask`: the eye and mouth ("localised") masks of the loss multipliers.
* :func:`blur_mask`: Faceswap's gaussian/normalized multi-pass blur.

Faceswap compat (deliberate fixes, see docs/differences.md):

* A sub-crop to the mask's own centering at coverage 1 still applies the vertical offset
  (Faceswap skips it, spec §9 Q3, so its mask and face disagree by the offset).
* A dilation amount too small to make a kernel does nothing (Faceswap: an OpenCV error, Q8).
"""
from __future__ import annotations

import zlib
from typing import Any

import cv2
import numpy as np

from lib.align.aligned_face import (
    AlignedFace,
    get_adjusted_center,
    get_centered_size,
    get_cropped_roi,
    get_matrix_scaling,
)
from lib.align.constants import EXTRACT_RATIOS
from lib.image import crop_square

__all__ = ["LANDMARK_AREAS", "MAX_STORED_SIZE", "Mask", "blur_mask", "components_mask",
           "extended_mask", "landmark_mask", "stored_landmark_mask"]

MAX_STORED_SIZE = 2048
"""The largest stored mask side accepted from a file (the extractor stores 128)."""

LANDMARK_AREAS = {"eye": ((36, 42), (42, 48)), "mouth": ((48, 60),)}
"""The 68-point landmark ranges of the localised masks (one convex hull per range)."""

_COMPONENT_PARTS = (
    list(range(0, 9)) + [17],  # right jaw
    list(range(8, 17)) + [26],  # left jaw
    [17, 18, 19, 8],  # right cheek
    [24, 25, 26, 8],  # left cheek
    list(range(19, 25)) + [8],  # nose ridge
    list(range(17, 22)) + [27] + list(range(31, 36)) + [8],  # right eye
    list(range(22, 27)) + [27] + list(range(31, 36)) + [8],  # left eye
    list(range(27, 31)) + list(range(31, 36)),  # nose
)


def _odd(kernel: int) -> int:
    return kernel + 1 if kernel and kernel % 2 == 0 else kernel


def blur_mask(mask: np.ndarray, kernel: int, blur_type: str = "gaussian", passes: int = 1
              ) -> np.ndarray:
    """Blur a mask as Faceswap's ``BlurMask``: ``passes`` passes, an even kernel bumped to odd,
    the kernel shrunk after each pass (``x 0.8`` gaussian, ``x 0.5`` normalized, bumped to
    odd). A kernel of 0 or type ``"none"`` returns the mask. The channel axis is kept."""
    kernel = _odd(int(kernel))
    if not kernel or blur_type == "none":
        return mask
    if blur_type not in ("gaussian", "normalized"):
        raise ValueError(f"`blur_type` must be 'gaussian', 'normalized' or 'none'. Received: "
                         f"{blur_type!r}")
    factor = 0.8 if blur_type == "gaussian" else 0.5
    shape = mask.shape
    for _ in range(passes):
        if blur_type == "gaussian":
            mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)
        else:
            mask = cv2.blur(mask, (kernel, kernel))
        kernel = _odd(int(round(kernel * factor)))
    return mask.reshape(shape)


class Mask:
    """A stored mask of one face.

    Parameters
    ----------
    mask
        The zlib-compressed ``uint8`` payload, ``stored_size`` square.
    affine_matrix
        2x3 frame pixels -> stored-mask pixels.
    interpolator
        OpenCV interpolation for warping back to the frame.
    stored_size
        The side of the stored mask.
    stored_centering
        ``"face"``, ``"head"`` or ``"legacy"``.
    name
        How the face is named in errors.

    Raises
    ------
    ValueError
        For a payload that does not decompress to ``stored_size ** 2`` bytes (checked without
        inflating more than that), or bad parameters.
    """

    def __init__(self, mask: bytes, affine_matrix: Any, interpolator: int, stored_size: int,
                 stored_centering: str = "face") -> None:
        if isinstance(stored_size, bool) or not isinstance(stored_size, int) \
                or not 1 <= stored_size <= MAX_STORED_SIZE:
            raise ValueError(f"stored_size must be an integer from 1 to {MAX_STORED_SIZE}; "
                             f"found {stored_size!r}")
        if stored_centering not in EXTRACT_RATIOS:
            raise ValueError(f"stored_centering must be one of {sorted(EXTRACT_RATIOS)}; found "
                             f"{stored_centering!r}")
        if not isinstance(mask, bytes):
            raise ValueError(f"the mask payload must be bytes; found {type(mask).__name__}")
        matrix = np.asarray(affine_matrix, dtype="float64")
        if matrix.shape != (2, 3) or not np.isfinite(matrix).all():
            raise ValueError(f"affine_matrix must be 2x3 finite numbers; found shape "
                             f"{matrix.shape}")
        self.compressed = mask
        self.affine_matrix = matrix
        self.interpolator = int(interpolator)
        self.stored_size = stored_size
        self.stored_centering = stored_centering
        expected = stored_size * stored_size
        try:
            decompressor = zlib.decompressobj()
            raw = decompressor.decompress(mask, expected + 1)
        except zlib.error as err:
            raise ValueError(f"the mask payload is not zlib data ({err})") from None
        if len(raw) != expected or decompressor.unconsumed_tail:
            raise ValueError(f"the mask payload does not hold {stored_size}x{stored_size} "
                             "bytes")
        self.stored_mask = np.frombuffer(raw, dtype="uint8").reshape(stored_size, stored_size, 1)

    @classmethod
    def from_dict(cls, entry: Any) -> Mask:
        """A mask from its PNG-header (or alignments-file) entry; a missing
        ``stored_centering`` is ``"face"`` (headers before 2.2)."""
        if not isinstance(entry, dict):
            raise ValueError(f"a mask entry must be a dict; found {type(entry).__name__}")
        missing = [key for key in ("mask", "affine_matrix", "interpolator", "stored_size")
                   if key not in entry]
        if missing:
            raise ValueError(f"a mask entry lacks {', '.join(missing)}")
        interpolator = entry["interpolator"]
        if isinstance(interpolator, bool) or not isinstance(interpolator, int):
            raise ValueError(f"interpolator must be an integer; found {interpolator!r}")
        return cls(entry["mask"], entry["affine_matrix"], interpolator, entry["stored_size"],
                   entry.get("stored_centering", "face"))

    def to_dict(self) -> dict[str, Any]:
        """The PNG-header entry, in Faceswap's key order, native Python values."""
        return {"mask": self.compressed, "affine_matrix": self.affine_matrix.tolist(),
                "interpolator": self.interpolator, "stored_size": self.stored_size,
                "stored_centering": self.stored_centering}

    def get_mask(self, dilation: float = 0.0, threshold: float = 0.0, blur_kernel: int = 0,
                 blur_type: str = "gaussian", blur_passes: int = 1,
                 sub_crop: tuple[AlignedFace, str] | None = None) -> np.ndarray:
        """The processed ``uint8`` mask ``(side, side, 1)``.

        In Faceswap's order: dilate (``dilation > 0``) or erode (``< 0``) with an ellipse of
        ``round(stored_size * |dilation| / 100)`` px; threshold (``t = threshold / 100 * 255``:
        values below ``t`` become 0, above ``255 - t`` become 255); blur (``blur_kernel`` px at
        the stored size); then the sub-crop.

        Parameters
        ----------
        sub_crop
            ``(face, centering)``: cut the mask to ``centering`` with the face's coverage,
            vertical offset and pose offsets (the crop path, zero fill); ``None`` for the
            stored geometry.
        """
        mask = self.stored_mask
        if dilation:
            kernel = int(round(self.stored_size * abs(dilation) / 100))
            if kernel > 0:
                element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
                operation = cv2.dilate if dilation > 0 else cv2.erode
                mask = operation(mask, element).reshape(mask.shape)
        if threshold:
            limit = threshold / 100 * 255
            mask = mask.copy()
            mask[mask < limit] = 0
            mask[mask > 255 - limit] = 255
        mask = blur_mask(mask, blur_kernel, blur_type, blur_passes)
        if sub_crop is None:
            return mask
        face, centering = sub_crop
        size = self.stored_size
        side = get_centered_size(self.stored_centering, centering, size, face.coverage)
        if (side == size and centering == self.stored_centering and face.y_offset == 0):
            return mask
        centre = get_adjusted_center(size, face.pose.offset[self.stored_centering],
                                     face.pose.offset[centering], self.stored_centering,
                                     face.y_offset)
        left, top, _, _ = get_cropped_roi(centre, side)
        return crop_square(mask, left, top, side)


def _draw_parts(landmarks: np.ndarray, parts: Any, size: int) -> np.ndarray:
    mask = np.zeros((size, size, 1), dtype="float32")
    for part in parts:
        hull = cv2.convexHull(np.rint(landmarks[part]).astype("int32"))
        cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA)
    return mask


def _face_landmarks(frame_landmarks: np.ndarray) -> np.ndarray:
    face = AlignedFace(frame_landmarks, "face", 256, 1.0)
    if face.kind != "68":
        raise ValueError("components and extended masks need 68-point landmarks")
    return face.landmarks


def components_mask(frame_landmarks: np.ndarray) -> np.ndarray:
    """Faceswap's ``components`` mask: float32 ``(256, 256, 1)`` at face centering, coverage 1,
    the union of 8 convex hulls of the aligned landmarks."""
    return _draw_parts(_face_landmarks(frame_landmarks), _COMPONENT_PARTS, 256)


def extended_mask(frame_landmarks: np.ndarray) -> np.ndarray:
    """Faceswap's ``extended`` mask: ``components`` with the eyebrows raised by half their
    distance from the eyes (floor divisions, as Faceswap), reaching onto the forehead."""
    points = _face_landmarks(frame_landmarks).copy()
    mid_left = (points[36] + points[0]) // 2
    mid_right = (points[16] + points[45]) // 2
    quarter_left = (points[36] + mid_left) // 2
    quarter_right = (points[45] + mid_right) // 2
    bottom_left = np.array([quarter_left, points[36], points[37], points[38], points[39]])
    bottom_right = np.array([points[42], points[43], points[44], points[45], quarter_right])
    points[17:22] += (points[17:22] - bottom_left) // 2
    points[22:27] += (points[22:27] - bottom_right) // 2
    return _draw_parts(points, _COMPONENT_PARTS, 256)


def stored_landmark_mask(frame_landmarks: np.ndarray, kind: str, stored_size: int = 128
                         ) -> Mask:
    """A ``components`` or ``extended`` mask stored as Faceswap's extract stores it: resized
    to ``stored_size`` (INTER_AREA) as truncated ``uint8``, zlib-compressed, with the adjusted
    matrix of a ``stored_size`` face-centred face and its inverse interpolator."""
    drawn = {"components": components_mask, "extended": extended_mask}[kind](frame_landmarks)
    payload = cv2.resize(drawn * 255.0, (stored_size, stored_size),
                         interpolation=cv2.INTER_AREA).astype("uint8")
    matrix = AlignedFace(frame_landmarks, "face", stored_size).adjusted_matrix()
    return Mask(zlib.compress(payload.tobytes()), matrix, get_matrix_scaling(matrix)[1],
                stored_size, "face")


def landmark_mask(landmarks: np.ndarray, area: str, size: int) -> np.ndarray:
    """An eye or mouth mask for the loss multipliers: ``uint8 (size, size, 1)``.

    Convex hulls of the ``area``'s landmarks (``landmarks`` already in the ``size`` pixel
    training face) filled with 1.0 (anti-aliased), dilated with an ellipse of
    ``round(size * 0.025)`` px, gaussian-blurred with kernel ``size // 16`` (bumped to odd),
    times 255, truncated to ``uint8``.

    Raises
    ------
    ValueError
        For landmarks that are not 68 points, or an unknown area.
    """
    if np.shape(landmarks) != (68, 2):
        raise ValueError(f"Landmark based masks need 68-point landmarks; found shape "
                         f"{np.shape(landmarks)}")
    parts = [list(range(*bounds)) for bounds in LANDMARK_AREAS[area]]
    mask = _draw_parts(np.asarray(landmarks), parts, size)
    kernel = int(round(size * 0.025))
    if kernel > 0:
        element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        mask = cv2.dilate(mask, element).reshape(mask.shape)
    mask = blur_mask(mask, size // 16, "gaussian", 1)
    return (mask * 255.0).astype("uint8")
