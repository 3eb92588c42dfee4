"""Aligned faces: the geometry from frame landmarks, stored masks and alignments files.

* :mod:`lib.align.constants`: centerings, extract ratios, mean faces, landmark parts.
* :mod:`lib.align.aligned_face`: umeyama, pose offsets, the frame path and the crop path
  (:class:`AlignedFace`, :func:`training_crop`).
* :mod:`lib.align.aligned_mask`: stored masks (:class:`Mask`) and landmark masks.
* :mod:`lib.align.detected_face`: a face from Faceswap's PNG metadata (:class:`DetectedFace`).
* :mod:`lib.align.alignments`: Faceswap's alignments files (``.fsa``; import it from there:
  it is not loaded here, so reading face images does not load Keras).
"""
from __future__ import annotations

from lib.align.aligned_face import AlignedFace, PoseEstimate, training_crop
from lib.align.aligned_mask import Mask, landmark_mask, stored_landmark_mask
from lib.align.constants import CENTERINGS, EXTRACT_RATIOS
from lib.align.detected_face import DetectedFace

__all__ = ["CENTERINGS", "EXTRACT_RATIOS", "AlignedFace", "DetectedFace", "Mask", "PoseEstimate",
           "landmark_mask", "stored_landmark_mask", "training_crop"]
