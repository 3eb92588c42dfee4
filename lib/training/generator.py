"""The training-data feeder: reads folders of aligned faces and produces augmented batches.

* :func:`get_image_paths` lists the face images of a folder (with clear errors).
* :class:`Feeder` loads both sides' faces once (cropped to the model's coverage and resized to
  its processing size, with the masks the loss configuration needs), then produces batches in
  background threads: ``get_batch()`` returns the model inputs and targets as float32 arrays, and
  ``generate_preview()`` fixed, un-augmented faces for the preview.

The data: square ``.png``/``.jpg``/``.jpeg`` faces, one size per side (any size up to 4096 px).
The face mask is the alpha channel of a 4-channel PNG. Eye and mouth masks are drawn from 68-point
landmarks in an optional ``landmarks.json`` beside the images: ``{"<file name>": [[x, y], ...]}``
in image pixels.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from lib.errors import FaceswapError
from lib.image import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_SIZE,
    crop_square,
    get_image_paths,
    header_size,
    read_image,
    resize_square,
)
from lib.training.augmentation import ImageAugmentation

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["IMAGE_EXTENSIONS", "MAX_IMAGE_SIZE", "Feeder", "get_image_paths", "read_image",
           "resize_square"]

logger = logging.getLogger(__name__)


_LANDMARKS_FILE = "landmarks.json"
_EYES = (slice(36, 42), slice(42, 48))  # 68-point landmarks: right eye, left eye
_MOUTH = (slice(48, 60),)  # outer lip
_SIDES = ("a", "b")
_NO_ALPHA = "no alpha channel"


def _odd(value: int) -> int:
    return value + 1 if value % 2 == 0 else value


@dataclass(frozen=True)
class _Layout:
    """How one side's faces are prepared: sizes, crop and which mask channels to store."""

    process_size: int
    coverage_ratio: float
    vertical_offset: float
    face_mask: bool  # store the alpha mask (channel 3)
    eye_mask: bool
    mouth_mask: bool
    mask_dilation: float
    mask_blur_kernel: int
    mask_threshold: int

    @property
    def channels(self) -> int:
        return 3 + int(self.face_mask) + int(self.eye_mask) + int(self.mouth_mask)

    def crop_box(self, size: int) -> tuple[int, int, int]:
        """``(top, left, crop size)`` of the coverage crop of a ``size`` pixel face."""
        crop = int(size * self.coverage_ratio // 2) * 2
        left = (size - crop) // 2
        top = left + int(round(self.vertical_offset * size))
        return top, left, crop


def _finish_mask(mask: np.ndarray, layout: _Layout) -> np.ndarray:
    """Dilate (or erode), threshold and blur a uint8 face mask as ``[global.loss]`` says."""
    size = mask.shape[0]
    kernel = int(round(size * abs(layout.mask_dilation) / 100))
    if kernel > 0:
        element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        mask = (cv2.dilate if layout.mask_dilation > 0 else cv2.erode)(mask, element)
    if layout.mask_threshold > 0:
        threshold = layout.mask_threshold * 2.55
        mask = np.where(mask < threshold, 0, np.where(mask > 255 - threshold, 255, mask))
        mask = mask.astype("uint8")
    if layout.mask_blur_kernel > 0:
        kernel = _odd(layout.mask_blur_kernel)
        mask = cv2.GaussianBlur(mask, (kernel, kernel), 0)
    return mask


def _landmark_mask(points: np.ndarray, parts: tuple[slice, ...], size: int) -> np.ndarray:
    """Filled convex hulls of landmark ``parts``, dilated 2.5 % and blurred (kernel size//16)."""
    mask = np.zeros((size, size), dtype="uint8")
    for part in parts:
        hull = cv2.convexHull(np.round(points[part]).astype("int32"))
        cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA)
    kernel = int(round(size * 0.025))
    if kernel > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel)))
    blur = _odd(max(1, size // 16))
    if blur > 1:
        mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    return mask


def _process(path: str, expected: int, layout: _Layout, landmarks: np.ndarray | None
             ) -> tuple[np.ndarray | None, str]:
    """Read and prepare one face: ``(array, "")``, or ``(None, why it cannot be used)``."""
    face, alpha, why = read_image(path)
    if face is None:
        return None, why
    if face.shape[:2] != (expected, expected):
        return None, f"decoded as {face.shape[1]}x{face.shape[0]}, header disagrees"
    if layout.face_mask and alpha is None:
        return None, _NO_ALPHA
    top, left, crop = layout.crop_box(expected)
    size = layout.process_size
    channels = [resize_square(crop_square(face, left, top, crop), size)]
    if layout.face_mask:
        mask = resize_square(crop_square(alpha, left, top, crop), size)
        channels.append(_finish_mask(mask, layout)[..., None])
    if layout.eye_mask or layout.mouth_mask:
        points = (landmarks - np.array([left, top], dtype="float64")) * (size / crop)
        for used, parts in ((layout.eye_mask, _EYES), (layout.mouth_mask, _MOUTH)):
            if used:
                channels.append(_landmark_mask(points, parts, size)[..., None])
    return np.concatenate(channels, axis=-1), ""


def _short_list(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --- one side's faces ---------------------------------------------------------------------------
class _FaceSet:
    """One side's prepared faces: a uint8 ``(N, process, process, channels)`` array."""

    def __init__(self, side: str, paths: list[str], layout: _Layout, batch_size: int,
                 needs: dict[str, str], workers: int) -> None:
        self.side = side
        self.layout = layout
        folders = sorted({str(Path(path).parent) for path in paths})
        self.where = f"side {side.upper()} ({_short_list(folders, 3)})"
        self._needs = needs
        usable = self._check_headers(paths)
        landmarks = self._landmarks(usable) if layout.eye_mask or layout.mouth_mask else {}
        self.paths, self.faces = self._load(usable, landmarks, workers)
        self._check_count(batch_size, len(paths))
        logger.debug("Side %s: %s faces of %s px, %s channels", side, len(self.paths),
                     layout.process_size, layout.channels)

    def _skip(self, reasons: dict[str, list[str]]) -> None:
        for reason, names in reasons.items():
            logger.warning("Skipping %s training image(s) of %s: %s: %s", len(names), self.where,
                           reason, _short_list(names))

    def _check_headers(self, paths: list[str]) -> list[tuple[str, int]]:
        """Paths (with their size) that are readable square images of the most common size."""
        skipped: dict[str, list[str]] = collections.defaultdict(list)
        sized = []
        for path in paths:
            name = os.path.basename(path)
            if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
                skipped[f"not a {'/'.join(IMAGE_EXTENSIONS)} file"].append(name)
                continue
            try:
                if os.path.getsize(path) == 0:
                    skipped["empty file"].append(name)
                    continue
                size = header_size(path)
            except OSError:
                skipped["missing or unreadable"].append(name)
                continue
            if size is None:
                skipped["not a readable image (corrupt?)"].append(name)
            elif size[0] != size[1]:
                skipped["not square (aligned faces are square)"].append(name)
            elif size[0] > MAX_IMAGE_SIZE:
                skipped[f"{size[0]}x{size[1]} px, larger than {MAX_IMAGE_SIZE} px (the limit "
                        "for either side)"].append(name)
            else:
                sized.append((path, size[0]))
        counts = collections.Counter(size for _, size in sized)
        if len(counts) > 1:
            # the most common size wins; a tie goes to the larger size
            keep = max(counts, key=lambda size: (counts[size], size))
            for path, size in sized:
                if size != keep:
                    skipped[f"{size} px, while most images are {keep} px"].append(
                        os.path.basename(path))
            sized = [(path, size) for path, size in sized if size == keep]
        self._skip(skipped)
        return sized

    def _landmarks(self, usable: list[tuple[str, int]]) -> dict[str, np.ndarray]:
        """The 68-point landmarks of every usable image, from the folders' landmarks.json."""
        found: dict[str, np.ndarray] = {}
        missing = []
        files: dict[Path, dict[str, Any] | None] = {}
        for path, _ in usable:
            folder = Path(path).parent
            if folder not in files:
                files[folder] = self._read_landmarks(folder / _LANDMARKS_FILE)
            entry = (files[folder] or {}).get(os.path.basename(path))
            if entry is None:
                missing.append(os.path.basename(path))
                continue
            points = np.asarray(entry, dtype="float64") if _is_points(entry) else None
            if points is None or points.shape != (68, 2) or not np.isfinite(points).all():
                raise FaceswapError(
                    f"The landmarks of '{os.path.basename(path)}' in "
                    f"'{folder / _LANDMARKS_FILE}' ({self.where}) are not 68 [x, y] points. "
                    "Fix or remove the entry (each entry is a list of 68 [x, y] pairs in image "
                    "pixels).")
            found[path] = points
        if missing:
            masks = " and ".join(name for name, used in (("eye", self.layout.eye_mask),
                                                         ("mouth", self.layout.mouth_mask))
                                 if used)
            where = _short_list([str(folder / _LANDMARKS_FILE) for folder in files], 3)
            raise FaceswapError(
                f"Training needs {masks} masks, drawn from 68-point landmarks, but {len(missing)} "
                f"image(s) of {self.where} have no entry in {where}: {_short_list(missing)}. "
                f"Add their landmarks to {_LANDMARKS_FILE} beside the images "
                '({"<file name>": [[x, y], ... 68 points]}), or in the [global.loss] section of '
                f"the training config {self._needs['landmarks']}.")
        return found

    def _read_landmarks(self, path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FaceswapError(
                f"The landmarks file '{path}' ({self.where}) cannot be read: {err}. Expected "
                'JSON {"<file name>": [[x, y], ... 68 points]}. Fix or remove the file.') from err
        if not isinstance(data, dict):
            raise FaceswapError(
                f"The landmarks file '{path}' ({self.where}) holds a {type(data).__name__}. "
                'Expected a JSON object {"<file name>": [[x, y], ... 68 points]}. Fix or remove '
                "the file.")
        return data

    def _load(self, usable: list[tuple[str, int]], landmarks: dict[str, np.ndarray],
              workers: int) -> tuple[list[str], np.ndarray]:
        """Decode and prepare the faces (in threads); skip the bad ones with a warning."""
        layout = self.layout
        faces = np.empty((len(usable), layout.process_size, layout.process_size,
                          layout.channels), dtype="uint8")

        def work(item: tuple[str, int]) -> tuple[np.ndarray | None, str]:
            return _process(item[0], item[1], layout, landmarks.get(item[0]))

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(work, usable))
        skipped: dict[str, list[str]] = collections.defaultdict(list)
        no_alpha, kept = [], []
        for (path, _), (face, reason) in zip(usable, results, strict=True):
            if face is not None:
                faces[len(kept)] = face
                kept.append(path)
            elif reason == _NO_ALPHA:
                no_alpha.append(os.path.basename(path))
            else:
                skipped[reason].append(os.path.basename(path))
        self._skip(skipped)
        if no_alpha:
            raise FaceswapError(
                f"Training needs a face mask ({self._needs['face']}), taken from the alpha "
                f"channel of the images, but {len(no_alpha)} image(s) of {self.where} have no "
                f"alpha channel: {_short_list(no_alpha)}. Save the faces as 4-channel PNGs with "
                "the mask in the alpha channel, or in the [global.loss] section of the training "
                f"config {self._needs['face_fix']}.")
        return kept, faces[:len(kept)]

    def _check_count(self, batch_size: int, listed: int) -> None:
        count = len(self.paths)
        if count >= batch_size:
            return
        skipped = (f" ({listed - count} of the {listed} listed were skipped, see the warnings)"
                   if listed != count else "")
        raise FaceswapError(
            f"{self.where} has {count} usable training image(s){skipped}, fewer than the batch "
            f"size of {batch_size}. Add more faces or lower the batch size to at most "
            f"{max(count, 1)}.")


def _is_points(entry: Any) -> bool:
    return (isinstance(entry, list)
            and all(isinstance(point, list) and len(point) == 2
                    and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                            for value in point) for point in entry))


# --- the feeder ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Output:
    """One output position of a side: its size and whether it is a learned mask."""

    size: int
    is_mask: bool


class Feeder:
    """Training batches and preview faces for both sides of a model.

    Every face is read once, cropped to the model's coverage (a centred square of
    ``(size * coverage_ratio // 2) * 2`` pixels, moved down by ``vertical_offset`` percent of
    the size), resized to the processing size (the largest input or output of the model;
    INTER_AREA to shrink, INTER_CUBIC to enlarge) and kept in memory as uint8 with the masks the
    loss configuration needs. Each batch is then drawn from shuffled epochs of each side and
    augmented (:class:`~lib.training.augmentation.ImageAugmentation`): colour, rotation/zoom/
    shift, flip, colour order, targets resized to each output, inputs warped and resized.

    Batches are made by background threads (started here; stop them with :meth:`close` or a
    ``with`` block) into a bounded queue. With a ``seed``, batch ``k``
    uses generators seeded from ``(seed, k)`` and batches are delivered in order, so the
    sequence of batches is the same whatever the number of workers.

    Parameters
    ----------
    images
        ``{"a": side A images, "b": side B images}``: each a list of image paths, or a folder
        (read with :func:`get_image_paths`).
    model
        The built model plugin (:class:`~plugins.train.model._base.ModelBase`): its model's
        input and output shapes, ``coverage_ratio`` and ``color_order`` are used.
    batch_size
        Faces per side in a batch.
    seed
        Seed for the order and augmentation of every batch; ``None`` for a random one.
    no_warp, no_flip, no_augment_color
        Switch off the random warp of the inputs, the random flip, the colour augmentation
        (the ``--no-warp``, ``--no-flip``, ``--no-augment-color`` options).
    workers
        Background threads making batches; ``None`` for ``min(4, os.cpu_count())``; ``0`` to
        make each batch in :meth:`get_batch` itself.

    Raises
    ------
    lib.errors.FaceswapError
        For unusable data: a missing folder or one without images, fewer usable images than
        the batch size, masks the configuration needs but the data lacks (the message says
        what to change in ``[global.loss]``).

    Notes
    -----
    The face target of an output carries the 3 colour channels then the mask channels in the
    order :meth:`plugins.train.model._base.settings.Loss.mask_channels` gives (face, eye,
    mouth; only those in use). A 1-channel (learned mask) output's target is the face mask.
    The face mask is needed when ``penalized_mask_loss`` or ``learn_mask`` is on or the model
    has a mask output; eye and mouth masks when ``penalized_mask_loss`` is on and their
    multiplier is above 1.

    Faceswap compat: Faceswap crops by the alignment data stored in its PNG headers (centering
    ``face``/``head``/``legacy``); without it we crop the centre, as api_spec §8 allows for a
    stand-alone port; ``vertical_offset`` moves that crop down by its percentage of the image
    size (parts outside the image are black). The mask options (``mask_dilation``,
    ``mask_threshold``, ``mask_blur_kernel``) are applied at the processing size, after the crop.

    Faceswap compat: with ``learn_mask`` on and ``penalized_mask_loss`` off, Faceswap's face
    targets still carry the mask as a 4th channel, unused by the loss; ours carry only the
    channels the loss reads. ``warp_to_landmarks`` is not implemented.

    Examples
    --------
    >>> with Feeder({"a": "faces_a", "b": "faces_b"}, model, 16, seed=1) as feeder:
    ...     inputs, targets = feeder.get_batch()
    """

    def __init__(self, images: dict[str, list[str] | str | Path], model: Any, batch_size: int,
                 seed: int | None = None, no_warp: bool = False, no_flip: bool = False,
                 no_augment_color: bool = False, workers: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 0):
            raise ValueError(f"`workers` must be None or an integer >= 0. Received: {workers!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"`seed` must be None or an integer >= 0. Received: {seed!r}")
        if not isinstance(images, dict) or sorted(images) != list(_SIDES):
            raise ValueError("`images` must be a dict with the keys 'a' and 'b'. Received: "
                             f"{sorted(images) if isinstance(images, dict) else type(images)}")
        self.batch_size = int(batch_size)
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self.no_warp, self.no_flip, self.no_augment_color = no_warp, no_flip, no_augment_color
        self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy)
        self._color_order = getattr(model, "color_order", "bgr")
        if self._color_order not in ("bgr", "rgb"):
            raise ValueError(f"`model.color_order` must be 'bgr' or 'rgb'. Received: "
                             f"{self._color_order!r}")
        self._read_model(model)
        needs = self._mask_needs()
        self._faces: dict[str, _FaceSet] = {}
        for side in _SIDES:
            paths = images[side]
            paths = (get_image_paths(paths) if isinstance(paths, (str, Path))
                     else [str(path) for path in paths])
            if not paths:
                raise FaceswapError(f"No training images were given for side {side.upper()}. "
                                    "Give a folder of aligned faces for each side.")
            self._faces[side] = _FaceSet(side, paths, self._layout, self.batch_size, needs,
                                         max(1, self.workers))
        self._augment = ImageAugmentation(self.batch_size, self._process_size)
        # batch production
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._results: dict[int, tuple[Any, BaseException | None]] = {}
        self._next_job = self._next_batch = 0
        self._ahead = max(2, 2 * self.workers)
        self._closed = False
        self._epochs: dict[tuple[int, int], np.ndarray] = {}
        self._start()
        logger.debug("Feeder: batch size %s, %s workers, process size %s, outputs %s, "
                     "mask channels %s", self.batch_size, self.workers, self._process_size,
                     self._outputs, self._mask_channels)

    # --- set-up ------------------------------------------------------------------------------
    def _read_model(self, model: Any) -> None:
        """Sizes from the model's inputs and outputs, and the face layout from the config."""
        from plugins.train import train_config as cfg  # noqa: PLC0415 - see augmentation.py
        from plugins.train.model._base.settings import Loss  # noqa: PLC0415

        network = model.model
        inputs = [tuple(tensor.shape) for tensor in network.inputs]
        outputs = [tuple(tensor.shape) for tensor in network.outputs]
        if len(inputs) != 2 or not outputs or len(outputs) % 2:
            raise FaceswapError(
                f"The model has {len(inputs)} input(s) and {len(outputs)} output(s). The feeder "
                "expects 2 inputs (side A, side B) and the same outputs for each side.")
        for shape in inputs + outputs:
            if len(shape) != 4 or shape[1] != shape[2] or not isinstance(shape[1], int):
                raise FaceswapError(f"The model's inputs and outputs must be square images "
                                    f"(batch, size, size, channels). Found {shape}.")
        half = len(outputs) // 2
        self._input_sizes = [shape[1] for shape in inputs]
        self._outputs = [[_Output(shape[1], shape[-1] == 1) for shape in side]
                         for side in (outputs[:half], outputs[half:])]
        self._process_size = max(shape[1] for shape in inputs + outputs)
        self._mask_channels = Loss.mask_channels()
        self._learn_mask = bool(cfg.Loss.learn_mask())
        self._penalized = bool(cfg.Loss.penalized_mask_loss())
        self._has_mask_output = any(out.is_mask for side in self._outputs for out in side)
        _, eye, mouth = self._mask_channels
        self._layout = _Layout(
            process_size=self._process_size,
            coverage_ratio=float(model.coverage_ratio),
            vertical_offset=cfg.vertical_offset() / 100,
            face_mask=self._penalized or self._learn_mask or self._has_mask_output,
            eye_mask=eye != -1, mouth_mask=mouth != -1,
            mask_dilation=float(cfg.Loss.mask_dilation()),
            mask_blur_kernel=int(cfg.Loss.mask_blur_kernel()),
            mask_threshold=int(cfg.Loss.mask_threshold()))
        # channels of the stored faces that a face target carries
        self._target_channels = [0, 1, 2] + list(range(3, 3 + sum(
            channel != -1 for channel in self._mask_channels)))

    def _mask_needs(self) -> dict[str, str]:
        """Why the masks are needed and what to change: for the error messages."""
        reasons = [text for used, text in ((self._penalized, "penalized_mask_loss is on"),
                                           (self._learn_mask, "learn_mask is on"),
                                           (self._has_mask_output and not self._learn_mask,
                                            "the model has mask outputs")) if used]
        fix = "set penalized_mask_loss and learn_mask to False"
        if self._has_mask_output and not self._learn_mask:
            fix += " (a model with mask outputs always needs the mask)"
        _, eye, mouth = self._mask_channels
        landmark_fix = " and ".join(text for used, text in (
            (eye != -1, "set eye_multiplier to 1"), (mouth != -1, "set mouth_multiplier to 1"))
            if used) + " (or penalized_mask_loss to False)"
        return {"face": ", ".join(reasons), "face_fix": fix, "landmarks": landmark_fix}

    # --- public --------------------------------------------------------------------------------
    @property
    def image_count(self) -> dict[str, int]:
        """The number of usable faces of each side."""
        return {side: len(faces.paths) for side, faces in self._faces.items()}

    def get_batch(self) -> tuple[np.ndarray | list[np.ndarray],
                                 list[np.ndarray | list[np.ndarray]]]:
        """The next training batch.

        Returns
        -------
        inputs
            float32 ``(2, B, I, I, 3)`` in ``[0, 1]``: the (warped) side A faces, then side B's.
            When the two sides' inputs differ in size: a list ``[A, B]`` of ``(B, I, I, 3)``.
        targets
            One array per output position of a side, each float32 ``(2, B, S, S, C)`` in
            ``[0, 1]`` (side A, side B): a face output's target is the colour channels then
            the mask channels; a mask output's target ``(2, B, S, S, 1)`` is the face mask.
            A list ``[A, B]`` instead where the two sides' outputs differ in size.

        Raises
        ------
        RuntimeError
            If the feeder is closed.
        """
        if self._closed:
            raise RuntimeError("The Feeder is closed; make a new one to get more batches.")
        if self.workers == 0:
            index = self._next_batch
            self._next_batch += 1
            return self._make_batch(index)
        with self._lock:
            index = self._next_batch
            while index not in self._results and not self._closed:
                self._lock.wait()
            if self._closed:
                raise RuntimeError("The Feeder was closed while waiting for a batch.")
            batch, error = self._results.pop(index)
            self._next_batch += 1
            self._lock.notify_all()
        if error is not None:
            raise error
        return batch

    def generate_preview(self, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Fixed, un-augmented faces of each side for the preview (the same on every call).

        Parameters
        ----------
        count
            Faces per side; fewer when a side has fewer images.

        Returns
        -------
        ``{"a": (feed, faces), "b": (feed, faces)}``: ``feed`` the model input, float32
        ``(n, I, I, 3)``; ``faces`` the face at the size of the side's largest face output,
        colour and face mask, float32 ``(n, S, S, 4)`` (the mask is 1.0 where the data has
        none). Both in the model's colour order, in ``[0, 1]``, the first ``n`` images of the
        side in file order.
        """
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"`count` must be a positive integer. Received: {count!r}")
        preview = {}
        for side_index, side in enumerate(_SIDES):
            faces = self._faces[side].faces[:count]
            if self._color_order == "rgb":
                faces = np.concatenate([faces[..., 2::-1], faces[..., 3:]], axis=-1)
            feed = self._resize_batch(faces[..., :3], self._input_sizes[side_index])
            face_sizes = [out.size for out in self._outputs[side_index] if not out.is_mask]
            size = max(face_sizes) if face_sizes else self._process_size
            full = self._resize_batch(faces[..., :4] if self._layout.face_mask
                                      else faces[..., :3], size)
            full = full.astype("float32") / 255.0
            if not self._layout.face_mask:
                full = np.concatenate([full, np.ones(full.shape[:-1] + (1,), "float32")], -1)
            preview[side] = (feed.astype("float32") / 255.0, full)
        return preview

    def close(self) -> None:
        """Stop the background workers. Safe to call more than once."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()
        logger.debug("Feeder closed")

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- batch production ---------------------------------------------------------------------
    def _start(self) -> None:
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"Feeder-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        """Worker loop: claim the next batch number, make it, hand it over."""
        while True:
            with self._lock:
                while not self._closed and self._next_job - self._next_batch >= self._ahead:
                    self._lock.wait()
                if self._closed:
                    return
                index = self._next_job
                self._next_job += 1
            try:
                result: tuple[Any, BaseException | None] = (self._make_batch(index), None)
            except BaseException as err:  # noqa: BLE001 - re-raised in get_batch
                result = (None, err)
            with self._lock:
                self._results[index] = result
                self._lock.notify_all()

    def _indices(self, side_index: int, batch: int) -> np.ndarray:
        """The images of batch ``batch`` for a side: consecutive draws from shuffled epochs."""
        count = len(self._faces[_SIDES[side_index]].paths)
        positions = np.arange(batch * self.batch_size, (batch + 1) * self.batch_size)
        epochs, offsets = np.divmod(positions, count)
        indices = np.empty_like(positions)
        for epoch in np.unique(epochs):
            indices[epochs == epoch] = self._epoch(side_index, int(epoch), count)[
                offsets[epochs == epoch]]
        return indices

    def _epoch(self, side_index: int, epoch: int, count: int) -> np.ndarray:
        key = (side_index, epoch)
        with self._lock:
            order = self._epochs.get(key)
        if order is None:
            order = np.random.default_rng([self._seed, 2, side_index, epoch]).permutation(count)
            with self._lock:
                self._epochs[key] = order
                for old in [old for old in self._epochs if old[1] < epoch - 1]:
                    del self._epochs[old]
        return order

    @staticmethod
    def _resize_batch(batch: np.ndarray, size: int) -> np.ndarray:
        """Resize every image of a uint8 batch to ``size`` (INTER_AREA), keeping the channels."""
        if batch.shape[1] == size:
            return batch
        out = np.empty((batch.shape[0], size, size, batch.shape[-1]), dtype=batch.dtype)
        for index, image in enumerate(batch):
            out[index] = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA
                                    ).reshape(size, size, -1)
        return out

    def _make_side(self, side_index: int, batch_number: int
                   ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One side's input ``(B, I, I, 3)`` and targets, float32 in [0, 1]."""
        rng = np.random.default_rng([self._seed, 1, batch_number, side_index])
        faces = self._faces[_SIDES[side_index]].faces
        batch = faces[self._indices(side_index, batch_number)]  # a copy (fancy indexing)
        if not self.no_augment_color:
            self._augment.color_adjust(batch, rng)
        self._augment.transform(batch, rng)
        if not self.no_flip:
            self._augment.random_flip(batch, rng)
        if self._color_order == "rgb":
            batch[..., :3] = batch[..., 2::-1].copy()
        targets = []
        for output in self._outputs[side_index]:
            channels = [3] if output.is_mask else self._target_channels
            resized = self._resize_batch(batch, output.size)
            targets.append(resized[..., channels].astype("float32") / 255.0)
        warped = batch[..., :3] if self.no_warp else self._augment.warp(batch, rng)
        feed = self._resize_batch(np.ascontiguousarray(warped), self._input_sizes[side_index])
        return feed.astype("float32") / 255.0, targets

    def _make_batch(self, batch_number: int) -> tuple[np.ndarray | list[np.ndarray],
                                                      list[np.ndarray | list[np.ndarray]]]:
        (feed_a, targets_a), (feed_b, targets_b) = (self._make_side(side, batch_number)
                                                    for side in range(2))
        return _stack(feed_a, feed_b), [_stack(a, b) for a, b in zip(targets_a, targets_b,
                                                                       strict=True)]


def _stack(side_a: np.ndarray, side_b: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """``(2, ...)`` when both sides have the same shape, else the pair as a list."""
    if side_a.shape == side_b.shape:
        return np.stack([side_a, side_b])
    return [side_a, side_b]
