"""Images per second of the training data feeder, by worker count and source image size.

The feeder (``lib.training.generator.Feeder``) reads the demo faces (drawn at each ``--sizes``
side), crops, augments, warps and batches them for the Original model (64 px in and out) in
background workers. Here a consumer takes batches as fast as it can, so the figure is the
feeder's ceiling; next to it is what the training step consumes (faces per second of our
compiled Original step at the same batch size, measured in a fresh process by
``benchmarks/train_speed.py``'s ``step`` row, unless ``--no-step``). The feeder keeps the step
fed when its rate is above the step's.

Run from the repository root::

    python benchmarks/feeder_speed.py --workers 0 1 2 4 --sizes 128 256 512 --batch-size 8
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import train_speed  # noqa: E402


def _model(folder: Path):
    """The Original plugin (MAE loss, as the step row), built once for the feeder's shapes."""
    job = {"variant": "original", "batch": 8}
    model, _ = train_speed._our_model(job, folder, train_speed._MAE)  # noqa: SLF001
    return model


def feeder_rate(model, faces: dict[str, str], batch: int, workers: int, batches: int,
                no_warp: bool) -> float:
    """Faces per second (both sides) the feeder delivers to a consumer that waits for nothing."""
    from lib.training.generator import Feeder
    from plugins.train.training import feeder_options

    with Feeder(faces, model, batch, feeder_options(model, no_warp=no_warp), seed=0,
                workers=workers) as feeder:
        for _ in range(3):  # warm-up: workers started, first images decoded
            feeder.get_batch()
        start = time.perf_counter()
        for _ in range(batches):
            feeder.get_batch()
        elapsed = time.perf_counter() - start
    return 2 * batch * batches / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--no-warp", action="store_true", help="time without the random warp")
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
        print(f"{'size':>5} {'workers':>7} {'faces/s':>9} {'x step':>7}")
        for size in args.sizes:
            faces_a, faces_b = generate_demo_data(Path(folder) / f"data_{size}", count=64,
                                                  seed=0, size=size)
            for workers in args.workers:
                rate = feeder_rate(model, {"a": str(faces_a), "b": str(faces_b)},
                                   args.batch_size, workers, args.batches, args.no_warp)
                results.append({"size": size, "workers": workers, "faces_per_s": rate,
                                "times_step": rate / step if step else None})
                print(f"{size:5} {workers:7} {rate:9.1f} "
                      + (f"{rate / step:7.1f}" if step else "      -"), flush=True)
    train_speed.emit_json({"benchmark": "feeder_speed", "batch_size": args.batch_size,
                           "no_warp": args.no_warp, "cpu_count": os.cpu_count(),
                           "step_faces_per_s": step, "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
