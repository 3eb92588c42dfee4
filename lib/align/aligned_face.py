"""Faceswap's aligned-face geometry (faceswap_data.md §3).

From a face's landmarks in its source frame:

* :func:`umeyama` gives the legacy matrix ``M_L`` (frame pixels -> the core unit square);
* :class:`PoseEstimate` gives the pose and the ``face``/``head`` centering offsets;
* the **frame path** (:meth:`AlignedFace.adjusted_matrix`, :meth:`AlignedFace.transform`):
  warp a frame to an aligned face of side ``S`` at a centering and coverage;
* the **crop path** (:func:`get_centered_size`, :func:`get_adjusted_center`,
  :meth:`AlignedFace.crop_roi`, :meth:`AlignedFace.extract_face`): cut the training face out of
  an already aligned (extracted) image without resampling it, at another centering, coverage and
  vertical offset, then resize it.

Faceswap compat: every formula, constant and rounding is Faceswap 3's (``837bc2d5``). One
addition: :meth:`AlignedFace.crop_landmarks` maps the landmarks into the training crop through
the crop path itself; Faceswap uses the frame path there, which ignores the vertical offset and
scales coverage differently (spec §9 Q1, Q2), so its eye/mouth masks and warp-to-landmarks points
drift off the face when coverage < 100 % or the offset is not 0.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from lib.align.constants import EXTRACT_RATIOS, MEAN_FACE, MEAN_FACE_3D, POSE_INDICES
from lib.image import crop_square, resize_square

__all__ = ["AlignedFace", "PoseEstimate", "get_adjusted_center", "get_centered_size",
           "get_cropped_roi", "get_matrix_scaling", "landmark_type", "padding_from_coverage",
           "training_crop", "umeyama"]

logger = logging.getLogger(__name__)

_CAMERA = np.array([[4.0, 0.0, 0.5], [0.0, 4.0, 0.5], [0.0, 0.0, 1.0]])
_DISTORTION = np.zeros((4, 1))
_OFFSET_POINTS = np.array([[0.0, 0.0, -2.3], [0.0, -1.5, 4.2]])  # head, face
_SHAPES = {(68, 2): "68", (51, 2): "51", (4, 2): "4", (26, 3): "3d26"}
_WARNED: set[str] = set()


def landmark_type(landmarks: np.ndarray) -> str:
    """``"68"``, ``"51"``, ``"4"`` or ``"3d26"`` from the landmarks' shape.

    Raises
    ------
    ValueError
        For any other shape.
    """
    shape = tuple(np.shape(landmarks))
    if shape not in _SHAPES:
        raise ValueError(f"Landmarks of shape {shape} are not supported: expected one of "
                         f"{sorted(_SHAPES)}")
    return _SHAPES[shape]


def umeyama(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, translation) mapping
    ``source`` points onto ``destination`` points (Umeyama 1991, with scale).

    Parameters
    ----------
    source, destination
        ``(n, 2)`` point sets.

    Returns
    -------
    float64 ``(2, 3)``; all NaN when the source points are all equal.
    """
    src = np.asarray(source, dtype="float64")
    dst = np.asarray(destination, dtype="float64")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_d, dst_d = src - src_mean, dst - dst_mean
    cov = dst_d.T @ src_d / src.shape[0]
    sign = np.ones(2)
    if np.linalg.det(cov) < 0:
        sign[-1] = -1
    u, singular, vt = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    if rank == 0:
        return np.full((2, 3), np.nan)
    if rank == 1:
        rotation = (u @ vt if np.linalg.det(u) * np.linalg.det(vt) > 0
                    else u @ np.diag([1.0, -1.0]) @ vt)
    else:
        rotation = u @ np.diag(sign) @ vt
    scale = (singular @ sign) / src_d.var(axis=0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def get_matrix_scaling(matrix: np.ndarray) -> tuple[int, int]:
    """``(forward, inverse)`` OpenCV interpolators for warping with ``matrix``:
    ``(INTER_CUBIC, INTER_AREA)`` when it enlarges, else ``(INTER_AREA, INTER_CUBIC)``."""
    x_scale = float(np.sqrt(matrix[0, 0] ** 2 + matrix[0, 1] ** 2))
    y_scale = (float(matrix[0, 0] * matrix[1, 1] - matrix[0, 1] * matrix[1, 0]) / x_scale
               if x_scale else 0.0)
    if (x_scale + y_scale) / 2 >= 1.0:
        return cv2.INTER_CUBIC, cv2.INTER_AREA
    return cv2.INTER_AREA, cv2.INTER_CUBIC


def padding_from_coverage(size: int, coverage: float, centering: str) -> int:
    """Frame-path padding ``round(size * (coverage - (1 - ratio)) / 2)`` (may be <= 0)."""
    return round(size * (coverage - (1 - EXTRACT_RATIOS[centering])) / 2)


def get_centered_size(source_centering: str, target_centering: str, size: int,
                      coverage: float = 1.0) -> int:
    """Side of the crop-path sub-crop of a ``size`` image at ``source_centering`` (even).

    ``size`` when the centerings match and coverage is 1, else
    ``2 * int(rint(core / (1 - ratio(target)) * coverage / 2))``, ``core = size * (1 -
    ratio(source))``.
    """
    if source_centering == target_centering and coverage == 1.0:
        return size
    core = size * (1 - EXTRACT_RATIOS[source_centering])
    return 2 * int(np.rint(core / (1 - EXTRACT_RATIOS[target_centering]) * coverage / 2))


def get_adjusted_center(size: int, source_offset: np.ndarray, target_offset: np.ndarray,
                        source_centering: str, y_offset: float = 0.0) -> np.ndarray:
    """Crop-path centre ``rint(size / 2 + core * (o(target) - o(source) - (0, y)))``, int32.

    A positive ``y_offset`` moves the centre up by ``y_offset * core`` pixels, so the face sits
    lower in the crop (more forehead, less chin).
    """
    core = size * (1 - EXTRACT_RATIOS[source_centering])
    shift = (np.asarray(target_offset, "float64") - np.asarray(source_offset, "float64")
             - np.array([0.0, y_offset]))
    return np.rint(size / 2 + core * shift).astype("int32")


def get_cropped_roi(centre: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` (right/bottom exclusive) of a ``side`` square at
    ``centre``."""
    half = side // 2
    return (int(centre[0]) - half, int(centre[1]) - half,
            int(centre[0]) + half, int(centre[1]) + half)


class PoseEstimate:
    """The pose of a face from its normalised 68-point landmarks, and the centering offsets.

    Parameters
    ----------
    landmarks
        The frame landmarks (68 points give a pose; other types give zero offsets).
    legacy_matrix
        ``M_L`` of the face.

    Attributes
    ----------
    offset
        ``{"legacy": (0, 0), "face": (x, y), "head": (x, y)}`` in unit-square units.
    """

    def __init__(self, landmarks: np.ndarray, legacy_matrix: np.ndarray) -> None:
        self.offset = {name: np.zeros(2) for name in ("legacy", "face", "head")}
        self._rotation = self._translation = None
        kind = landmark_type(landmarks)
        if kind != "68":
            if kind not in _WARNED:
                _WARNED.add(kind)
                logger.warning("Pose (and so 'face'/'head' centering offsets) needs 68-point "
                               "landmarks; %s-point landmarks are used without it.", kind)
            return
        norm = cv2.transform(np.asarray(landmarks, "float64")[None], legacy_matrix)[0]
        norm = np.nan_to_num(norm)
        ok, rvec, tvec = cv2.solvePnP(MEAN_FACE_3D, norm[list(POSE_INDICES)], _CAMERA,
                                      _DISTORTION, flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            return
        self._rotation, self._translation = rvec, tvec
        points = cv2.projectPoints(_OFFSET_POINTS, rvec, tvec, _CAMERA, _DISTORTION)[0]
        points = points.reshape(2, 2) - 0.5
        self.offset["head"], self.offset["face"] = points[0], points[1]

    @property
    def pitch_yaw_roll(self) -> tuple[float, float, float]:
        """Euler angles in degrees (0s without a pose)."""
        if self._rotation is None:
            return 0.0, 0.0, 0.0
        rotation = cv2.Rodrigues(self._rotation)[0]
        projection = np.hstack([rotation, np.zeros((3, 1))])
        angles = cv2.decomposeProjectionMatrix(projection)[-1].ravel()
        return float(angles[0]), float(angles[1]), float(angles[2])


class AlignedFace:
    """One face's aligned geometry from its frame landmarks.

    Parameters
    ----------
    landmarks
        Landmarks in source-frame pixels: ``(68, 2)``, ``(51, 2)`` or ``(4, 2)``.
    centering
        The centering of the aligned output: ``"legacy"``, ``"face"`` or ``"head"``.
    size
        The side of the aligned output in pixels.
    coverage
        Coverage ratio in (0, 1].
    y_offset
        Vertical offset ratio in [-0.25, 0.25] (crop path only, as in Faceswap).
    is_legacy
        The aligned image this face is cut from (crop path) is a legacy (version 1.0) extract,
        aligned at ``legacy`` centering; otherwise a ``head`` extract.

    Examples
    --------
    >>> face = AlignedFace(landmarks, centering="face", size=256, coverage=0.875)
    >>> roi = face.crop_roi(512)  # in a 512 px head extract of the face
    >>> crop = face.extract_face(extract)  # 256 x 256
    """

    def __init__(self, landmarks: np.ndarray, centering: str = "face", size: int = 256,
                 coverage: float = 1.0, y_offset: float = 0.0, is_legacy: bool = False) -> None:
        if centering not in EXTRACT_RATIOS:
            raise ValueError(f"`centering` must be one of {sorted(EXTRACT_RATIOS)}. Received: "
                             f"{centering!r}")
        self.frame_landmarks = np.asarray(landmarks, dtype="float32")
        self.kind = landmark_type(self.frame_landmarks)
        if self.kind == "3d26":
            raise ValueError("3-D landmarks (26, 3) cannot be used for alignment")
        self.centering = centering
        self.size = int(size)
        self.coverage = float(coverage)
        self.y_offset = float(y_offset)
        self.is_legacy = bool(is_legacy)
        self.source_centering = "legacy" if is_legacy else "head"
        points = self.frame_landmarks[17:] if self.kind == "68" else self.frame_landmarks
        template = MEAN_FACE["4" if self.kind == "4" else "68"]
        self.legacy_matrix = umeyama(points, template)
        self.pose = PoseEstimate(self.frame_landmarks, self.legacy_matrix)

    # --- frame path --------------------------------------------------------------------------
    def matrix(self, centering: str | None = None) -> np.ndarray:
        """``M_c``: frame pixels -> the unit square centred at ``centering``."""
        centering = centering or self.centering
        matrix = self.legacy_matrix.copy()
        matrix[:, 2] -= self.pose.offset[centering]
        return matrix

    def adjusted_matrix(self, size: int | None = None, centering: str | None = None,
                        coverage: float | None = None) -> np.ndarray:
        """Frame pixels -> aligned pixels of a ``size`` face at ``centering`` and
        ``coverage`` (defaults: this face's)."""
        size = self.size if size is None else int(size)
        centering = centering or self.centering
        coverage = self.coverage if coverage is None else coverage
        padding = padding_from_coverage(size, coverage, centering)
        matrix = self.matrix(centering) * (size - 2 * padding)
        matrix[:, 2] += padding
        return matrix

    @property
    def interpolators(self) -> tuple[int, int]:
        """``(forward, inverse)`` interpolators of :meth:`adjusted_matrix`."""
        return get_matrix_scaling(self.adjusted_matrix())

    def transform(self, frame: np.ndarray) -> np.ndarray:
        """Warp a frame to the aligned face (black outside the frame)."""
        matrix = self.adjusted_matrix()
        return cv2.warpAffine(frame, matrix, (self.size, self.size),
                              flags=get_matrix_scaling(matrix)[0])

    @property
    def landmarks(self) -> np.ndarray:
        """The landmarks in the frame-path aligned face (Faceswap's ``aligned.landmarks``)."""
        return cv2.transform(self.frame_landmarks[None].astype("float64"),
                             self.adjusted_matrix())[0]

    # --- crop path ---------------------------------------------------------------------------
    def crop_size(self, image_size: int) -> int:
        """The side of the training sub-crop in an ``image_size`` extract."""
        return get_centered_size(self.source_centering, self.centering, image_size,
                                 self.coverage)

    def crop_roi(self, image_size: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the training sub-crop in an ``image_size``
        extract of this face."""
        centre = get_adjusted_center(image_size, self.pose.offset[self.source_centering],
                                     self.pose.offset[self.centering], self.source_centering,
                                     self.y_offset)
        return get_cropped_roi(centre, self.crop_size(image_size))

    def extract_face(self, image: np.ndarray) -> np.ndarray:
        """The training face: the sub-crop of an extracted ``image`` (zero fill outside it),
        resized to ``size`` (INTER_CUBIC to enlarge, INTER_AREA to shrink)."""
        left, top, right, _ = self.crop_roi(image.shape[0])
        return resize_square(crop_square(image, left, top, right - left), self.size)

    def extract_landmarks(self, image_size: int) -> np.ndarray:
        """The landmarks in an ``image_size`` extract of this face (``head`` centering, or
        ``legacy`` for a legacy extract, coverage 1)."""
        matrix = self.adjusted_matrix(image_size, self.source_centering, 1.0)
        return cv2.transform(self.frame_landmarks[None].astype("float64"), matrix)[0]

    def crop_landmarks(self, image_size: int) -> np.ndarray:
        """The landmarks in the training face that :meth:`extract_face` cuts from an
        ``image_size`` extract (``size`` pixels)."""
        left, top, right, _ = self.crop_roi(image_size)
        scale = self.size / (right - left)
        return (self.extract_landmarks(image_size) - np.array([left, top])) * scale


def training_crop(image_size: int, centering: str, coverage: float, y_offset: float = 0.0,
                  landmarks: np.ndarray | None = None, is_legacy: bool = False
                  ) -> tuple[int, int, int]:
    """``(left, top, side)`` of the training crop of an aligned face image: the one crop that
    training, previews and ``convert`` share.

    Parameters
    ----------
    image_size
        The side of the (square) aligned image.
    centering, coverage, y_offset
        The model's centering, coverage ratio and vertical offset ratio.
    landmarks
        The face's landmarks in its source frame (a Faceswap extract's metadata): the crop path
        of a head (or, ``is_legacy``, legacy) extract with the face's pose. ``None`` for an
        image taken as aligned at ``centering`` itself, without pose: a centred square of
        ``2 * rint(image_size * coverage / 2)`` pixels (the whole image at coverage 1), its centre
        moved up by ``y_offset`` times the core face size ``image_size * (1 - ratio)``.
    """
    if landmarks is not None:
        face = AlignedFace(landmarks, centering, image_size, coverage, y_offset,
                           is_legacy=is_legacy)
        left, top, right, _ = face.crop_roi(image_size)
        return left, top, right - left
    side = get_centered_size(centering, centering, image_size, coverage)
    centre = get_adjusted_center(image_size, np.zeros(2), np.zeros(2), centering, y_offset)
    return int(centre[0]) - side // 2, int(centre[1]) - side // 2, side
