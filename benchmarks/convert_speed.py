"""Frame-convert speed on 720p frames with one face each, against the bare batched prediction of
the same faces, in one run.

The swap model is the Original plugin (64 px in and out, random weights: speed does not depend
on the weights) cut to its inference graph, called with ``predict_on_batch``. The frames are
1280 x 720 with one face (the spec's synthetic landmarks, moving and turning from frame to
frame) and the ``extended`` mask that extract stores.

Rows (each the median of ``--repeats`` timed passes over all frames, after a warm-up pass; the
rows take turns, one pass each per round, so a change in the machine's load reaches them all):

* ``predict``: the model alone on the already-cropped faces, in batches of ``--batch`` faces;
* ``pipeline``: :class:`plugins.convert.frame_convert.FrameConverter` on the frames given each
  face's matrices and mask (crop, the same prediction, mask blend, ``avg-color``, warp back,
  composite), as ``convert`` runs it after reading a frame (patching the frame's own array:
  each pass patches the same frames again, at the same cost);
* ``pipeline_aligned``: the same plus building those from the alignments-file face
  (:func:`~plugins.convert.frame_convert.faces_from_alignments`: umeyama, pose, stored mask
  retrieval);
* ``patch_only``: the pipeline's work beyond prediction (``pipeline`` with a predict function
  that returns a constant), to show where the time goes.

Reported: ms per frame (median, min, max), frames per second, the overhead of each pipeline
row beyond ``predict`` (the median over the rounds of ``row / predict - 1`` within a round, and
the same of the minima), and the peak resident memory. Reading and writing
frames is not timed (disk and codec bound, and the same for any pipeline).

Run from the repository root (keep it short on a shared machine)::

    python benchmarks/convert_speed.py --frames 32 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def _landmarks(centre: tuple[float, float], scale: float, degrees: float) -> np.ndarray:
    """The spec's §3.8 synthetic face (jaw on an ellipse, points 17-67 on the mean face)."""
    from lib.align.constants import MEAN_FACE
    theta = np.pi - np.arange(17) * np.pi / 16
    jaw = np.stack([0.5 + 0.55 * np.cos(theta), 0.3 + 0.8 * np.sin(theta)], axis=-1)
    points = np.concatenate([jaw, MEAN_FACE["68"]])
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (scale * (points - 0.5) @ rotation.T + np.array(centre)).astype("float32")


def _frames(count: int) -> tuple[list[np.ndarray], list[dict]]:
    """720p frames (a smooth scene plus noise) and one alignments-file face dict each."""
    from lib.align.aligned_mask import stored_landmark_mask
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:720, :1280].astype("float32")
    base = np.stack([xx / 6, yy / 4, (xx + yy) / 8], axis=-1)
    frames, faces = [], []
    for index in range(count):
        noise = rng.integers(0, 24, (720, 1280, 3), dtype=np.uint8)
        frames.append((base % 232).astype("uint8") + noise)
        landmarks = _landmarks((500 + 8 * index, 360 + 3 * index), 180 + index, 2.0 * index)
        faces.append({"landmarks_xy": landmarks,
                      "mask": {"extended": stored_landmark_mask(landmarks,
                                                                "extended").to_dict()}})
    return frames, faces


def _swap_model(folder: Path):
    """The Original plugin's inference model (random weights)."""
    from plugins.plugin_loader import PluginLoader
    from plugins.train.model._base.inference import Inference
    config = folder / "train.ini"
    config.write_text("", encoding="utf-8")
    plugin = PluginLoader.get_model("original", disable_logging=True)(
        folder / "model", argparse.Namespace(configfile=str(config)))
    plugin.build()
    return Inference(plugin.model).model


def _time(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Each function's pass times, in rounds: one pass of each function per round, after a
    warm-up pass of each (graph tracing, caches)."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="faces per prediction")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="-j/--jobs of the pipeline")
    args = parser.parse_args()

    import keras

    from plugins.convert.frame_convert import ConvertFrame, FrameConverter, faces_from_alignments
    from plugins.convert.mask.mask_blend import MaskBlend

    with tempfile.TemporaryDirectory() as folder:
        swap = _swap_model(Path(folder))
    size = int(swap.inputs[0].shape[1])
    frames, entries = _frames(args.frames)
    blend = MaskBlend("extended", size)

    def aligned() -> list[list]:
        return [faces_from_alignments([entry], centering="face", coverage=1.0, input_size=size,
                                      output_size=size, mask_blend=blend)
                for entry in entries]

    faces = aligned()
    converter = FrameConverter(swap.predict_on_batch, size, size, mask_blend=blend,
                               color_adjustment="avg-color", batch_size=args.batch,
                               jobs=args.jobs, in_place=True)  # as convert runs it
    feeds = np.stack([converter._feed_face(frame, face[0])  # the same crops
                      for frame, face in zip(frames, faces, strict=True)])
    constant = np.full((args.batch, size, size, 3), 0.5, "float32")

    def predict_only() -> None:
        for start in range(0, len(feeds), args.batch):
            np.asarray(swap.predict_on_batch(feeds[start:start + args.batch]))

    def pipeline() -> None:
        for _ in converter.convert(ConvertFrame(str(index), frame, face) for index, (frame, face)
                                   in enumerate(zip(frames, faces, strict=True))):
            pass

    def pipeline_aligned() -> None:
        for _ in converter.convert(ConvertFrame(str(index), frame, face) for index, (frame, face)
                                   in enumerate(zip(frames, aligned(), strict=True))):
            pass

    patcher = FrameConverter(lambda batch: constant[:len(batch)], size, size, mask_blend=blend,
                             color_adjustment="avg-color", batch_size=args.batch,
                             jobs=args.jobs, in_place=True)

    def patch_only() -> None:
        for _ in patcher.convert(ConvertFrame(str(index), frame, face) for index, (frame, face)
                                 in enumerate(zip(frames, faces, strict=True))):
            pass

    times = _time({"predict": predict_only, "pipeline": pipeline,
                   "pipeline_aligned": pipeline_aligned, "patch_only": patch_only}, args.repeats)
    rows = {}
    for name, passes in times.items():
        per_frame = statistics.median(passes) / args.frames
        rows[name] = {"ms_per_frame": round(per_frame * 1000, 2),
                      "frames_per_s": round(1 / per_frame, 1),
                      "min_ms": round(min(passes) / args.frames * 1000, 2),
                      "max_ms": round(max(passes) / args.frames * 1000, 2)}
    for name in ("pipeline", "pipeline_aligned"):
        rounds = [row / base - 1 for row, base in zip(times[name], times["predict"], strict=True)]
        rows[name]["overhead_vs_predict"] = round(statistics.median(rounds), 3)
        rows[name]["overhead_of_min"] = round(min(times[name]) / min(times["predict"]) - 1, 3)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backend {keras.backend.backend()}, {args.frames} frames 1280x720, one face each, "
          f"model input/output {size} px, batch {args.batch}, jobs {args.jobs}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'row':<18}{'ms/frame':>10}{'frames/s':>10}{'min':>8}{'max':>8}{'overhead':>10}"
          f"{'(of min)':>10}")
    for name, row in rows.items():
        overhead, of_min = row.get("overhead_vs_predict"), row.get("overhead_of_min")
        print(f"{name:<18}{row['ms_per_frame']:>10}{row['frames_per_s']:>10}{row['min_ms']:>8}"
              f"{row['max_ms']:>8}{'' if overhead is None else f'{overhead:+.0%}':>10}"
              f"{'' if of_min is None else f'{of_min:+.0%}':>10}")
    print(f"peak resident memory {peak_mib:.0f} MiB")
    print(json.dumps({"rows": rows, "frames": args.frames, "batch": args.batch,
                      "jobs": args.jobs, "peak_rss_mib": round(peak_mib),
                      "backend": keras.backend.backend()}))


if __name__ == "__main__":
    main()
