"""A detected face built from the metadata Faceswap's extract stores in each face PNG
(faceswap_data.md §1.4-§1.6).

:meth:`DetectedFace.from_png_meta` checks the header's structure and types before using it: a
wrong type, a landmark array of an unsupported shape or a damaged mask is a
:class:`lib.image.MetadataError` naming the file. :meth:`DetectedFace.to_png_meta` writes the
header back in Faceswap's key order with native Python values, so :func:`lib.image.encode_image`
can store it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from lib.align.aligned_face import landmark_type
from lib.align.aligned_mask import Mask
from lib.image import MetadataError

__all__ = ["LEGACY_VERSION", "DetectedFace"]

LEGACY_VERSION = 1.0
"""``source.alignments_version`` of legacy-extracted faces (legacy centering)."""
_CURRENT_VERSION = 2.4


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class DetectedFace:
    """One face of a source frame: bounding box, landmarks, stored masks, provenance.

    Parameters
    ----------
    landmarks_xy
        Landmarks in source-frame pixels.
    x, y, w, h
        The detector's bounding box in the frame.
    mask
        Stored masks by name.
    identity
        Recognition embeddings by name (``"vggface2"``).
    source
        The header's ``source`` dict (provenance).
    """

    def __init__(self, landmarks_xy: np.ndarray, x: int = 0, y: int = 0, w: int = 0,
                 h: int = 0, mask: dict[str, Mask] | None = None,
                 identity: dict[str, np.ndarray] | None = None,
                 source: dict[str, Any] | None = None) -> None:
        self.landmarks_xy = np.asarray(landmarks_xy, dtype="float32")
        self.x, self.y, self.w, self.h = x, y, w, h
        self.mask = dict(mask or {})
        self.identity = dict(identity or {})
        self.source = dict(source or {})

    @property
    def alignments_version(self) -> float:
        """``source.alignments_version`` (the current version when the header has none)."""
        return float(self.source.get("alignments_version", _CURRENT_VERSION))

    @property
    def is_legacy(self) -> bool:
        """Whether the face was legacy-extracted (version 1.0: legacy centering)."""
        return self.alignments_version == LEGACY_VERSION

    @classmethod
    def from_png_meta(cls, meta: Any, name: str = "the image") -> DetectedFace:
        """The face from a parsed PNG header (``{"alignments": ..., "source": ...}``).

        Raises
        ------
        lib.image.MetadataError
            When the header is not a Faceswap face header: missing keys, wrong types,
            unsupported landmarks, a mask that does not decompress to its size.
        """
        try:
            return cls._from_meta(meta)
        except (ValueError, TypeError, KeyError, OverflowError) as err:  # Overflow: 1e400 ints
            message = f"no {err.args[0]}" if isinstance(err, KeyError) else err
            raise MetadataError(
                f"The Faceswap metadata of '{name}' is not a valid face header: {message}. "
                "Re-extract the face with Faceswap, or remove it from the folder.") from None

    @classmethod
    def _from_meta(cls, meta: Any) -> DetectedFace:
        if not isinstance(meta, dict) or not isinstance(meta.get("alignments"), dict):
            raise ValueError("it has no 'alignments' dict")
        align = meta["alignments"]
        source = meta.get("source", {})
        if not isinstance(source, dict):
            raise ValueError(f"'source' is a {type(source).__name__}, not a dict")
        version = source.get("alignments_version", _CURRENT_VERSION)
        if not _is_number(version):
            raise ValueError(f"'alignments_version' is {version!r}, not a number")
        points = align.get("landmarks_xy")
        if not isinstance(points, list) or not all(
                isinstance(point, (list, tuple)) and all(_is_number(v) for v in point)
                for point in points):
            raise ValueError("'landmarks_xy' is not a list of [x, y] number pairs")
        landmarks = np.array(points, dtype="float32") if points else np.zeros((0, 2))
        landmark_type(landmarks)
        if not np.isfinite(landmarks).all():
            raise ValueError("'landmarks_xy' holds non-finite numbers")
        if "mask" not in align:
            raise KeyError("'mask'")
        masks = align["mask"]
        if not isinstance(masks, dict):
            raise ValueError(f"'mask' is a {type(masks).__name__}, not a dict")
        parsed = {}
        for mask_name, entry in masks.items():
            if not isinstance(mask_name, str):
                raise ValueError(f"mask name {mask_name!r} is not a string")
            try:
                parsed[mask_name] = Mask.from_dict(entry)
            except ValueError as err:
                raise ValueError(f"mask '{mask_name}': {err}") from None
        identity = align.get("identity", {})
        if not isinstance(identity, dict) or any(key != "vggface2" for key in identity):
            raise ValueError("'identity' may only hold 'vggface2'")
        box = []
        for key in ("x", "y", "w", "h"):
            value = align.get(key, 0)
            if not _is_number(value):
                raise ValueError(f"'{key}' is {value!r}, not a number")
            box.append(value)
        return cls(landmarks, *box, mask=parsed,
                   identity={key: np.asarray(value, "float32") for key, value in identity.items()},
                   source=source)

    def to_png_meta(self) -> dict[str, Any]:
        """The PNG header dict, in Faceswap's key order, with native Python values."""
        return {
            "alignments": {
                "x": int(self.x), "w": int(self.w), "y": int(self.y), "h": int(self.h),
                "landmarks_xy": self.landmarks_xy.tolist(),
                "mask": {name: mask.to_dict() for name, mask in self.mask.items()},
                "identity": {key: np.asarray(value).tolist()
                             for key, value in self.identity.items()}},
            "source": dict(self.source)}
