"""The training-data feeder: reads folders of aligned faces and produces augmented batches.

* :class:`FeederOptions`: every option the feeder acts on, as one frozen value (the application
  builds it from the training config: ``plugins.train.training.feeder_options``).
* :class:`Feeder` loads both sides' faces once (cropped at the configured centering, coverage
  and vertical offset, resized to the model's processing size, with the masks the loss needs),
  then produces batches in background threads: ``get_batch()`` returns the model inputs and
  targets as float32 arrays, and ``generate_preview()`` fixed, un-augmented faces for the
  preview.

Two kinds of face folder are read, recognised per side by the first image:

* **Faceswap face sets**: the PNGs Faceswap's extract writes, each carrying its alignment in a
  ``faceswap`` iTXt chunk (:mod:`lib.image`). The training face is cut from the head-centred
  extract at ``centering``/``coverage``/``vertical_offset`` exactly as Faceswap does
  (:class:`lib.align.AlignedFace`); the face mask is the stored mask named by ``mask_type``,
  dilated, thresholded, blurred and re-centred (:class:`lib.align.Mask`); eye and mouth masks
  and warp-to-landmarks use the stored landmarks. Legacy (version 1.0) extracts switch the
  centering to ``legacy`` with a warning, as Faceswap does.
* **The simple format**: square ``.png``/``.jpg``/``.jpeg`` faces taken as aligned at the
  configured centering, the face mask in the alpha channel of a 4-channel PNG, 68-point
  landmarks in an optional ``landmarks.json`` beside the images
  (``{"<file name>": [[x, y], ...]}`` in image pixels).

One size per side (any size up to 4096 px).
"""
from __future__ import annotations

import collections
import dataclasses
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

from lib.align.aligned_face import AlignedFace, training_crop
from lib.align.aligned_mask import Mask, landmark_mask
from lib.align.constants import CENTERINGS
from lib.align.detected_face import DetectedFace
from lib.errors import FaceswapError
from lib.image import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_SIZE,
    MetadataError,
    crop_square,
    get_image_paths,
    header_size,
    read_image,
    read_image_meta,
    resize_square,
)
from lib.training.augmentation import AugmentationOptions, ImageAugmentation

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["IMAGE_EXTENSIONS", "MASK_TYPES", "MAX_IMAGE_SIZE", "Feeder", "FeederOptions",
           "get_image_paths", "read_image", "resize_square"]

logger = logging.getLogger(__name__)

MASK_TYPES = ("none", "bisenet-fp_face", "bisenet-fp_head", "components", "custom_face",
              "custom_head", "extended", "unet-dfl", "vgg-clear", "vgg-obstructed")
"""Faceswap's ``mask_type`` choices."""

_LANDMARKS_FILE = "landmarks.json"
_MAX_LANDMARKS_BYTES = 256 * 1024 * 1024  # about 1.5 kB an image: some 170,000 images
_SIDES = ("a", "b")
_NO_ALPHA = "no alpha channel"
_MATCHES = 10  # warp-to-landmarks: the closest faces of the other side to pick from


@dataclass(frozen=True)
class FeederOptions:
    """Every option the feeder acts on (Faceswap 3's names; ratios, not percentages).

    Attributes
    ----------
    centering
        ``"face"``, ``"head"`` or ``"legacy"``: where the training crop is centred.
    coverage
        Coverage ratio in (0, 1] (``coverage / 100`` of the config).
    vertical_offset
        Vertical offset ratio in [-0.25, 0.25] (``vertical_offset / 100``); positive moves the
        face down in the crop (more forehead, less chin).
    mask_type
        The stored Faceswap mask to train with (one of :data:`MASK_TYPES`). For the simple
        format any value but ``"none"`` means the alpha channel.
    mask_blur_kernel, mask_threshold, mask_dilation
        Gaussian blur kernel (px at the stored mask size, 128 for extract's masks), threshold
        (%) and dilation (% of the mask size; negative erodes) of the face mask.
    mask_channels
        The target channels of the face, eye and mouth masks, ``-1`` where unused (what
        ``Loss.mask_channels()`` gives: penalized mask loss, eye and mouth multipliers > 1).
    learn_mask, penalized_mask_loss
        The loss options that need the face mask.
    warp_to_landmarks
        Warp the inputs towards a similar face of the other side (``-M``) instead of the
        random warp; ignored with ``no_warp``.
    no_flip, no_warp, no_augment_color
        Switch off the random flip (``-P``), the warp (``-W``), the colour augmentation (``-c``).
    augmentation
        The ``trainer.augmentation`` options.
    """

    centering: str = "face"
    coverage: float = 1.0
    vertical_offset: float = 0.0
    mask_type: str = "extended"
    mask_blur_kernel: int = 3
    mask_threshold: int = 4
    mask_dilation: float = 0.0
    mask_channels: tuple[int, int, int] = (3, 4, 5)
    learn_mask: bool = False
    penalized_mask_loss: bool = True
    warp_to_landmarks: bool = False
    no_flip: bool = False
    no_warp: bool = False
    no_augment_color: bool = False
    augmentation: AugmentationOptions = dataclasses.field(default_factory=AugmentationOptions)

    def __post_init__(self) -> None:
        if self.centering not in CENTERINGS:
            raise ValueError(f"`centering` must be one of {list(CENTERINGS)}. Received: "
                             f"{self.centering!r}")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"`coverage` is a ratio in (0, 1]. Received: {self.coverage!r}")
        if not -0.5 <= self.vertical_offset <= 0.5:
            raise ValueError(f"`vertical_offset` is a ratio in [-0.5, 0.5]. Received: "
                             f"{self.vertical_offset!r}")
        if self.mask_type not in MASK_TYPES:
            raise ValueError(f"`mask_type` must be one of {list(MASK_TYPES)}. Received: "
                             f"{self.mask_type!r}")
        if len(self.mask_channels) != 3:
            raise ValueError(f"`mask_channels` must be 3 channel numbers (face, eye, mouth). "
                             f"Received: {self.mask_channels!r}")
        if not isinstance(self.augmentation, AugmentationOptions):
            raise TypeError("`augmentation` must be an AugmentationOptions")

    @property
    def eye_mask(self) -> bool:
        return self.mask_channels[1] != -1

    @property
    def mouth_mask(self) -> bool:
        return self.mask_channels[2] != -1


@dataclass(frozen=True)
class _Layout:
    """How one side's faces are prepared: sizes, crop and which mask channels to store."""

    process_size: int
    options: FeederOptions
    centering: str  # the options' centering, or "legacy" for legacy extracts
    face_mask: bool  # store the face mask (channel 3)

    @property
    def channels(self) -> int:
        return (3 + int(self.face_mask) + int(self.options.eye_mask)
                + int(self.options.mouth_mask))

    @property
    def landmarks_needed(self) -> bool:
        options = self.options
        return options.eye_mask or options.mouth_mask or self.warp_landmarks

    @property
    def warp_landmarks(self) -> bool:
        return self.options.warp_to_landmarks and not self.options.no_warp


def _odd(value: int) -> int:
    return value + 1 if value and value % 2 == 0 else value


def _resize_mask(mask: np.ndarray, size: int, stored_size: int) -> np.ndarray:
    """A mask to ``size``: INTER_CUBIC when the stored mask is smaller, else INTER_AREA."""
    if mask.shape[0] == size:
        return mask.reshape(size, size, 1)
    interpolation = cv2.INTER_CUBIC if stored_size < size else cv2.INTER_AREA
    return cv2.resize(mask, (size, size), interpolation=interpolation).reshape(size, size, 1)


def _simple_mask(alpha: np.ndarray, layout: _Layout, left: int, top: int, side: int
                 ) -> np.ndarray:
    """The simple format's face mask: the alpha channel treated as a stored mask of the image's
    size (dilation in % of it, the blur kernel scaled from 128 px), cropped and resized."""
    options = layout.options
    size = alpha.shape[0]
    mask = alpha
    kernel = int(round(size * abs(options.mask_dilation) / 100))
    if options.mask_dilation and kernel > 0:
        element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        mask = (cv2.dilate if options.mask_dilation > 0 else cv2.erode)(mask, element)
    if options.mask_threshold:
        limit = options.mask_threshold / 100 * 255
        mask = mask.copy()
        mask[mask < limit] = 0
        mask[mask > 255 - limit] = 255
    blur = _odd(int(round(options.mask_blur_kernel * size / 128)))
    if blur > 1:
        mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    return _resize_mask(crop_square(mask, left, top, side), layout.process_size, size)


def _local_masks(points: np.ndarray | None, layout: _Layout) -> list[np.ndarray]:
    out = []
    for used, area in ((layout.options.eye_mask, "eye"), (layout.options.mouth_mask, "mouth")):
        if used:
            out.append(landmark_mask(points, area, layout.process_size))
    return out


def _process_simple(path: str, expected: int, layout: _Layout, landmarks: np.ndarray | None
                    ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Read and prepare one simple-format face: ``(array, landmarks in the crop, "")``, or
    ``(None, None, why it cannot be used)``."""
    face, alpha, why = read_image(path)
    if face is None:
        return None, None, why
    if face.shape[:2] != (expected, expected):
        return None, None, f"decoded as {face.shape[1]}x{face.shape[0]}, header disagrees"
    if layout.face_mask and alpha is None:
        return None, None, _NO_ALPHA
    options, size = layout.options, layout.process_size
    # the image is taken as aligned at the training centering, with no pose offsets
    left, top, side = training_crop(expected, layout.centering, options.coverage,
                                    options.vertical_offset)
    channels = [resize_square(crop_square(face, left, top, side), size)]
    if layout.face_mask:
        channels.append(_simple_mask(alpha, layout, left, top, side))
    points = None
    if landmarks is not None:
        points = (landmarks - np.array([left, top], dtype="float64")) * (size / side)
        channels.extend(_local_masks(points, layout))
    return np.concatenate(channels, axis=-1), points, ""


def _process_faceswap(path: str, expected: int, layout: _Layout, detected: DetectedFace
                      ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Read and prepare one Faceswap-extracted face (its header already parsed)."""
    face, _, why = read_image(path)
    if face is None:
        return None, None, why
    if face.shape[:2] != (expected, expected):
        return None, None, f"decoded as {face.shape[1]}x{face.shape[0]}, header disagrees"
    options, size = layout.options, layout.process_size
    aligned = AlignedFace(detected.landmarks_xy, layout.centering, size, options.coverage,
                          options.vertical_offset, is_legacy=layout.centering == "legacy"
                          and detected.is_legacy)
    channels = [aligned.extract_face(face)]
    if layout.face_mask:
        mask: Mask = detected.mask[options.mask_type]
        retrieved = mask.get_mask(options.mask_dilation, options.mask_threshold,
                                  options.mask_blur_kernel, "gaussian", 1,
                                  sub_crop=(aligned, layout.centering))
        channels.append(_resize_mask(retrieved, size, mask.stored_size))
    points = None
    if layout.landmarks_needed and aligned.kind == "68":
        points = aligned.crop_landmarks(expected)
        channels.extend(_local_masks(points, layout))
    return np.concatenate(channels, axis=-1), points, ""


def _short_list(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _is_points(entry: Any) -> bool:
    return (isinstance(entry, list)
            and all(isinstance(point, list) and len(point) == 2
                    and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                            and -1e30 < value < 1e30  # an int may exceed any float
                            for value in point) for point in entry))


# --- one side's faces ---------------------------------------------------------------------------
class _FaceSet:
    """One side's faces: scanned (headers and metadata) on creation, prepared by :meth:`load`
    into a uint8 ``(N, process, process, channels)`` array."""

    def __init__(self, side: str, paths: list[str], options: FeederOptions,
                 needs: dict[str, str], workers: int) -> None:
        self.side = side
        self.options = options
        folders = sorted({str(Path(path).parent) for path in paths})
        self.where = f"side {side.upper()} ({_short_list(folders, 3)})"
        self._needs = needs
        self._workers = workers
        self._listed = len(paths)
        self._usable = self._check_headers(paths)
        self.kind = "simple"
        self.is_legacy = False
        self._detected: dict[str, DetectedFace] = {}
        if self._usable and self._has_metadata(self._usable[0][0]):
            self.kind = "faceswap"
            self._scan_metadata()
        self.paths: list[str] = []
        self.faces = np.zeros((0, 1, 1, 3), dtype="uint8")
        self.landmarks: np.ndarray | None = None

    @staticmethod
    def _has_metadata(path: str) -> bool:
        try:
            meta = read_image_meta(path)
        except MetadataError:
            return True  # a damaged header: reported with the others by _scan_metadata
        return isinstance(meta.get("itxt"), dict) and "alignments" in meta["itxt"]

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

    # --- Faceswap face sets --------------------------------------------------------------------
    def _scan_metadata(self) -> None:
        """Parse every face's header; check versions and the configured mask type."""
        def work(path: str) -> DetectedFace | str:
            try:
                meta = read_image_meta(path).get("itxt")
                if not isinstance(meta, dict) or "alignments" not in meta:
                    return "no Faceswap metadata"
                return DetectedFace.from_png_meta(meta, os.path.basename(path))
            except MetadataError as err:
                return str(err)

        with ThreadPoolExecutor(max_workers=max(1, self._workers)) as pool:
            results = list(pool.map(work, [path for path, _ in self._usable]))
        bad = {os.path.basename(path): result
               for (path, _), result in zip(self._usable, results, strict=True)
               if isinstance(result, str)}
        if bad:
            missing = [name for name, why in bad.items() if why == "no Faceswap metadata"]
            damaged = [f"{why}" for why in bad.values() if why != "no Faceswap metadata"]
            details = []
            if missing:
                details.append(f"{len(missing)} carry no Faceswap metadata: "
                               f"{_short_list(missing)}")
            if damaged:
                details.append(f"{len(damaged)} have unusable metadata: "
                               + " ".join(damaged[:5]) + (" ..." if len(damaged) > 5 else ""))
            raise FaceswapError(
                f"{self.where} is a Faceswap face set, but {'; '.join(details)}. You can only "
                "train on faces generated by Faceswap's extract process: re-extract these faces "
                "or remove them from the folder.")
        self._detected = {path: result for (path, _), result in zip(self._usable, results,
                                                                      strict=True)}
        legacy = [face.is_legacy for face in self._detected.values()]
        if any(legacy) and not all(legacy):
            raise FaceswapError(
                "Mixing legacy and full head extracted facesets is not supported. The following "
                f"folder contains a mix of extracted face types: {self.where}. "
                f"({sum(legacy)} legacy (alignments version 1.0) and "
                f"{len(legacy) - sum(legacy)} newer faces.)")
        self.is_legacy = bool(legacy) and all(legacy)

    def check_masks(self, face_mask: bool) -> None:
        """Stop when the configured mask type is missing from some faces (Faceswap face sets),
        or landmark data the options need is missing."""
        if self.kind != "faceswap":
            return
        options = self.options
        if face_mask:
            missing = {path: sorted(face.mask) for path, face in self._detected.items()
                       if options.mask_type not in face.mask}
            if missing:
                carried = collections.Counter(name for names in missing.values()
                                              for name in names)
                lines = [f"'{os.path.basename(path)}': "
                         + (", ".join(names) if names else "no masks")
                         for path, names in list(missing.items())[:10]]
                raise FaceswapError(
                    f"You have selected the mask type '{options.mask_type}' but "
                    f"{len(missing)} of the {len(self._detected)} faces of {self.where} do not "
                    "contain it. The faces and the masks they carry: " + "; ".join(lines)
                    + (" ..." if len(missing) > 10 else "") + ". Masks carried by these faces: "
                    + (", ".join(f"{name} ({count})" for name, count in sorted(carried.items()))
                       or "none")
                    + ". Choose a mask_type these faces carry in the [global.loss] section of "
                    f"the training config, or add the mask with Faceswap's mask tool "
                    f"({self._needs['face']}; or {self._needs['face_fix']}).")
        layout_needs = options.eye_mask or options.mouth_mask or (
            options.warp_to_landmarks and not options.no_warp)
        if layout_needs:
            not_68 = [os.path.basename(path) for path, face in self._detected.items()
                      if face.landmarks_xy.shape != (68, 2)]
            if not_68:
                what = ("Eye/Mouth multiplier masks" if options.eye_mask or options.mouth_mask
                        else "Warp-to-landmarks")
                raise FaceswapError(
                    f"{what} need 68 point facial landmarks, but {len(not_68)} face(s) of "
                    f"{self.where} have other landmark data: {_short_list(not_68)}. In the "
                    f"[global.loss] section of the training config {self._needs['landmarks']}, "
                    "and do not use warp-to-landmarks (-M).")

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
            masks = " and ".join(name for name, used in (("eye", self.options.eye_mask),
                                                         ("mouth", self.options.mouth_mask))
                                 if used)
            where = _short_list([str(folder / _LANDMARKS_FILE) for folder in files], 3)
            what = f"{masks} masks" if masks else "warp-to-landmarks (-M)"
            raise FaceswapError(
                f"Training needs {what}, drawn from 68-point landmarks, but {len(missing)} "
                f"image(s) of {self.where} have no entry in {where}: {_short_list(missing)}. "
                f"Add their landmarks to {_LANDMARKS_FILE} beside the images "
                '({"<file name>": [[x, y], ... 68 points]}), or in the [global.loss] section of '
                f"the training config {self._needs['landmarks']}.")
        return found

    def _read_landmarks(self, path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            if path.stat().st_size > _MAX_LANDMARKS_BYTES:
                raise ValueError(f"it is larger than {_MAX_LANDMARKS_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as err:  # JSON, UTF-8, nesting, size
            raise FaceswapError(
                f"The landmarks file '{path}' ({self.where}) cannot be read: {err}. Expected "
                'JSON {"<file name>": [[x, y], ... 68 points]}. Fix or remove the file.') from err
        if not isinstance(data, dict):
            raise FaceswapError(
                f"The landmarks file '{path}' ({self.where}) holds a {type(data).__name__}. "
                'Expected a JSON object {"<file name>": [[x, y], ... 68 points]}. Fix or remove '
                "the file.")
        return data

    # --- loading --------------------------------------------------------------------------------
    def load(self, layout: _Layout, batch_size: int) -> None:
        """Decode and prepare the faces (in threads); skip the bad ones with a warning."""
        self.layout = layout
        usable = self._usable
        if self.kind == "faceswap":
            def work(item: tuple[str, int]) -> tuple[np.ndarray | None, np.ndarray | None, str]:
                return _process_faceswap(item[0], item[1], layout, self._detected[item[0]])
        else:
            landmarks = self._landmarks(usable) if layout.landmarks_needed else {}

            def work(item: tuple[str, int]) -> tuple[np.ndarray | None, np.ndarray | None, str]:
                return _process_simple(item[0], item[1], layout, landmarks.get(item[0]))

        faces = np.empty((len(usable), layout.process_size, layout.process_size,
                          layout.channels), dtype="uint8")
        points = np.zeros((len(usable), 68, 2), dtype="float32")
        with ThreadPoolExecutor(max_workers=max(1, self._workers)) as pool:
            results = list(pool.map(work, usable))
        skipped: dict[str, list[str]] = collections.defaultdict(list)
        no_alpha, kept = [], []
        for (path, _), (face, face_points, reason) in zip(usable, results, strict=True):
            if face is not None:
                faces[len(kept)] = face
                if face_points is not None:
                    points[len(kept)] = face_points
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
        self.paths, self.faces = kept, faces[:len(kept)]
        self.landmarks = points[:len(kept)] if layout.warp_landmarks else None
        self._check_count(batch_size)
        self._detected = {}  # the headers are not needed any more
        logger.debug("Side %s (%s): %s faces of %s px, %s channels", self.side, self.kind,
                     len(self.paths), layout.process_size, layout.channels)

    def _check_count(self, batch_size: int) -> None:
        count, listed = len(self.paths), self._listed
        if count >= batch_size:
            return
        skipped = (f" ({listed - count} of the {listed} listed were skipped, see the warnings)"
                   if listed != count else "")
        raise FaceswapError(
            f"{self.where} has {count} usable training image(s){skipped}, fewer than the batch "
            f"size of {batch_size}. Add more faces or lower the batch size to at most "
            f"{max(count, 1)}.")


# --- the feeder ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Output:
    """One output position of a side: its size and whether it is a learned mask."""

    size: int
    is_mask: bool


class Feeder:
    """Training batches and preview faces for both sides of a model.

    Every face is read once, cut out at the options' centering, coverage and vertical offset
    (Faceswap face sets: from the head-centred extract by the face's stored landmarks and pose,
    as Faceswap does; the simple format: a square of ``2 * rint(size * coverage / 2)`` pixels,
    its centre moved up by ``vertical_offset`` times the core face size of the centering),
    resized to the processing size (the largest input or output of the model) and kept in memory
    as uint8 with the masks the loss needs. Each batch is then drawn from shuffled epochs of
    each side and augmented (:class:`~lib.training.augmentation.ImageAugmentation`): colour,
    rotation/zoom/shift, flip, colour order, targets resized to each output, inputs warped
    (randomly, or to the landmarks of a similar face of the other side) and resized.

    Batches are made by background threads (started here; stop them with :meth:`close` or a
    ``with`` block) into a bounded queue. With a ``seed``, batch ``k`` uses generators seeded
    from ``(seed, k)`` and batches are delivered in order, so the sequence of batches is the
    same whatever the number of workers.

    Parameters
    ----------
    images
        ``{"a": side A images, "b": side B images}``: each a list of image paths, or a folder
        (read with :func:`get_image_paths`).
    model
        The built model plugin: its Keras model's input and output shapes and its
        ``color_order`` are used.
    batch_size
        Faces per side in a batch, a positive integer: checked once where it enters training
        (the trainer's construction, or the command line), not again here.
    options
        The :class:`FeederOptions` (built from the training config by the application).
    seed
        Seed for the order and augmentation of every batch; ``None`` for a random one.
    workers
        Background threads making batches; ``None`` for ``min(4, os.cpu_count())``; ``0`` to
        make each batch in :meth:`get_batch` itself.

    Raises
    ------
    lib.errors.FaceswapError
        For unusable data: a missing folder or one without images, fewer usable images than
        the batch size, masks or landmarks the options need but the data lacks (the message
        names the files, what they carry and what to change), faces of a Faceswap set without
        usable metadata, legacy and newer extracts mixed on one side.

    Notes
    -----
    The face target of an output carries the 3 colour channels then the mask channels in the
    order of ``options.mask_channels`` (face, eye, mouth; only those in use). A 1-channel
    (learned mask) output's target is the face mask. The face mask is needed when
    ``penalized_mask_loss`` or ``learn_mask`` is on or the model has a mask output.

    When either side is a legacy (version 1.0) Faceswap extract, the centering becomes
    ``legacy`` for both sides with a warning, as in Faceswap. Faceswap compat: Faceswap then
    keeps sub-cropping stored masks to the configured centering (spec §9 Q6); we crop them to
    ``legacy`` too, so mask and face agree. Eye/mouth masks and warp-to-landmarks use the
    landmarks mapped into the training crop, not Faceswap's frame-path landmarks (Q1, Q2).

    Faceswap compat: with ``learn_mask`` on and ``penalized_mask_loss`` off, Faceswap's face
    targets still carry the mask as a 4th channel, unused by the loss; ours carry only the
    channels the loss reads. Faceswap stops on a side with images of different sizes; we train
    on the most common size and skip the others with a warning.

    Examples
    --------
    >>> options = FeederOptions(centering="face", coverage=0.875, mask_type="components")
    >>> with Feeder({"a": "faces_a", "b": "faces_b"}, model, 16, options, seed=1) as feeder:
    ...     inputs, targets = feeder.get_batch()
    """

    def __init__(self, images: dict[str, list[str] | str | Path], model: Any, batch_size: int,
                 options: FeederOptions, seed: int | None = None,
                 workers: int | None = None) -> None:
        if not isinstance(options, FeederOptions):
            raise TypeError(f"`options` must be a FeederOptions. Received: "
                            f"{type(options).__name__}")
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
        self.options = options
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
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
            self._faces[side] = _FaceSet(side, paths, options, needs, max(1, self.workers))
        self.centering = self._centering()
        self._layout = _Layout(self._process_size, options, self.centering, self._face_mask)
        for faces in self._faces.values():
            faces.check_masks(self._face_mask)
        for faces in self._faces.values():
            faces.load(self._layout, self.batch_size)
        self._matches = self._closest_matches() if self._layout.warp_landmarks else None
        self._augment = ImageAugmentation(self.batch_size, self._process_size,
                                          options.augmentation)
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
                     "options %s", self.batch_size, self.workers, self._process_size,
                     self._outputs, options)

    # --- set-up ------------------------------------------------------------------------------
    def _read_model(self, model: Any) -> None:
        """Sizes from the model's inputs and outputs."""
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
        options = self.options
        self._has_mask_output = any(out.is_mask for side in self._outputs for out in side)
        self._face_mask = (options.penalized_mask_loss or options.learn_mask
                           or self._has_mask_output)
        # channels of the stored faces that a face target carries
        self._target_channels = [0, 1, 2] + list(range(3, 3 + sum(
            channel != -1 for channel in options.mask_channels)))

    def _mask_needs(self) -> dict[str, str]:
        """Why the masks are needed and what to change: for the error messages."""
        options = self.options
        reasons = [text for used, text in (
            (options.penalized_mask_loss, "penalized_mask_loss is on"),
            (options.learn_mask, "learn_mask is on"),
            (self._has_mask_output and not options.learn_mask, "the model has mask outputs"))
            if used]
        fix = "set penalized_mask_loss and learn_mask to False"
        if self._has_mask_output and not options.learn_mask:
            fix += " (a model with mask outputs always needs the mask)"
        landmark_fix = " and ".join(text for used, text in (
            (options.eye_mask, "set eye_multiplier to 1"),
            (options.mouth_mask, "set mouth_multiplier to 1")) if used)
        landmark_fix = (landmark_fix + " (or penalized_mask_loss to False)" if landmark_fix
                        else "nothing needs changing")
        return {"face": ", ".join(reasons), "face_fix": fix, "landmarks": landmark_fix}

    def _centering(self) -> str:
        """The options' centering, or ``legacy`` (with a warning) for legacy extracts."""
        if self._face_mask and self.options.mask_type == "none" and any(
                faces.kind == "faceswap" for faces in self._faces.values()):
            raise FaceswapError(
                f"Training needs a face mask ({self._needs_text()}) but mask_type is 'none'. "
                "Choose the stored mask to train with (mask_type in the [global.loss] section "
                "of the training config), or set penalized_mask_loss and learn_mask to False.")
        centering = self.options.centering
        legacy = [faces.where for faces in self._faces.values() if faces.is_legacy]
        if legacy and centering != "legacy":
            logger.warning("You are using legacy extracted faces (%s) but have selected '%s' "
                           "centering which is incompatible. Switching centering to 'legacy'",
                           " and ".join(legacy), centering)
            return "legacy"
        return centering

    def _needs_text(self) -> str:
        return self._mask_needs()["face"]

    def _closest_matches(self) -> dict[str, np.ndarray]:
        """Warp-to-landmarks: for each face, the indices of the 10 faces of the other side
        whose landmarks (in the training crop) are closest (mean squared distance)."""
        matches = {}
        for side, other in (("a", "b"), ("b", "a")):
            mine = self._faces[side].landmarks.reshape(-1, 136).astype("float64")
            theirs = self._faces[other].landmarks.reshape(-1, 136).astype("float64")
            count = min(_MATCHES, len(theirs))
            found = np.empty((len(mine), count), dtype="int64")
            for start in range(0, len(mine), 256):
                block = mine[start:start + 256]
                distance = (np.sum(block ** 2, axis=1)[:, None] + np.sum(theirs ** 2, axis=1)
                            - 2 * block @ theirs.T) / 136
                nearest = np.argpartition(distance, count - 1, axis=1)[:, :count]
                order = np.take_along_axis(distance, nearest, axis=1).argsort(axis=1)
                found[start:start + 256] = np.take_along_axis(nearest, order, axis=1)
            matches[side] = found
        return matches

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
        side = _SIDES[side_index]
        indices = self._indices(side_index, batch_number)
        batch = self._faces[side].faces[indices]  # a copy (fancy indexing)
        options = self.options
        if not options.no_augment_color:
            self._augment.color_adjust(batch, rng)
        self._augment.transform(batch, rng)
        if not options.no_flip:
            self._augment.random_flip(batch, rng)
        if self._color_order == "rgb":
            batch[..., :3] = batch[..., 2::-1].copy()
        targets = []
        for output in self._outputs[side_index]:
            channels = [3] if output.is_mask else self._target_channels
            resized = self._resize_batch(batch, output.size)
            targets.append(resized[..., channels].astype("float32") / 255.0)
        if options.no_warp:
            warped = batch[..., :3]
        elif self._matches is not None:
            other = self._faces[_SIDES[1 - side_index]].landmarks
            warped = self._augment.warp_to_landmarks(
                batch, self._faces[side].landmarks[indices],
                other[self._matches[side][indices]], rng)
        else:
            warped = self._augment.warp(batch, rng)
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
