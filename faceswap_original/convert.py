"""The ``convert`` command: swap every aligned face image in a folder with a trained model."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from faceswap_original.restore import model_name_in_folder
from lib.align.aligned_face import training_crop
from lib.align.detected_face import DetectedFace
from lib.errors import FaceswapError
from lib.image import MetadataError, crop_square, get_image_paths, read_image_file, resize_square
from lib.utils import atomic_replace

__all__ = ["convert", "swap_faces"]

logger = logging.getLogger(__name__)

def _paste(target: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    """Write ``patch`` into ``target`` at ``(left, top)``, the part inside ``target`` only."""
    height, width = target.shape[:2]
    side = patch.shape[0]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x1 > x0 and y1 > y0:
        target[y0:y1, x0:x1] = patch[y0 - top:y1 - top, x0 - left:x1 - left]


def swap_faces(model, images: list[np.ndarray], batch_size: int = 16,
               boxes: list[tuple[int, int, int]] | None = None,
               predict: Callable[[np.ndarray], list[np.ndarray]] | None = None
               ) -> list[np.ndarray]:
    """Swap aligned faces with a model plugin built for inference.

    Parameters
    ----------
    model
        The model plugin, built with ``predict=True`` (its model is the swap model).
    images
        Square aligned faces, BGR or BGRA uint8, any size.
    boxes
        ``(left, top, side)`` of each image's training crop
        (:func:`lib.align.aligned_face.training_crop`, the crop training used); ``None`` for the
        centred coverage crop without vertical offset.
    predict
        Runs the swap instead of the Keras model: BGR float32 faces in [0, 1] in, ``[face]`` or
        ``[face, mask]`` (BGR) out, e.g. :class:`plugins.train.model._base.export.OnnxSwap`
        (``--backend onnx``). ``None``: the Keras model's ``predict``.

    Returns
    -------
    The swapped images, each the size and channels of its input: the crop is replaced by the
    model's face, blended through the learned mask when the model has one, else through the
    input's alpha mask when it has one. Parts of the crop outside the image are fed as black
    and not written back.
    """
    swap = model.model
    size_in = int(swap.inputs[0].shape[1])
    rgb = model.color_order == "rgb" and predict is None  # predict takes and gives BGR
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        crops = (boxes[start:start + batch_size] if boxes is not None else
                 [training_crop(image.shape[0], "face", model.coverage_ratio)
                  for image in chunk])
        feed = np.stack([resize_square(crop_square(image[..., :3], left, top, side), size_in)
                         for image, (left, top, side) in zip(chunk, crops, strict=True)])
        feed = feed.astype("float32") / 255.0
        if rgb:
            feed = feed[..., ::-1]
        outputs = swap.predict(feed, verbose=0) if predict is None else predict(feed)
        outputs = [np.asarray(out) for out in (outputs if isinstance(outputs, list)
                                               else [outputs])]
        faces = [out for out in outputs if out.shape[-1] != 1][-1]
        masks = [out for out in outputs if out.shape[-1] == 1]
        if rgb:
            faces = faces[..., ::-1]
        for index, (image, (left, top, side)) in enumerate(zip(chunk, crops, strict=True)):
            face = cv2.resize(faces[index], (side, side), interpolation=cv2.INTER_CUBIC)
            if masks:
                mask = cv2.resize(masks[-1][index, ..., 0], (side, side),
                                  interpolation=cv2.INTER_LINEAR)
            elif image.shape[-1] == 4:
                mask = crop_square(image[..., 3], left, top, side).astype("float32") / 255.0
            else:
                mask = np.ones((side, side), dtype="float32")
            mask = np.clip(mask, 0.0, 1.0)[..., None]
            result = image.copy()
            region = crop_square(image[..., :3], left, top, side).astype("float32")
            blended = np.clip(face * 255.0, 0, 255) * mask + region * (1.0 - mask)
            patch = np.clip(blended + 0.5, 0, 255).astype("uint8")
            if image.shape[-1] == 4:
                patch = np.dstack([patch, crop_square(image[..., 3], left, top, side)])
            _paste(result, patch, left, top)
            results.append(result)
    return results


def _read(path: Path, crop: tuple[str, float, float]
          ) -> tuple[np.ndarray, tuple[int, int, int]] | None:
    """A face image as 8-bit BGR(A) and its training crop ``(left, top, side)`` at the model's
    ``crop`` (centering, coverage, vertical offset), or ``None`` (with a warning) when it
    cannot be used. A Faceswap extract is cropped by its metadata, as training crops it."""
    face, alpha, meta, why = read_image_file(path)
    if face is None:
        logger.warning("Skipping '%s': %s.", path, why)
        return None
    if face.shape[0] != face.shape[1]:
        logger.warning("Skipping '%s': %sx%s is not square (aligned faces are).", path,
                       face.shape[1], face.shape[0])
        return None
    landmarks, legacy = None, False
    if meta is not None and "alignments" in meta:
        try:
            detected = DetectedFace.from_png_meta(meta, path.name)
        except MetadataError as err:
            logger.warning("Skipping '%s': %s", path, err)
            return None
        landmarks, legacy = detected.landmarks_xy, detected.is_legacy
    centering, coverage, y_offset = crop
    if legacy:
        centering = "legacy"
    image = face if alpha is None else np.dstack([face, alpha])
    return image, training_crop(face.shape[0], centering, coverage, y_offset, landmarks, legacy)


def convert(args: argparse.Namespace) -> int:
    """The ``convert`` command."""
    from plugins.plugin_loader import PluginLoader
    from plugins.train import train_config as cfg

    input_dir, output_dir = Path(args.input_dir), Path(args.output_dir)
    paths = [Path(path) for path in get_image_paths(input_dir)]
    if output_dir.resolve() == input_dir.resolve():
        raise FaceswapError("The output folder must differ from the input folder, so the "
                            "input faces are not overwritten.")
    name = model_name_in_folder(args.model_dir)
    model = PluginLoader.get_model(name)(args.model_dir, args, predict=True)
    model.build()
    predict = None
    if getattr(args, "backend", "keras") == "onnx":
        from faceswap_original.export import plugin_swap_graph
        from plugins.train.model._base.export import OnnxSwap
        predict = OnnxSwap(plugin_swap_graph(model))
        logger.info("Swapping through onnxruntime.")
    output_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    batch = max(1, cfg.convert_batchsize())
    crop = (cfg.centering(), model.coverage_ratio, cfg.vertical_offset() / 100)
    for start in range(0, len(paths), batch):
        chunk = [(path, *read) for path in paths[start:start + batch]
                 if (read := _read(path, crop)) is not None]
        if not chunk:
            continue
        swapped = swap_faces(model, [image for _, image, _ in chunk], batch,
                             [box for _, _, box in chunk], predict=predict)
        for (path, _, _), result in zip(chunk, swapped, strict=True):
            success, data = cv2.imencode(path.suffix.lower(), result)
            if not success:
                raise FaceswapError(f"Could not encode the swapped face for '{path.name}'.")
            with atomic_replace(output_dir / path.name, suffix=path.suffix) as temp:
                Path(temp).write_bytes(data.tobytes())
            written += 1
    if not written:
        raise FaceswapError(f"None of the {len(paths)} images in '{input_dir}' could be used.")
    direction = "B -> A" if getattr(args, "swap_model", False) else "A -> B"
    print(f"Swapped {written} face(s) ({direction}) into '{output_dir}'.")
    return 0
