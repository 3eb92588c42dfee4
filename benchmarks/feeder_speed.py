"""Images per second of the training data feeder, by face-set kind, warp, worker count and
source image size.

The feeder (``lib.training.generator.Feeder``) reads the demo faces (drawn at each ``--sizes``
side), crops, augments, warps and batches them for the Original model (64 px in and out) in
background workers, with the training config's defaults (penalized mask loss with the
``extended`` mask, eye and mouth masks). ``--kinds``: ``faceswap`` reads the demo as written, a
Faceswap face set (PNG metadata: re-centred crop, stored mask, landmark masks); ``simple`` reads
the same faces in the simple format (alpha mask, ``landmarks.json``). ``--warps``: ``random``
(the default warp) or ``landmarks`` (warp-to-landmarks, ``-M``). Here a consumer takes batches
as fast as it can, so the figure is the feeder's ceiling; next to it is what the training step
consumes (faces per second of our compiled Original step at the same batch size, measured in a
fresh process by ``benchmarks/train_speed.py``'s ``step`` row, unless ``--no-step``). The
feeder keeps the step fed when its rate is above the step's. ``load s`` is the time to read and
prepare the 2 x 64 faces once (before the first batch); ``peak MiB`` the process's peak
resident memory so far.

Run from the repository root::

    python benchmarks/feeder_speed.py --workers 0 2 4 --sizes 128 256 512 --batch-size 8
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import train_speed


def _model(folder: Path):
    """The Original plugin (MAE loss, as the step row), built once for the feeder's shapes."""
    job = {"variant": "original", "batch": 8}
    model, _ = train_speed._our_model(job, folder, train_speed._MAE)
    return model


def feeder_rate(model, faces: dict[str, str], batch: int, workers: int, batches: int,
                no_warp: bool, warp_to_landmarks: bool = False) -> tuple[float, float]:
    """Faces per second (both sides) the feeder delivers to a consumer that waits for nothing,
    and the seconds it took to read and prepare the faces."""
    from lib.training.generator import Feeder
    from plugins.train.training import feeder_options

    options = feeder_options(model, no_warp=no_warp, warp_to_landmarks=warp_to_landmarks)
    start = time.perf_counter()
    with Feeder(faces, model, batch, options, seed=0, workers=workers) as feeder:
        load = time.perf_counter() - start
        for _ in range(3):  # warm-up: workers started
            feeder.get_batch()
        start = time.perf_counter()
        for _ in range(batches):
            feeder.get_batch()
        elapsed = time.perf_counter() - start
    return 2 * batch * batches / elapsed, load


def simple_copy(folder: Path, target: Path) -> Path:
    """The faces of a Faceswap face set in the simple format: BGRA (alpha = the stored
    ``extended`` mask at the image's geometry) and ``landmarks.json``, no metadata."""
    import cv2
    import numpy as np

    from lib.align.aligned_face import AlignedFace
    from lib.align.detected_face import DetectedFace
    from lib.image import read_image_file

    target.mkdir(parents=True, exist_ok=True)
    landmarks = {}
    for path in sorted(folder.glob("*.png")):
        face, _, meta, _ = read_image_file(path)
        detected = DetectedFace.from_png_meta(meta)
        size = face.shape[0]
        aligned = AlignedFace(detected.landmarks_xy, "head", size)
        mask = detected.mask["extended"].get_mask(sub_crop=(aligned, "head"))
        alpha = cv2.resize(mask, (size, size), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(target / path.name), np.dstack([face, alpha]))
        landmarks[path.name] = aligned.extract_landmarks(size).tolist()
    (target / "landmarks.json").write_text(json.dumps(landmarks))
    return target


def peak_mib() -> float:
    """The process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--no-warp", action="store_true", help="time without the warp")
    parser.add_argument("--kinds", nargs="+", choices=["faceswap", "simple"],
                        default=["faceswap", "simple"], help="the face-set kinds to read")
    parser.add_argument("--warps", nargs="+", choices=["random", "landmarks"],
                        default=["random", "landmarks"], help="the warps to time")
    parser.add_argument("--no-step", action="store_true",
                        help="do not measure the training step for comparison")
    parser.add_argument("--json", type=Path, help="also write the JSON line to this file")
    args = parser.parse_args(argv)

    from faceswap_original.demo_data import generate_demo_data

    step = None
    if not args.no_step:
        row = train_speed.summarise(train_speed.measure(
            {"mode": "step", "variant": "original", "batch": args.batch_size, "repeats": 5,
             "warmup": 2, "workers": None}), None)
        step = row.get("faces_per_s")
        print("training step consumes: " + (f"{step:.1f} faces/s (batch {args.batch_size})"
                                            if step else f"failed {row.get('error')}"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        model = _model(Path(folder))
        print(f"{'kind':>8} {'warp':>9} {'size':>5} {'workers':>7} {'faces/s':>9} "
              f"{'x step':>7} {'load s':>7} {'peak MiB':>9}")
        for size in args.sizes:
            faces_a, faces_b = generate_demo_data(Path(folder) / f"data_{size}", count=64,
                                                  seed=0, size=size)
            sets = {"faceswap": (faces_a, faces_b)}
            if "simple" in args.kinds:
                sets["simple"] = tuple(simple_copy(path, Path(folder) / f"simple_{size}" / side)
                                       for path, side in ((faces_a, "a"), (faces_b, "b")))
            for kind in args.kinds:
                side_a, side_b = sets[kind]
                for warp in args.warps:
                    for workers in args.workers:
                        rate, load = feeder_rate(model, {"a": str(side_a), "b": str(side_b)},
                                                 args.batch_size, workers, args.batches,
                                                 args.no_warp, warp == "landmarks")
                        results.append({"kind": kind, "warp": warp, "size": size,
                                        "workers": workers, "faces_per_s": rate,
                                        "times_step": rate / step if step else None,
                                        "load_s": load, "peak_mib": peak_mib()})
                        print(f"{kind:>8} {warp:>9} {size:5} {workers:7} {rate:9.1f} "
                              + (f"{rate / step:7.1f}" if step else "      -")
                              + f" {load:7.2f} {peak_mib():9.0f}", flush=True)
    train_speed.emit_json({"benchmark": "feeder_speed", "batch_size": args.batch_size,
                           "no_warp": args.no_warp, "cpu_count": os.cpu_count(),
                           "step_faces_per_s": step, "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
