"""The ``convert`` command: swap the faces of frames (a folder or a video, with Faceswap's
alignments file) or of a folder of aligned face images, with a trained model.

The mode follows the input: **frames** when ``-i`` is a video, when ``-p/--alignments`` is given
or when the folder holds Faceswap's ``alignments.fsa`` (Faceswap's convert, through
:func:`faceswap_original.convert_frames.convert_frames`); otherwise **aligned faces**, each image
swapped where training cropped it (this project's own mode: Faceswap's convert has none).

``-C/--configfile`` names either ini file: a ``convert.ini`` (sections ``mask.*``, ``color.*``,
``writer.*``, ``scaling.*``) configures the convert plugins, a ``train.ini`` is the training
config the model is loaded with (its ``convert_batchsize``; the model's own centering, coverage
and vertical offset are always the values stored with it). Faceswap 3 hands its one ``-C`` file
to both; here each is read by the part it configures.
"""
from __future__ import annotations

import argparse
import configparser
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
from lib.video import is_video

__all__ = ["convert", "model_swap", "swap_faces"]

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


_CONVERT_SECTIONS = ("color.", "mask.", "scaling.", "writer.")
_MAX_INI_BYTES = 1 << 20


def _config_kind(path: str | None) -> str | None:
    """``"convert"`` or ``"train"``: what the ``-C`` ini file configures (by its sections), or
    ``None`` without one. A missing file is taken as ``convert.ini`` in frames mode (it is
    written with the defaults), as ``train.ini`` otherwise (decided by the caller)."""
    if not path or not Path(path).is_file():
        return None
    file = Path(path)
    if file.stat().st_size > _MAX_INI_BYTES:
        raise FaceswapError(f"The config file '{file}' is larger than 1 MiB: give a train.ini "
                            "or convert.ini written by this program or Faceswap.")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(file.read_text(encoding="utf-8", errors="replace"))
    except configparser.Error as err:
        raise FaceswapError(f"The config file '{file}' cannot be read: {err}") from err
    sections = parser.sections()
    convert = [name for name in sections if name.startswith(_CONVERT_SECTIONS)]
    if convert and len(convert) != len(sections):
        raise FaceswapError(f"The config file '{file}' mixes convert sections ({convert}) with "
                            "training ones: give a convert.ini or a train.ini.")
    return "convert" if convert else "train" if sections else None


def _frames_mode(args: argparse.Namespace) -> bool:
    """Frames (Faceswap's convert) when ``-i`` is a video, ``-p`` is given or the folder holds
    Faceswap's ``alignments.fsa``."""
    from lib.align.alignments import default_alignments_path

    source = Path(args.input_dir)
    if getattr(args, "alignments", None) or is_video(source):
        return True
    return source.is_dir() and default_alignments_path(source).is_file()


def _load_model(args: argparse.Namespace, train_config: str | None):
    """The model plugin built for inference with ``args.swap_model``, and the ``--backend
    onnx`` predict function (``None`` for Keras)."""
    from plugins.plugin_loader import PluginLoader

    name = model_name_in_folder(args.model_dir)
    model_args = argparse.Namespace(**{**vars(args), "configfile": train_config})
    model = PluginLoader.get_model(name)(args.model_dir, model_args, predict=True)
    model.build()
    predict = None
    if getattr(args, "backend", "keras") == "onnx":
        from faceswap_original.export import plugin_swap_graph
        from plugins.train.model._base.export import OnnxSwap
        predict = OnnxSwap(plugin_swap_graph(model))
        logger.info("Swapping through onnxruntime.")
    return model, predict


def model_swap(model, predict: Callable[[np.ndarray], list[np.ndarray]] | None = None
               ) -> dict[str, object]:
    """The :func:`~faceswap_original.convert_frames.convert_frames` arguments that describe a
    model plugin built for inference: its predict function (Keras, or ``predict`` such as
    :class:`~plugins.train.model._base.export.OnnxSwap`, which takes and gives BGR), input and
    output sizes, and the centering, coverage, vertical offset, colour order and learned mask
    stored with the model (the values training used)."""
    from plugins.train import train_config as cfg

    swap = model.model
    if predict is None:
        def predict(feed: np.ndarray):
            return swap.predict(feed, verbose=0)
        color_order = model.color_order
    else:
        color_order = "bgr"
    return {"predict": predict, "input_size": int(swap.inputs[0].shape[1]),
            "output_size": int(swap.outputs[-1].shape[1]), "centering": cfg.centering(),
            "coverage": model.coverage_ratio, "y_offset": cfg.vertical_offset() / 100.0,
            "color_order": color_order, "learn_mask": bool(cfg.Loss.learn_mask()),
            "batch_size": max(1, cfg.convert_batchsize())}


def _convert_frames(args: argparse.Namespace, kind: str | None) -> int:
    """Frames mode: Faceswap's convert of a frames folder or a video."""
    from faceswap_original.convert_frames import (
        convert_frames,
        parse_frame_ranges,
        read_alignments,
    )

    source = Path(args.input_dir)
    if not source.exists():
        raise FaceswapError(f"The input '{source}' does not exist. Give a folder of frames or a "
                            "video file (-i).")
    frame_ranges = parse_frame_ranges(getattr(args, "frame_ranges", None))
    if getattr(args, "keep_unchanged", False) and not frame_ranges:
        logger.info("-k/--keep-unchanged acts only with -fr/--frame-ranges: every frame is "
                    "converted.")
    # The alignments file is checked before the model is loaded: a refused file costs nothing.
    alignments = read_alignments(source, getattr(args, "alignments", None))
    model, predict = _load_model(args, args.configfile if kind == "train" else None)
    summary = convert_frames(
        source, args.output_dir, **model_swap(model, predict), alignments=alignments,
        color_adjustment=args.color_adjustment, mask_type=args.mask_type, writer=args.writer,
        reference_video=getattr(args, "reference_video", None), frame_ranges=frame_ranges,
        keep_unchanged=bool(getattr(args, "keep_unchanged", False)),
        jobs=int(getattr(args, "jobs", 0) or 0), face_scale=float(getattr(args, "face_scale", 0)),
        config_file=args.configfile if kind != "train" else None)
    direction = "B -> A" if getattr(args, "swap_model", False) else "A -> B"
    print(f"Converted {summary.frames} frame(s), {summary.faces} face(s) swapped ({direction}), "
          f"into '{summary.output}'.")
    return 0


def convert(args: argparse.Namespace) -> int:
    """The ``convert`` command."""
    from plugins.train import train_config as cfg

    config = getattr(args, "configfile", None)
    kind = _config_kind(config)
    if _frames_mode(args):
        return _convert_frames(args, kind)
    if kind == "convert":
        raise FaceswapError(f"'{config}' is a convert.ini, which configures the frames mode "
                            "only; -i holds aligned faces (no alignments file).")
    input_dir, output_dir = Path(args.input_dir), Path(args.output_dir)
    paths = [Path(path) for path in get_image_paths(input_dir)]
    if output_dir.resolve() == input_dir.resolve():
        raise FaceswapError("The output folder must differ from the input folder, so the "
                            "input faces are not overwritten.")
    model, predict = _load_model(args, config)
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
