"""Convert whole frames: for each face, crop it at the model's alignment, predict the swap (in
batches across faces and frames), blend it through the mask, adjust its colour and warp it back
into the frame (faceswap_data.md §6.2).

The alignment of each face comes from :mod:`lib.align` (the same geometry as training):

* ``matrix``: frame pixels -> the aligned face at the model's **output** size, where training
  cut it (:func:`training_matrix`), or Faceswap 3.0's frame path
  ``AlignedFace(landmarks, centering, output_size, coverage).adjusted_matrix()``;
* ``feed_matrix``: the same at the model's **input** size (when the sizes differ);
* ``mask``: the stored mask at the model's centering and coverage,
  ``Mask.from_dict(entry).get_mask(**blend.stored_mask_options(), sub_crop=(face, centering))``
  (``None`` for mask types ``none`` and ``predicted``).

:func:`faces_from_alignments` builds them from an alignments file's face dicts.

Only the part of the frame that a face can reach is processed, and every pixel outside it is
copied, byte for byte: frames without faces, and the pixels around the faces, come out exactly
as they went in.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from lib.align.aligned_face import AlignedFace, get_matrix_scaling
from lib.align.aligned_mask import Mask
from lib.errors import FaceswapError
from plugins.convert.color._base import get_color
from plugins.convert.mask.mask_blend import MaskBlend

__all__ = ["MAX_PENDING_FRAMES", "ConvertFace", "ConvertFrame", "FrameConverter",
           "faces_from_alignments", "training_matrix"]

logger = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], Any]
Box = tuple[int, int, int, int]
_BLEND_SCALE = np.float32(2.0 ** 17)
"""The blend's weights are scaled by this (see :meth:`FrameConverter.patch_frame`)."""
MAX_PENDING_FRAMES = 16
"""The most frames held in memory while a batch of faces is gathered."""


@dataclass
class ConvertFace:
    """One face of a frame, aligned for the model.

    Parameters
    ----------
    matrix
        2x3, frame pixels -> the aligned face at the model's output size.
    feed_matrix
        2x3, frame pixels -> the aligned face at the model's input size; ``None`` when the input
        and output sizes are equal (``matrix`` is used).
    mask
        The stored mask (``uint8``, ``(side, side, 1)``) at the model's centering and coverage,
        or ``None`` for mask types ``none`` and ``predicted``.
    """

    matrix: np.ndarray
    feed_matrix: np.ndarray | None = None
    mask: np.ndarray | None = None


@dataclass
class ConvertFrame:
    """A frame to convert: its name (the writer names its output after it), the BGR ``uint8``
    image and its faces (none: the frame is passed through unchanged)."""

    name: str
    image: np.ndarray
    faces: list[ConvertFace] = field(default_factory=list)


class FrameConverter:
    """The frame pipeline of Faceswap's convert.

    Parameters
    ----------
    predict
        The swap model: a ``float32`` batch ``(N, input_size, input_size, 3)`` in [0, 1] ->
        the model's output(s) for it: an array ``(N, output_size, output_size, 3)``, or a list
        whose last entry is that array, or ends with it and a 1-channel learned mask.
    input_size, output_size
        The model's input and output sides.
    mask_blend
        The blend mask plugin (it carries the ``-M/--mask-type``).
    color_adjustment
        ``-c/--color-adjustment``: ``"avg-color"``, ``"match-hist"``, ``"seamless-clone"`` or
        ``"none"``.
    batch_size
        Faces per prediction (``convert_batchsize`` of the training config); faces of several
        frames share a batch.
    color_order
        ``"bgr"`` or ``"rgb"``: the channel order the model was trained with.
    face_scale
        ``-S/--face-scale`` percent: a positive value enlarges the swapped face about its
        centre.
    jobs
        ``-j/--jobs``: the threads that patch frames while the next faces are predicted
        (OpenCV and NumPy release the GIL); 0 for one per CPU core.
    draw_transparent
        The ``opencv`` writer's ``draw_transparent``: a frame with faces comes out as BGRA, the
        swapped faces on a transparent layer (their blend mask as alpha) instead of the frame.
    in_place
        Patch the frames' own arrays (when writable) instead of copies: for a caller that hands
        over each frame and does not use it afterwards (``convert`` reading frames), it saves
        a copy of every frame. A frame whose patching fails is still written unconverted: the
        faces are written into it only once everything else has succeeded.
    """

    def __init__(self, predict: Predict, input_size: int, output_size: int, *,
                 mask_blend: MaskBlend, color_adjustment: str = "avg-color",
                 batch_size: int = 16, color_order: str = "bgr",
                 face_scale: float = 0.0, jobs: int = 1, draw_transparent: bool = False,
                 in_place: bool = False) -> None:
        if color_order not in ("bgr", "rgb"):
            raise ValueError(f"color_order must be 'bgr' or 'rgb'. Received: {color_order!r}")
        if mask_blend.output_size != output_size:
            raise ValueError(f"The mask blend is for faces of {mask_blend.output_size} px, the "
                             f"model outputs {output_size} px.")
        self.predict = predict
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.mask_blend = mask_blend
        self.color = get_color(color_adjustment)
        self.batch_size = max(1, int(batch_size))
        self.rgb = color_order == "rgb"
        self.face_scale = 1.0 - face_scale / 100.0
        self.jobs = int(jobs) if jobs > 0 else (os.cpu_count() or 1)
        self.draw_transparent = bool(draw_transparent)
        self.in_place = bool(in_place)
        self._buffers = threading.local()  # each patching thread's warp canvas

    # --- batching ------------------------------------------------------------------------------
    def convert(self, frames: Iterable[ConvertFrame]) -> Iterator[tuple[str, np.ndarray]]:
        """Convert frames in order, yielding ``(name, converted BGR uint8 frame)``.

        Faces are predicted in batches of ``batch_size`` faces, gathered across consecutive
        frames, on the calling thread. The frames of a batch are then patched by ``jobs``
        worker threads while the next batch is gathered and predicted, so patching overlaps
        prediction (as Faceswap's separate predict and convert threads do). At most
        :data:`MAX_PENDING_FRAMES` frames wait to be predicted, and as many to be yielded.
        """
        done: deque[Future[tuple[str, np.ndarray]]] = deque()
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="convert") as pool:
            pending: list[ConvertFrame] = []
            queued = 0
            for frame in frames:
                pending.append(frame)
                queued += len(frame.faces)
                if queued < self.batch_size and len(pending) < MAX_PENDING_FRAMES:
                    continue
                done.extend(self._predict_and_submit(pool, pending))
                pending, queued = [], 0
                while done and (done[0].done() or len(done) > MAX_PENDING_FRAMES):
                    yield done.popleft().result()
            done.extend(self._predict_and_submit(pool, pending))
            while done:
                yield done.popleft().result()

    def _predict_and_submit(self, pool: ThreadPoolExecutor, pending: list[ConvertFrame]
                            ) -> list[Future[tuple[str, np.ndarray]]]:
        """Predict the faces of ``pending`` frames; submit each frame's patching."""
        feeds = [self._feed_face(frame.image, face) for frame in pending for face in frame.faces]
        predicted: list[np.ndarray] = []
        for start in range(0, len(feeds), self.batch_size):
            predicted.extend(self._predict(np.stack(feeds[start:start + self.batch_size])))
        futures = []
        index = 0
        for frame in pending:
            count = len(frame.faces)
            futures.append(pool.submit(self._patch_named, frame, predicted[index:index + count],
                                       feeds[index:index + count]))
            index += count
        return futures

    def _patch_named(self, frame: ConvertFrame, predicted: list[np.ndarray],
                     crops: list[np.ndarray]) -> tuple[str, np.ndarray]:
        """The patched frame; as Faceswap, a frame whose patching fails is written unconverted,
        with a warning, and convert goes on (a :class:`~lib.errors.FaceswapError`, a problem
        of the options rather than of the frame, still stops it).

        Faceswap compat: Faceswap logs this at ERROR level; a warning here, as convert goes on.
        """
        try:
            return frame.name, self.patch_frame(frame, predicted, crops)
        except FaceswapError:
            raise
        except Exception as err:  # noqa: BLE001  (any failure of one frame's patch)
            logger.warning("Failed to convert image: '%s'. Reason: %s. Writing the frame "
                           "unconverted.", frame.name, err)
            return frame.name, self._output(frame)

    def _output(self, frame: ConvertFrame) -> np.ndarray:
        """The array a frame's result is written into: the frame's own with ``in_place`` (when
        writable), else a copy of it."""
        image = frame.image
        return image if self.in_place and image.flags.writeable else image.copy()

    def _feed_face(self, image: np.ndarray, face: ConvertFace) -> np.ndarray:
        """The model input: the frame path warp at the input size, ``float32`` in [0, 1]."""
        matrix = face.matrix if face.feed_matrix is None else face.feed_matrix
        if face.feed_matrix is None and self.input_size != self.output_size:
            raise ValueError("A feed_matrix is needed when the model's input and output sizes "
                             "differ.")
        return self._warp_face(image, matrix, self.input_size).astype("float32") / 255.0

    @staticmethod
    def _warp_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
        forward = get_matrix_scaling(matrix)[0]
        return cv2.warpAffine(image[..., :3], matrix, (size, size), flags=forward)

    def _predict(self, feed: np.ndarray) -> list[np.ndarray]:
        """Run the model; returns one ``(S, S, 3)`` or ``(S, S, 4)`` (BGR + learned mask) array
        per face."""
        if self.rgb:
            feed = feed[..., ::-1]
        outputs = self.predict(np.ascontiguousarray(feed))
        outputs = [np.asarray(out) for out in outputs] if isinstance(outputs, (list, tuple)) \
            else [np.asarray(outputs)]
        if len(outputs) > 1 and outputs[-1].shape[-1] == 1:
            face, mask = outputs[-2], outputs[-1]
        else:
            face, mask = outputs[-1], None
        expected = (len(feed), self.output_size, self.output_size, 3)
        if face.shape != expected:
            raise FaceswapError(f"The model returned faces of shape {face.shape}; expected "
                                f"{expected}.")
        face = face.astype("float32")
        if self.rgb:
            face = face[..., ::-1]
        if mask is not None:
            face = np.concatenate([face, mask.astype("float32")], axis=-1)
        return list(face)

    # --- patching ------------------------------------------------------------------------------
    def patch_frame(self, frame: ConvertFrame, predicted: Sequence[np.ndarray],
                    crops: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Blend the predicted faces into the frame.

        Parameters
        ----------
        frame
            The frame and its faces.
        predicted
            The model's output for each face, ``float32`` BGR (+ learned mask) in [0, 1].
        crops
            The faces as they were fed to the model (``float32`` BGR in [0, 1]): the colour
            adjustment's original face for each face without a ``feed_matrix`` (the same warp
            of the frame). ``None``: cut from the frame again.

        Returns
        -------
        The converted BGR ``uint8`` frame. Pixels that no face reaches are the input's bytes.
        With ``draw_transparent``, a frame with faces is the BGRA ``uint8`` canvas instead:
        the warped faces with their blend mask as alpha; elsewhere alpha 0 over black (one
        face) or over the frame (several), as Faceswap's canvas holds them. With ``in_place``
        (and a writable frame) the frame's own array, patched.
        """
        image = frame.image
        if not frame.faces:
            return self._output(frame)
        if crops is None:
            crops = [None] * len(frame.faces)
        warps = [self._face_patch(image, face, new, crop)
                 for face, new, crop in zip(frame.faces, predicted, crops, strict=True)]
        # The frame region to warp into and blend: where some face's blend mask can reach (a
        # pixel no mask reaches has alpha 0, so it keeps the frame's bytes), or, for the
        # transparent canvas, where some face's square can reach (its colour shows there).
        boxes = [box for box in (reach[1] if self.draw_transparent else reach[0]
                                 for _, _, _, reach in warps) if box is not None]
        if not boxes:
            return self._output(frame)
        left = min(box[0] for box in boxes)
        top = min(box[1] for box in boxes)
        right = max(box[2] for box in boxes)
        bottom = max(box[3] for box in boxes)
        # Faceswap compat: Faceswap warps each face into a canvas of the whole frame, holding
        # the frame (alpha 0); we warp into the region only, with the matrix moved to its
        # origin. OpenCV's warp behaves as if it worked in blocks of 8 columns from the
        # destination's first column: with a transparent border a face's edge pixels depend on
        # the block they fall in. So the region's width is a multiple of 8 or reaches the
        # frame's right edge, and it starts at a multiple of 8: its blocks are the whole-frame
        # warp's.
        # * One face (constant border): the region starts at its first column, rounded down
        #   to a multiple of 8. OpenCV 5 computes the sample positions in floating point;
        #   moving the origin changes a value by under 1e-3 of a level (OpenCV 4's fixed-point
        #   positions may move a pixel by 1/32 px).
        # * Several faces (transparent border): the region starts at column 0. A sample at the
        #   edge of a face's square is either drawn or left to the canvas, so a position
        #   changed in its last bit may change that pixel by many levels; keeping the
        #   whole-frame warp's columns keeps those pixels Faceswap's.
        # With one face every canvas pixel is overwritten, so what the reused canvas held does
        # not matter; with several OpenCV blends the face's edge pixels with what the canvas
        # holds, so it holds the frame at alpha 0, as in Faceswap.
        several = len(frame.faces) > 1
        origin = 0 if several else left // 8 * 8
        end = min(image.shape[1], origin - (origin - right) // 8 * 8)
        canvas = self._canvas(bottom - top, end - origin)
        if not several:
            border = cv2.BORDER_CONSTANT
        else:
            border = cv2.BORDER_TRANSPARENT
            np.divide(image[top:bottom, origin:end, :3], np.float32(255.0), out=canvas[..., :3],
                      dtype="float32")
            canvas[..., 3] = 0.0
        for patch, matrix, interpolator, (_, square) in warps:
            if (square is None or square[3] <= top or square[1] >= bottom
                    or square[0] >= end or square[2] <= origin):
                continue  # nothing of this face's square lands in the region
            shifted = matrix.copy()
            shifted[:, 2] += shifted[:, 0] * origin + shifted[:, 1] * top
            cv2.warpAffine(patch, shifted, (end - origin, bottom - top), dst=canvas,
                           flags=cv2.WARP_INVERSE_MAP | interpolator, borderMode=border)
        if self.draw_transparent:
            return self._transparent(image, canvas, (origin, top, end, bottom), several)
        # The blend, result = clip(face) * alpha + background * (1 - alpha), clipped and
        # rounded, in OpenCV passes over the region the masks reach (NumPy's broadcast multiply
        # by the 1-channel alpha alone took longer than all of them): the colour is copied out
        # of the canvas and clipped to [0, 1] by two thresholds; ``blendLinear`` computes
        # (face * w1 + background * w2) / (w1 + w2 + 1e-5) with w1 = alpha * 2^17 and
        # w2 = (1 - alpha) * 2^17: a power of two scales exactly and swamps the 1e-5, so this
        # is the float formula; ``addWeighted`` scales to 0-255 and rounds to uint8 with
        # saturation (half to even, as ``np.rint``).
        region = canvas[:, left - origin:right - origin]
        foreground = cv2.cvtColor(region, cv2.COLOR_BGRA2BGR)
        cv2.threshold(foreground, 1.0, 0.0, cv2.THRESH_TRUNC, dst=foreground)
        cv2.threshold(foreground, 0.0, 0.0, cv2.THRESH_TOZERO, dst=foreground)
        weight = cv2.extractChannel(region, 3)
        np.multiply(weight, _BLEND_SCALE, out=weight)
        background = np.divide(image[top:bottom, left:right, :3], np.float32(255.0),
                               dtype="float32")  # frame / 255 in one pass
        blended = cv2.blendLinear(foreground, background, weight, _BLEND_SCALE - weight)
        patched = cv2.addWeighted(blended, 255.0, blended, 0.0, 0.0, dtype=cv2.CV_8U)
        # Written last: a failure before this leaves an in-place frame as it came.
        result = self._output(frame)
        result[top:bottom, left:right, :3] = patched
        logger.debug("Patched %s face(s) into '%s' (region %s)", len(frame.faces), frame.name,
                     (left, top, right, bottom))
        return result

    def _canvas(self, rows: int, columns: int) -> np.ndarray:
        """A ``float32`` ``(rows, columns, 4)`` warp canvas, reused by the calling thread from
        frame to frame (a fresh one costs page faults on every frame). Its contents are left
        from the last frame: with one face the constant-border warp overwrites every pixel,
        with several the frame is copied in first."""
        buffer = getattr(self._buffers, "canvas", None)
        needed = rows * columns * 4
        if buffer is None or buffer.size < needed:
            buffer = np.empty(needed, dtype="float32")
            self._buffers.canvas = buffer
        return buffer[:needed].reshape(rows, columns, 4)

    @staticmethod
    def _transparent(image: np.ndarray, canvas: np.ndarray, region: Box, several: bool
                     ) -> np.ndarray:
        """The whole frame's BGRA canvas as ``uint8`` (``draw_transparent``): the warped
        ``region`` (``(left, top, right, bottom)``) placed in a canvas that is black (one face:
        the constant border zeroes it) or the frame (several faces: the transparent border
        keeps it), with alpha 0."""
        height, width = image.shape[:2]
        left, top, right, bottom = region
        out = np.zeros((height, width, 4), dtype="uint8")
        if several:
            out[..., :3] = image[..., :3]
        warped = np.clip(canvas, 0.0, 1.0)
        np.multiply(warped, 255.0, out=warped)
        out[top:bottom, left:right] = np.rint(warped)
        return out

    def _face_patch(self, image: np.ndarray, face: ConvertFace, new_face: np.ndarray,
                    crop: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, int, tuple[Box | None, Box | None]]:
        """The 4-channel face to warp back (colour-adjusted BGR + blend mask), its matrix
        (after the face scale), the inverse interpolator and the frame regions that its blend
        mask (its non-zero pixels) and its whole square can reach. ``crop``: the face as fed
        to the model (see :meth:`patch_frame`)."""
        size = self.output_size
        predicted_mask = new_face[..., 3:] if new_face.shape[-1] == 4 else None
        source = predicted_mask if self.mask_blend.mask_type == "predicted" else face.mask
        if self.mask_blend.mask_type == "predicted" and source is None:
            raise FaceswapError("Mask type 'predicted' needs a model trained with learn_mask.")
        mask, raw_mask = self.mask_blend.run(source)
        patch = np.concatenate([new_face[..., :3], mask], axis=-1)
        if self.color is not None:
            # the face fed to the model is this crop when it was cut with ``matrix``
            old_face = (crop if crop is not None and face.feed_matrix is None
                        else self._warp_face(image, face.matrix, size).astype("float32") / 255.0)
            patch = self.color.run(old_face, patch, raw_mask)
        interpolator = get_matrix_scaling(face.matrix)[1]
        matrix = np.asarray(face.matrix, dtype="float64")
        if self.face_scale != 1.0:
            matrix = matrix * self.face_scale
            matrix[:, 2] += (1.0 - self.face_scale) * size / 2
        height, width = image.shape[:2]
        patch = np.ascontiguousarray(patch, dtype="float32")
        left, top, columns, rows = cv2.boundingRect((patch[..., 3] != 0).astype("uint8"))
        masked = (_reach(matrix, (left, top, left + columns, top + rows), width, height)
                  if columns and rows else None)
        return patch, matrix, interpolator, (masked, _reach(matrix, (0, 0, size, size),
                                                            width, height))


def _reach(matrix: np.ndarray, rect: Box, width: int, height: int) -> Box | None:
    """``(left, top, right, bottom)`` of the frame pixels whose warp-back samples can touch the
    face pixels ``rect`` (``(left, top, right, bottom)``, right and bottom exclusive): the
    rectangle grown by 4 px (the cubic kernel reaches 2 px) mapped to the frame, plus 2 px,
    clipped to the frame; ``None`` when that is outside the frame."""
    inverse = cv2.invertAffineTransform(matrix)
    margin = 4.0
    x0, y0, x1, y1 = (rect[0] - margin, rect[1] - margin, rect[2] + margin, rect[3] + margin)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    points = corners @ inverse[:, :2].T + inverse[:, 2]
    left = max(0, int(np.floor(points[:, 0].min())) - 2)
    top = max(0, int(np.floor(points[:, 1].min())) - 2)
    right = min(width, int(np.ceil(points[:, 0].max())) + 3)
    bottom = min(height, int(np.ceil(points[:, 1].max())) + 3)
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def training_matrix(face: AlignedFace, size: int, extract_size: int = 512) -> np.ndarray:
    """Frame pixels -> the training crop of ``face`` resized to ``size``: the head extract at
    ``extract_size`` (``head`` centering, coverage 1: how Faceswap's extract aligns faces),
    then the training sub-crop of it at the face's centering, coverage and vertical offset
    (:meth:`~lib.align.aligned_face.AlignedFace.crop_roi`), scaled to ``size``.

    So a frame's face is cut exactly where training cut the model's faces from extracts of
    ``extract_size`` (Faceswap's default 512; another size moves it by under a pixel of that
    extract).
    """
    head = face.adjusted_matrix(extract_size, "head", 1.0)
    left, top, right, _ = face.crop_roi(extract_size)
    matrix = head - np.array([[0.0, 0.0, left], [0.0, 0.0, top]])
    return matrix * (size / (right - left))


def faces_from_alignments(faces: Iterable[dict[str, Any]], *, centering: str, coverage: float,
                          input_size: int, output_size: int, mask_blend: MaskBlend,
                          y_offset: float = 0.0, match_training: bool = True,
                          extract_size: int = 512, frame_name: str = "") -> list[ConvertFace]:
    """The :class:`ConvertFace` of each face dict of an alignments file, at the model's
    centering, coverage and vertical offset, with the stored mask named by the blend's mask
    type.

    Parameters
    ----------
    faces
        The face dicts of one frame (``Alignments.get_faces_in_frame``).
    centering, coverage, y_offset
        The model's ``centering``, ``coverage / 100`` and ``vertical_offset / 100``.
    input_size, output_size
        The model's input and output sides.
    mask_blend
        The blend plugin: its mask type and the threshold/blur for the stored mask.
    match_training
        ``True``: cut the face where training cut it (:func:`training_matrix`, the crop path
        of the spec §3.7 with ``y_offset``). ``False``: Faceswap 3.0's convert geometry, the
        frame path (§3.6), where coverage is additive and ``y_offset`` is ignored.
    extract_size
        The side of the extracts the model was trained on (``match_training`` only).
    frame_name
        For error messages.

    Faceswap compat: Faceswap 3.0 converts on the frame path, which differs from the training
    crop when coverage < 100 % or vertical_offset != 0 (spec §9 Q1, Q2; fixed upstream after
    this revision); ``match_training=True`` (the default) is that fix. The stored mask is
    sub-cropped with the same pose, coverage and offset in both cases.

    Raises
    ------
    lib.errors.FaceswapError
        If a face lacks the stored mask named by the mask type, or its mask or landmarks cannot
        be used.
    """
    mask_type = mask_blend.mask_type
    result = []
    for index, entry in enumerate(faces):
        where = f"face {index} of frame '{frame_name}'"
        try:
            aligned = AlignedFace(entry["landmarks_xy"], centering=centering, size=output_size,
                                  coverage=coverage,
                                  y_offset=y_offset if match_training else 0.0)
        except ValueError as err:
            raise FaceswapError(f"The landmarks of {where} cannot be aligned: {err}.") from err
        if match_training:
            matrix = training_matrix(aligned, output_size, extract_size)
            feed = (None if input_size == output_size
                    else training_matrix(aligned, input_size, extract_size))
        else:
            matrix = aligned.adjusted_matrix()
            feed = None if input_size == output_size else aligned.adjusted_matrix(input_size)
        stored = None
        if mask_type not in ("none", "predicted"):
            masks = entry.get("mask", {})
            if mask_type not in masks:
                raise FaceswapError(
                    f"You have selected the Mask Type `{mask_type}` but {where} does not have "
                    f"this mask stored in the Alignments File (it has: "
                    f"{sorted(masks) or 'none'}). Choose another -M/--mask-type.")
            try:
                stored = Mask.from_dict(masks[mask_type]).get_mask(
                    **mask_blend.stored_mask_options(), sub_crop=(aligned, centering))
            except ValueError as err:
                raise FaceswapError(f"The stored mask '{mask_type}' of {where} is damaged: "
                                    f"{err}.") from err
        result.append(ConvertFace(matrix, feed, stored))
    return result
