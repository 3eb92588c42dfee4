"""The ``convert`` command: swap every aligned face image in a folder with a trained model."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from faceswap_original.restore import model_name_in_folder
from lib.errors import FaceswapError
from lib.training.generator import get_image_paths, read_image, resize_square
from lib.utils import atomic_replace

__all__ = ["convert", "swap_faces"]

logger = logging.getLogger(__name__)

def _crop_box(size: int, coverage_ratio: float) -> tuple[int, int]:
    """Start and length of the centred training crop of an aligned face of ``size`` pixels."""
    length = int(size * coverage_ratio // 2) * 2
    return (size - length) // 2, length


def swap_faces(model, images: list[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
    """Swap aligned faces with a model plugin built for inference.

    Parameters
    ----------
    model
        The model plugin, built with ``predict=True`` (its model is the swap model).
    images
        Square aligned faces, BGR or BGRA uint8, any size.

    Returns
    -------
    The swapped images, each the size and channels of its input: the centred coverage crop is
    replaced by the model's face, blended through the learned mask when the model has one, else
    through the input's alpha mask when it has one.
    """
    swap = model.model
    size_in = int(swap.inputs[0].shape[1])
    rgb = model.color_order == "rgb"
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        boxes = [_crop_box(image.shape[0], model.coverage_ratio) for image in chunk]
        feed = np.stack([resize_square(image[top:top + length, top:top + length, :3], size_in)
                         for image, (top, length) in zip(chunk, boxes, strict=True)])
        feed = feed.astype("float32") / 255.0
        if rgb:
            feed = feed[..., ::-1]
        outputs = swap.predict(feed, verbose=0)
        outputs = [np.asarray(out) for out in (outputs if isinstance(outputs, list)
                                               else [outputs])]
        faces = [out for out in outputs if out.shape[-1] != 1][-1]
        masks = [out for out in outputs if out.shape[-1] == 1]
        if rgb:
            faces = faces[..., ::-1]
        for index, (image, (top, length)) in enumerate(zip(chunk, boxes, strict=True)):
            face = cv2.resize(faces[index], (length, length), interpolation=cv2.INTER_CUBIC)
            if masks:
                mask = cv2.resize(masks[-1][index, ..., 0], (length, length),
                                  interpolation=cv2.INTER_LINEAR)
            elif image.shape[-1] == 4:
                mask = image[top:top + length, top:top + length, 3].astype("float32") / 255.0
            else:
                mask = np.ones((length, length), dtype="float32")
            mask = np.clip(mask, 0.0, 1.0)[..., None]
            result = image.copy()
            region = result[top:top + length, top:top + length, :3].astype("float32")
            blended = np.clip(face * 255.0, 0, 255) * mask + region * (1.0 - mask)
            result[top:top + length, top:top + length, :3] = np.clip(
                blended + 0.5, 0, 255).astype("uint8")
            results.append(result)
    return results


def _read(path: Path) -> np.ndarray | None:
    """A face image as 8-bit BGR(A), or ``None`` (with a warning) when it cannot be used."""
    face, alpha, why = read_image(path)
    if face is None:
        logger.warning("Skipping '%s': %s.", path, why)
        return None
    if face.shape[0] != face.shape[1]:
        logger.warning("Skipping '%s': %sx%s is not square (aligned faces are).", path,
                       face.shape[1], face.shape[0])
        return None
    return face if alpha is None else np.dstack([face, alpha])


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
    output_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    batch = max(1, cfg.convert_batchsize())
    for start in range(0, len(paths), batch):
        chunk = [(path, image) for path in paths[start:start + batch]
                 if (image := _read(path)) is not None]
        if not chunk:
            continue
        for (path, _), result in zip(chunk, swap_faces(model, [img for _, img in chunk], batch),
                                     strict=True):
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
