"""How much the demo's model has learned: reconstruction SSIM against the mean-face baseline, and
an identity score for the A -> B swaps.

Given a demo folder (``faceswap-original demo -o DIR``; or run one first with ``--run N``), the
script reads the first ``--faces`` faces of each identity (``DIR/data/faces_a``, ``faces_b``), cut
to the model's coverage crop exactly as convert's aligned-face mode cuts them (the training crop
from each face's Faceswap metadata, at the centering, coverage and vertical offset stored with
the model), and reports:

* ``recon_ssim``: the mean SSIM of each face's reconstruction (A through decoder A, B through
  decoder B) against its coverage crop;
* ``mean_face_ssim``: the mean SSIM of the set's own mean face (the pixel mean of all the
  identity's coverage crops) against the same crops: what a model that has learned only a
  blurred average scores. The margin ``recon_ssim - mean_face_ssim`` is what training bought;
  ``margin_<side>`` gives it per face: the mean difference, its standard error, the paired t
  statistic and the share of faces whose reconstruction beats the mean face;
* ``recon_ssim_in_mask`` and ``mean_face_ssim_in_mask``: the same two, with each face's SSIM
  map averaged inside its ``extended`` mask (weighted by the mask as training retrieves it for
  the penalized loss: :func:`face_masks`). That is the part of the crop that the default loss
  trains (``penalized_mask_loss``: the background and hair outside the mask do not count, so a
  model trained with it leaves them as they started) and that convert blends into the frame;
* ``identity``: for the A -> B swaps of the A faces, the share classified as B by the nearest
  identity mean, and the mean margin ``(d_A - d_B) / (d_A + d_B)`` (positive: nearer B); and
  ``identity_score``, the balanced share of the model's outputs classified as the identity of
  the decoder that drew them (A -> B swaps and B reconstructions as B, A reconstructions and
  B -> A swaps as A): 0.5 for a model whose output does not depend on the decoder (a blurred
  average for every face, whichever way the classifier leans), 1.0 when each decoder draws
  its own identity.
  Each face is described by its coverage crop at 16 x 16 px in CIE L*a*b* (a blurred,
  pose-tolerant colour layout). The demo's identities differ exactly in what this keeps (skin
  tone, hair and beard colour and extent, eye colour, face outline) and vary in what it blurs
  out (expression, gaze, small pose changes), so the nearest identity mean tells which
  identity a face shows; the same classifier on the real faces and on the reconstructions is
  printed as a check (it should give A for A faces and B for B faces).

SSIM is Wang et al.'s (Gaussian window sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2), on
each BGR channel at the model's output size, averaged.

Run from the repository root::

    python benchmarks/demo_quality.py --demo faceswap_demo
    python benchmarks/demo_quality.py --demo /tmp/q --run 176 --config my_train.ini
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_FEATURE_SIZE = 16


def ssim(first: np.ndarray, second: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean SSIM of two uint8/float images in 0-255 (per channel, then averaged); with
    ``weight`` (``(H, W)`` in [0, 1]), the SSIM map's average weighted by it."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a, b = first.astype("float64"), second.astype("float64")

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
             / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    if weight is None:
        return float(index.mean())
    return float(np.average(index.mean(axis=-1), weights=weight))


def paired_margin(model: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    """How clearly ``model`` beats ``baseline`` on the same faces: the mean per-face difference,
    its standard error (sample standard deviation / sqrt(n)), their ratio (the paired t
    statistic: above 3, a margin this size is very unlikely to be chance on these faces) and
    the share of faces on which the model is better."""
    difference = np.asarray(model, "float64") - np.asarray(baseline, "float64")
    error = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 \
        else float("nan")
    mean = float(difference.mean())
    return {"mean": mean, "standard_error": error,
            "t": mean / error if error > 0 else float("inf"),
            "share_better": float((difference > 0).mean())}


def feature(face: np.ndarray) -> np.ndarray:
    """The identity descriptor: the face at 16 x 16 px in L*a*b*, flattened."""
    small = cv2.resize(np.clip(face, 0, 255).astype("uint8"), (_FEATURE_SIZE, _FEATURE_SIZE),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype("float64").ravel()


def coverage_crops(folder: Path, crop: tuple[str, float, float], size: int,
                   count: int | None = None) -> np.ndarray:
    """The faces of ``folder`` (name order) cut to the training crop, at ``size`` px, BGR
    float32 0-255."""
    from faceswap_original.convert import _read
    from lib.image import crop_square, resize_square

    faces = []
    for path in sorted(folder.glob("*.png"))[:count]:
        read = _read(path, crop)
        if read is None:
            continue
        image, (left, top, side) = read
        faces.append(resize_square(crop_square(image[..., :3], left, top, side), size))
    return np.stack(faces).astype("float32")


def face_masks(folder: Path, crop: tuple[str, float, float], size: int,
               count: int | None = None) -> np.ndarray:
    """The ``extended`` mask of each face of ``folder`` (name order) in its coverage crop, at
    ``size`` px, in [0, 1]: the stored mask as training retrieves it for the penalized loss
    (train.ini defaults: threshold 4 %, blur 3 px)."""
    from lib.align.aligned_face import AlignedFace
    from lib.align.detected_face import DetectedFace
    from lib.image import read_image_file

    centering, coverage, y_offset = crop
    masks = []
    for path in sorted(folder.glob("*.png"))[:count]:
        _, _, meta, _ = read_image_file(path)
        detected = DetectedFace.from_png_meta(meta, path.name)
        aligned = AlignedFace(detected.landmarks_xy, centering, size, coverage, y_offset)
        mask = detected.mask["extended"].get_mask(0.0, 4, 3, "gaussian", 1,
                                                  sub_crop=(aligned, centering))
        interpolation = cv2.INTER_CUBIC if mask.shape[0] < size else cv2.INTER_AREA
        masks.append(cv2.resize(mask, (size, size), interpolation=interpolation) / 255.0)
    return np.clip(np.stack(masks), 0.0, 1.0)


def _swap_model(model_dir: Path, config: Path | None, swap_model: bool):
    from faceswap_original.convert import _load_model

    args = argparse.Namespace(model_dir=str(model_dir), swap_model=swap_model,
                              backend="keras", configfile=None)
    model, _ = _load_model(args, str(config) if config else None)
    return model


def _predict(model, faces: np.ndarray) -> np.ndarray:
    outputs = model.model.predict(faces / 255.0, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    face = [out for out in outputs if out.shape[-1] != 1][-1]
    return np.clip(np.asarray(face) * 255.0, 0, 255)


def measure(demo: Path, count: int = 32) -> dict[str, object]:
    """The figures of the module docstring for the demo folder ``demo``."""
    from plugins.train import train_config as cfg

    config = demo / "train.ini"
    config = config if config.is_file() else None
    to_b = _swap_model(demo / "model", config, swap_model=False)  # decoder B
    crop = (cfg.centering(), to_b.coverage_ratio, cfg.vertical_offset() / 100.0)
    size_in = int(to_b.model.inputs[0].shape[1])
    size_out = int(to_b.model.outputs[-1].shape[1])
    data = demo / "data"
    sides = {side: coverage_crops(data / f"faces_{side}", crop, size_in, count)
             for side in "ab"}
    every = {side: coverage_crops(data / f"faces_{side}", crop, size_out) for side in "ab"}
    targets = {side: (faces if size_in == size_out else
                      np.stack([cv2.resize(face, (size_out, size_out),
                                           interpolation=cv2.INTER_AREA) for face in faces]))
               for side, faces in sides.items()}
    swap_ab = _predict(to_b, sides["a"])
    recon_b = _predict(to_b, sides["b"])
    del to_b
    cfg.reset_config()
    to_a = _swap_model(demo / "model", config, swap_model=True)  # decoder A
    recon_a = _predict(to_a, sides["a"])
    swap_ba = _predict(to_a, sides["b"])
    iterations = to_a.iterations

    means = {side: faces.mean(axis=0) for side, faces in every.items()}
    centres = {side: np.mean([feature(face) for face in faces], axis=0)
               for side, faces in every.items()}

    def nearest(faces: np.ndarray) -> dict[str, float]:
        d_a = np.array([np.linalg.norm(feature(face) - centres["a"]) for face in faces])
        d_b = np.array([np.linalg.norm(feature(face) - centres["b"]) for face in faces])
        return {"share_b": float((d_b < d_a).mean()),
                "margin_b": float(((d_a - d_b) / (d_a + d_b)).mean())}

    result: dict[str, object] = {"iterations": iterations, "faces": len(sides["a"])}
    for side, recon in (("a", recon_a), ("b", recon_b)):
        target = targets[side]
        masks = face_masks(data / f"faces_{side}", crop, size_out, count)
        for suffix, weights in (("", [None] * len(target)), ("_in_mask", masks)):
            model = np.array([ssim(r, t, m) for r, t, m in zip(recon, target, weights,
                                                                strict=True)])
            baseline = np.array([ssim(means[side], t, m) for t, m in zip(target, weights,
                                                                        strict=True)])
            result[f"recon_ssim{suffix}_{side}"] = float(model.mean())
            result[f"mean_face_ssim{suffix}_{side}"] = float(baseline.mean())
            result[f"margin{suffix}_{side}"] = paired_margin(model, baseline)
    result["identity_swap_a_to_b"] = nearest(swap_ab)
    result["identity_swap_b_to_a"] = nearest(swap_ba)
    result["check_real_a"] = nearest(targets["a"])
    result["check_real_b"] = nearest(targets["b"])
    result["check_recon_a"] = nearest(recon_a)
    result["check_recon_b"] = nearest(recon_b)
    # Balanced over both decoders: a model whose output does not depend on the decoder (one
    # blurred face for everything) scores 0.5 however the classifier leans.
    result["identity_score"] = float(np.mean([
        result["identity_swap_a_to_b"]["share_b"], 1.0 - result["check_recon_a"]["share_b"],
        result["check_recon_b"]["share_b"], 1.0 - result["identity_swap_b_to_a"]["share_b"]]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--demo", required=True, help="The demo folder (demo -o DIR).")
    parser.add_argument("--run", type=int, default=None, metavar="ITERATIONS",
                        help="First run the demo for this many iterations into --demo.")
    parser.add_argument("--config", default=None,
                        help="With --run: the train.ini to give the demo (-C).")
    parser.add_argument("--faces", type=int, default=32, help="Faces per identity (32).")
    args = parser.parse_args()
    demo = Path(args.demo)
    if args.run is not None:
        command = [sys.executable, "-m", "faceswap_original", "demo", "-o", str(demo), "-it",
                   str(args.run)]
        if args.config:
            command += ["-C", args.config]
        subprocess.run(command, check=True)
    result = measure(demo, args.faces)
    for side in "ab":
        for suffix, where in (("", ""), ("_in_mask", " inside the face mask")):
            recon, mean = (result[f"recon_ssim{suffix}_{side}"],
                           result[f"mean_face_ssim{suffix}_{side}"])
            margin = result[f"margin{suffix}_{side}"]
            print(f"{side.upper()}{where}: reconstruction SSIM {recon:.3f}, mean-face SSIM "
                  f"{mean:.3f}, margin {margin['mean']:+.3f} +- {margin['standard_error']:.3f} "
                  f"(t {margin['t']:.1f}; better on {margin['share_better']:.0%} of the faces)")
    swap = result["identity_swap_a_to_b"]
    recon = result["check_recon_a"]
    print(f"A -> B swaps classified as B: {swap['share_b']:.0%} (margin {swap['margin_b']:+.3f});"
          f" A reconstructions classified as A: {1 - recon['share_b']:.0%}; identity score "
          f"{result['identity_score']:.2f} (0.5: the decoders draw the same face)")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
