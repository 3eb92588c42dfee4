"""Image augmentation of a training batch: colour, affine transform, flip and random warp.

:class:`ImageAugmentation` works on a uint8 batch ``(batch, size, size, channels)`` whose channels
0-2 are the face (BGR) and any further channels are masks. Every random number comes from a
:class:`numpy.random.Generator`, so a seed reproduces a batch exactly. The options come as an
:class:`AugmentationOptions` value (the application builds it from the ``trainer.augmentation``
section of the training config; nothing here reads a config).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import cv2
import numpy as np

__all__ = ["AugmentationOptions", "ImageAugmentation", "piecewise_affine_maps"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AugmentationOptions:
    """The ``trainer.augmentation`` options (Faceswap 3's names and defaults).

    Attributes
    ----------
    zoom_amount, rotation_range, shift_range
        Random zoom (%), rotation (degrees) and shift (% of the size) of the transform.
    flip_chance
        The chance (%) of a horizontal flip.
    color_lightness, color_ab
        The range (%) of the random L* and a*/b* shifts.
    color_clahe_chance, color_clahe_max_size
        The chance (%) of CLAHE on the lightness and its largest grid-size step.
    """

    zoom_amount: float = 5
    rotation_range: float = 10
    shift_range: float = 5
    flip_chance: float = 50
    color_lightness: float = 30
    color_ab: float = 8
    color_clahe_chance: float = 50
    color_clahe_max_size: int = 4

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not np.isfinite(value) or value < 0:
                raise ValueError(f"`{field.name}` must be a number >= 0. Received: {value!r}")


def _check_batch(batch: Any, size: int, min_channels: int) -> None:
    """Raise if ``batch`` is not a uint8 ``(B, size, size, C)`` array with enough channels."""
    if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8 or batch.ndim != 4:
        raise TypeError("`batch` must be a uint8 NumPy array of shape (batch, size, size, "
                        f"channels). Received: {type(batch).__name__} "
                        f"{getattr(batch, 'dtype', '')} {getattr(batch, 'shape', '')}")
    if batch.shape[1:3] != (size, size) or batch.shape[-1] < min_channels:
        raise ValueError(f"`batch` must be (batch, {size}, {size}, >= {min_channels} channels) "
                         f"for this ImageAugmentation. Received shape: {batch.shape}")


class ImageAugmentation:
    """Faceswap's training-image augmentation.

    Parameters
    ----------
    batch_size
        The number of images in a batch, a positive integer (checked where it enters training,
        not here). It sizes the random draws; batches of another length are accepted too (the
        draws follow the batch).
    processing_size
        The size in pixels of the (square) images the batch holds.
    options
        The augmentation options (:class:`AugmentationOptions`; ``None`` for Faceswap's
        defaults).
    seed
        Seed of the generator used when a method is called without ``rng``. ``None`` seeds it
        from the operating system.

    Notes
    -----
    Each method takes an optional ``rng``
    (a :class:`numpy.random.Generator`); the draws it makes, in order, are documented on the
    method, so a test can replay them.

    Examples
    --------
    >>> augment = ImageAugmentation(4, 64, seed=0)
    >>> batch = np.zeros((4, 64, 64, 4), dtype="uint8")
    >>> batch = augment.color_adjust(batch)
    >>> batch = augment.transform(batch)
    >>> batch = augment.random_flip(batch)
    >>> augment.warp(batch).shape
    (4, 64, 64, 3)
    """

    def __init__(self, batch_size: int, processing_size: int,
                 options: AugmentationOptions | None = None, seed: int | None = None) -> None:
        if (isinstance(processing_size, bool)
                or not isinstance(processing_size, (int, np.integer)) or processing_size < 1):
            raise ValueError("`processing_size` must be a positive integer. Received: "
                             f"{processing_size!r}")
        self.batch_size = int(batch_size)
        self.processing_size = int(processing_size)
        self._rng = np.random.default_rng(seed)
        if options is None:
            options = AugmentationOptions()
        if not isinstance(options, AugmentationOptions):
            raise TypeError(f"`options` must be an AugmentationOptions. Received: "
                            f"{type(options).__name__}")
        self.options = options
        self._config = dataclasses.asdict(options)
        size = self.processing_size
        # colour
        self._lab_adjust = np.array([self._config["color_lightness"] / 100,
                                     self._config["color_ab"] / 100,
                                     self._config["color_ab"] / 100], dtype="float32")
        self._clahe_base = max(2, size // 128)
        # transform
        self._shift = self._config["shift_range"] / 100 * size
        # warp: a 5 x 5 grid of pixel positions; its maps are resized to 1.25 x size and the
        # centre `size` pixels kept.
        grid = np.linspace(0, size, 5, dtype="float32")
        self._warp_grid = np.stack([np.broadcast_to(grid, (5, 5)),
                                    np.broadcast_to(grid[:, None], (5, 5))]).astype("float32")
        self._warp_pad = int(1.25 * size)
        self._warp_start = self._warp_pad // 10
        self._warp_scale = 5 / 256 * size
        logger.debug("ImageAugmentation(batch_size=%s, processing_size=%s): %s",
                     batch_size, processing_size, self._config)

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        if rng is None:
            return self._rng
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"`rng` must be a numpy.random.Generator or None. Received: "
                            f"{type(rng).__name__}")
        return rng

    # --- colour --------------------------------------------------------------------------------
    def color_adjust(self, batch: np.ndarray, rng: np.random.Generator | None = None
                     ) -> np.ndarray:
        """Random L, A and B shifts, then random CLAHE on the lightness, on channels 0-2 (BGR),
        in Faceswap's order.

        The batch goes to L*a*b* (OpenCV's 8-bit scale). Every image and channel gets a shift
        ``u ~ U(-amount, amount)``, ``amount = (color_lightness, color_ab, color_ab) / 100``:
        ``v + (255 - v) * u`` for ``u >= 0``, ``v * (1 + u)`` otherwise, truncated to uint8.
        Then, with probability ``color_clahe_chance / 100``, an image gets CLAHE on L
        (``clipLimit=2.0``, a square grid of ``g * (base // 2) + base`` tiles, ``base = max(2,
        size // 128)``, ``g`` a random integer in ``[0, color_clahe_max_size]``).

        Draws, in order: ``rng.uniform(-amount, amount, size=(B, 3))``, ``rng.random(B)``
        (CLAHE chance), ``rng.integers(0, max + 1, size=n_clahe)`` (only when an image gets
        CLAHE).

        Parameters
        ----------
        batch
            uint8 ``(B, size, size, C)``, ``C >= 3``. Channels 0-2 are changed in place.
        rng
            The generator to draw from (the object's own one when ``None``).

        Returns
        -------
        The same batch, adjusted.

        Faceswap compat: Faceswap skips CLAHE for the whole batch when the only image drawn for
        it is the first one (it tests ``np.any(indices)``); we apply it to every image drawn.
        """
        _check_batch(batch, self.processing_size, 3)
        rng = self._generator(rng)
        count = batch.shape[0]
        lab = np.stack([cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2LAB)
                        for image in batch]) if count else batch[..., :3].copy()
        shifts = rng.uniform(-self._lab_adjust, self._lab_adjust,
                             size=(count, 3)).astype("float32")[:, None, None, :]
        values = lab.astype("float32")
        values = np.where(shifts >= 0, values + (255 - values) * shifts, values * (1 + shifts))
        # Faceswap writes the float result into the uint8 image: truncation, not rounding
        lab = values.astype("uint8")
        indices = np.flatnonzero(rng.random(count) < self._config["color_clahe_chance"] / 100)
        if indices.size:
            grids = (rng.integers(0, self._config["color_clahe_max_size"] + 1,
                                  size=indices.size) * (self._clahe_base // 2) + self._clahe_base)
            for index, grid in zip(indices, grids, strict=True):
                clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(int(grid), int(grid)))
                lab[index, :, :, 0] = clahe.apply(lab[index, :, :, 0])
        for index in range(count):
            batch[index, :, :, :3] = cv2.cvtColor(lab[index], cv2.COLOR_LAB2BGR)
        return batch

    # --- geometry ------------------------------------------------------------------------------
    def transform(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Random rotation, zoom and shift of every channel (image and masks), in place.

        Rotation ``U(-rotation_range, rotation_range)`` degrees and scale
        ``U(1 - zoom_amount / 100, 1 + zoom_amount / 100)`` about ``(size // 2, size // 2)``,
        then a shift ``U(-s, s)`` pixels in x and y, ``s = shift_range / 100 * size``;
        ``cv2.warpAffine`` (bilinear) with ``BORDER_REPLICATE``.

        Draws, in order: ``rng.uniform(-rotation, rotation, B)``, ``rng.uniform(1 - zoom,
        1 + zoom, B)``, ``rng.uniform(-s, s, (B, 2))``.

        Parameters
        ----------
        batch
            uint8 ``(B, size, size, C)``.
        rng
            The generator to draw from (the object's own one when ``None``).

        Returns
        -------
        The same batch, transformed.
        """
        _check_batch(batch, self.processing_size, 1)
        rng = self._generator(rng)
        count, size = batch.shape[0], self.processing_size
        rotation = self._config["rotation_range"]
        zoom = self._config["zoom_amount"] / 100
        angles = rng.uniform(-rotation, rotation, size=count)
        scales = rng.uniform(1 - zoom, 1 + zoom, size=count)
        shifts = rng.uniform(-self._shift, self._shift, size=(count, 2))
        centre = (size // 2, size // 2)
        for index in range(count):
            matrix = cv2.getRotationMatrix2D(centre, float(angles[index]), float(scales[index]))
            matrix[:, 2] += shifts[index]
            warped = cv2.warpAffine(batch[index], matrix, (size, size),
                                    borderMode=cv2.BORDER_REPLICATE)
            batch[index] = warped.reshape(batch.shape[1:])  # cv2 drops a single channel axis
        return batch

    def random_flip(self, batch: np.ndarray, rng: np.random.Generator | None = None
                    ) -> np.ndarray:
        """Flip images (every channel) left-right with probability ``flip_chance / 100``.

        Draws: ``rng.random(B)``; image ``i`` is flipped when its draw is below the chance.

        Parameters
        ----------
        batch
            uint8 ``(B, size, size, C)``, changed in place.
        rng
            The generator to draw from (the object's own one when ``None``).

        Returns
        -------
        The same batch.

        Faceswap compat: Faceswap 2 ignores ``flip_chance`` (always 50 %); we honour it, as
        Faceswap 3 does.
        """
        _check_batch(batch, self.processing_size, 1)
        rng = self._generator(rng)
        indices = np.flatnonzero(rng.random(batch.shape[0]) < self._config["flip_chance"] / 100)
        batch[indices] = batch[indices, :, ::-1]
        return batch

    def warp(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Random warp of channels 0-2 (the model's input; masks are not warped).

        A 5 x 5 grid of pixel positions (``linspace(0, size, 5)`` in x and y) gets Gaussian
        noise (sigma ``5 / 256 * size``); each of its two maps is resized (bilinear) to
        ``int(1.25 * size)`` square and its centre ``size`` pixels kept; ``cv2.remap`` (bilinear,
        black border) samples the image at those positions.

        Draws: ``rng.normal(scale=5 / 256 * size, size=(B, 2, 5, 5))`` (x map, then y map).

        Parameters
        ----------
        batch
            uint8 ``(B, size, size, C)``, ``C >= 3``; not changed.
        rng
            The generator to draw from (the object's own one when ``None``).

        Returns
        -------
        A new uint8 ``(B, size, size, 3)`` array.

        Faceswap compat: Faceswap keeps the map slice ``[pad // 10 : -pad // 10]``, one pixel
        short of ``size`` for some sizes (e.g. 50); we keep exactly ``size`` pixels from
        ``pad // 10`` (the same slice for the usual sizes: 64, 128, 256...).
        """
        _check_batch(batch, self.processing_size, 3)
        rng = self._generator(rng)
        count, size = batch.shape[0], self.processing_size
        noise = rng.normal(scale=self._warp_scale, size=(count, 2, 5, 5)).astype("float32")
        maps = self._warp_grid[None] + noise
        crop = slice(self._warp_start, self._warp_start + size)
        warped = np.empty((count, size, size, 3), dtype="uint8")
        for index in range(count):
            map_x, map_y = (cv2.resize(grid, (self._warp_pad, self._warp_pad))[crop, crop]
                            for grid in maps[index])
            warped[index] = cv2.remap(np.ascontiguousarray(batch[index, :, :, :3]),
                                      map_x, map_y, cv2.INTER_LINEAR)
        return warped

    def warp_to_landmarks(self, batch: np.ndarray, source: np.ndarray, matches: np.ndarray,
                          rng: np.random.Generator | None = None) -> np.ndarray:
        """Warp channels 0-2 of each image towards the landmarks of a similar face.

        For image ``i`` one of ``matches[i]`` (the landmarks of the closest faces of the other
        side) is picked and gets Gaussian noise (sigma ``2 / 256 * size``). Eight edge anchors
        are added to both point sets; jaw points (0-17) inside or on the convex hull of both
        sets' points 17-67 are dropped. The image is then warped piecewise-linearly (a Delaunay
        triangulation of the destination points) so each source point moves to its destination.

        Draws, in order: ``rng.integers(0, n, B)`` (the match), ``rng.normal(scale=2 / 256 *
        size, size=(B, 68, 2))``.

        Parameters
        ----------
        batch
            uint8 ``(B, size, size, C)``, ``C >= 3``; not changed.
        source
            float ``(B, 68, 2)``: each image's landmarks in its pixels.
        matches
            float ``(B, n, 68, 2)``: candidate destination landmarks per image.
        rng
            The generator to draw from (the object's own one when ``None``).

        Returns
        -------
        A new uint8 ``(B, size, size, 3)`` array.

        Faceswap compat: Faceswap applies the displacement field transposed (x and y swapped,
        spec §9 Q5); we apply it as meant. As in Faceswap, the source landmarks are those of the
        un-augmented face (the random transform and flip are not applied to them).
        """
        _check_batch(batch, self.processing_size, 3)
        rng = self._generator(rng)
        count, size = batch.shape[0], self.processing_size
        source = np.asarray(source, dtype="float64")
        matches = np.asarray(matches, dtype="float64")
        if source.shape != (count, 68, 2) or matches.ndim != 4 or matches.shape[0] != count \
                or matches.shape[2:] != (68, 2) or matches.shape[1] < 1:
            raise ValueError(f"`source` must be ({count}, 68, 2) and `matches` ({count}, n, 68, "
                             f"2). Received: {source.shape} and {matches.shape}")
        picks = rng.integers(0, matches.shape[1], size=count)
        noise = rng.normal(scale=2 / 256 * size, size=(count, 68, 2))
        last, half = size - 1, size // 2 - 1
        anchors = np.array([[0, 0], [0, last], [last, last], [last, 0], [half, 0],
                            [half, last], [last, half], [0, half]], dtype="float64")
        warped = np.empty((count, size, size, 3), dtype="uint8")
        for index in range(count):
            src = np.concatenate([source[index], anchors])
            dst = np.concatenate([matches[index, picks[index]] + noise[index], anchors])
            hull = cv2.convexHull(np.concatenate([src[17:68], dst[17:68]]).astype("int32"))
            drop = {point for point in range(18)
                    if cv2.pointPolygonTest(hull, (float(src[point, 0]), float(src[point, 1])),
                                            False) >= 0
                    or cv2.pointPolygonTest(hull, (float(dst[point, 0]), float(dst[point, 1])),
                                            False) >= 0}
            keep = [point for point in range(len(src)) if point not in drop]
            map_x, map_y = piecewise_affine_maps(dst[keep], src[keep], size)
            image = np.ascontiguousarray(batch[index, :, :, :3])
            warped[index] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, dst=image.copy(),
                                      borderMode=cv2.BORDER_TRANSPARENT)
        return warped


def piecewise_affine_maps(destination: np.ndarray, source: np.ndarray, size: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that move ``source`` points to ``destination`` points: for each pixel
    of a ``size`` square, the source position linearly interpolated over a Delaunay
    triangulation of the destination points (identity outside their hull).

    Parameters
    ----------
    destination, source
        ``(n, 2)`` matching points (x, y).

    Returns
    -------
    float32 ``(size, size)`` x and y maps.
    """
    destination = np.asarray(destination, dtype="float64")
    source = np.asarray(source, dtype="float64")
    low = np.floor(destination.min(axis=0)) - 1
    high = np.ceil(destination.max(axis=0)) + 1
    subdiv = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]) + 1,
                           int(high[1] - low[1]) + 1))
    for point in destination:
        subdiv.insert((float(point[0]), float(point[1])))
    triangles = subdiv.getTriangleList().reshape(-1, 3, 2).astype("float64")
    inside = np.all((triangles >= low) & (triangles <= high), axis=(1, 2))
    triangles = triangles[inside]
    labels = np.full((size, size), -1, dtype="int32")
    offsets = triangles[:, :, None] - destination[None, None]
    vertices = np.argmin(np.einsum("tvnc,tvnc->tvn", offsets, offsets), axis=2)  # (T, 3)
    distinct = ((vertices[:, 0] != vertices[:, 1]) & (vertices[:, 1] != vertices[:, 2])
                & (vertices[:, 0] != vertices[:, 2]))
    vertices = vertices[distinct]
    # the affine of each triangle, destination -> source: S = M @ [D; 1] for its 3 vertices
    corners = np.concatenate([destination[vertices], np.ones(vertices.shape + (1,))], axis=-1)
    keep = np.abs(np.linalg.det(corners)) > 1e-9
    vertices, corners = vertices[keep], corners[keep]
    coefficients = np.linalg.solve(corners, source[vertices]).transpose(0, 2, 1)  # (T, 2, 3)
    polygons = np.rint(destination[vertices] * 16).astype("int32")  # 4 fractional bits
    for number, polygon in enumerate(polygons):
        cv2.fillConvexPoly(labels, polygon, number, lineType=cv2.LINE_8, shift=4)
    rows, cols = np.mgrid[:size, :size].astype("float32")
    # pixels outside every triangle keep the identity: an extra identity "triangle" at -1
    table = np.concatenate([coefficients, [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]]).astype(
        "float32")
    chosen = table[labels]  # (size, size, 2, 3); label -1 picks the identity
    map_x = chosen[..., 0, 0] * cols + chosen[..., 0, 1] * rows + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * cols + chosen[..., 1, 1] * rows + chosen[..., 1, 2]
    return map_x, map_y
