"""The ``demo`` command: train the Original model on two built-in synthetic identities, write
the preview, swap a few faces, and swap identity A's face in a short clip (a video and its
alignments file, converted by the ``convert`` command's frames mode; see
:mod:`faceswap_original.demo_clip`)."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from faceswap_original.train import StopRequest, run_training
from lib.model.model_folder import ModelFolder

__all__ = ["DEMO_CONFIG", "FAST_PRECISION", "demo", "demo_config"]

logger = logging.getLogger(__name__)

#: The demo's training options: the highest learning rate the option allows, no augmentation and
#: the loss on the whole face crop, so that learning shows within minutes on a CPU. Written to
#: ``<demo folder>/train.ini`` unless ``-c`` is given, with :data:`FAST_PRECISION` added for the
#: backends it is measured faster on.
#: The optimizer state is saved on exit only (Faceswap's default): it makes each of the demo's
#: interim saves a third of the size (313 MB instead of 939 MB, plus the same again for the
#: backup), time the demo spends training, and a resumed demo still restores the optimizer.
DEMO_CONFIG = {
    "global": {"coverage": 87.5},
    # Faceswap's default loss (SSIM + MSE), on the whole crop: with the penalized mask loss
    # (Faceswap's default) the hair and background outside the face mask are never trained and
    # stay as noisy as they started, which the demo's short training shows everywhere
    # (benchmarks/demo_quality.py at 60 iterations: reconstruction SSIM 0.69 / 0.64 instead of
    # 0.42 / 0.40 with MAE + MSE and the penalized loss; README).
    # (The eye and mouth multipliers need the penalized loss: 1, no extra weight.)
    "global.loss": {"loss_function": "ssim", "loss_function_2": "mse", "loss_weight_2": 100,
                    "penalized_mask_loss": False, "eye_multiplier": 1, "mouth_multiplier": 1},
    "global.optimizer": {"learning_rate": 1e-4, "save_optimizer": "exit"},
    # No zoom, rotation, shift, flip or colour augmentation: the demo's faces already vary in
    # pose, light and background, and without it the model learns the faces sooner
    # (benchmarks/demo_quality.py at 101 iterations: reconstruction SSIM 0.43 instead of 0.35,
    # swaps' identity margin +0.42 instead of +0.21; README).
    "trainer.augmentation": {"zoom_amount": 0, "rotation_range": 0, "shift_range": 0,
                             "flip_chance": 0, "color_lightness": 0, "color_ab": 0,
                             "color_clahe_chance": 0},
}
#: Mixed precision at ``auto`` (bfloat16 where the CPU or GPU has bfloat16 units, float16 on
#: other GPUs, float32 on CPUs without bfloat16 units, where it is slower), per backend where
#: bfloat16 made the Original model's training step faster (benchmarks/train_speed.py,
#: docs/performance.md): TensorFlow and PyTorch. On JAX's CPU backend it was slower, so JAX
#: trains in float32.
FAST_PRECISION = {"tensorflow": {"mixed_precision": True, "mixed_precision_dtype": "auto"},
                  "torch": {"mixed_precision": True, "mixed_precision_dtype": "auto"}}
_BATCH_SIZE = 6
_SAVE_INTERVAL = 25
_FACES = 200
_SWAPPED = 8


def demo_config(backend: str) -> dict[str, dict[str, object]]:
    """The demo's options on ``backend`` (:data:`DEMO_CONFIG` and :data:`FAST_PRECISION`)."""
    config = {section: dict(options) for section, options in DEMO_CONFIG.items()}
    config["global"].update(FAST_PRECISION.get(backend, {}))
    return config


def _write_config(path: Path) -> None:
    import keras

    lines = []
    for section, options in demo_config(keras.backend.backend()).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in options.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


class _TimeLimit:
    """Stop on a signal, or once ``minutes`` have passed (when no iteration count is given)."""

    def __init__(self, stop: StopRequest, minutes: float | None) -> None:
        self._stop = stop
        self._deadline = None if minutes is None else time.monotonic() + 60.0 * minutes

    def __call__(self) -> bool:
        return self._stop() or (self._deadline is not None
                                and time.monotonic() >= self._deadline)


def demo(args: argparse.Namespace) -> int:
    """The ``demo`` command.

    ``args.output_dir`` (``-o``) is the demo's folder: its faces (``data/``), ``train.ini``,
    preview, timelapse, swaps and clip. ``args.model_dir`` (``-m``, as everywhere else: a model
    folder) is where the model is trained, ``<output_dir>/model`` when not given; the other
    commands' ``-m`` take that folder.
    """
    from faceswap_original.convert import convert
    from faceswap_original.demo_data import generate_demo_data

    root = Path(args.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    print(f"Generating the demo faces in '{root / 'data'}'...", flush=True)
    faces_a, faces_b = generate_demo_data(root / "data", count=_FACES, seed=0)
    config_file = Path(args.configfile) if args.configfile else root / "train.ini"
    if not args.configfile and not config_file.exists():
        _write_config(config_file)
    model_dir = Path(args.model_dir) if args.model_dir else root / "model"
    iterations = args.iterations if args.iterations is not None else 10_000_000
    train_args = argparse.Namespace(
        input_a=str(faces_a), input_b=str(faces_b), model_dir=str(model_dir),
        trainer="original", batch_size=_BATCH_SIZE, iterations=iterations,
        save_interval=_SAVE_INTERVAL, snapshot_interval=0, warmup=0, preview_dir=str(root),
        no_logs=False, summary=False, freeze_weights=False, load_weights=None,
        distribution_strategy="default", no_warp=True, no_flip=False, no_augment_color=False,
        seed=0, configfile=str(config_file), loglevel=args.loglevel,
        progress=args.iterations is not None, timelapse_input_a=str(faces_a),
        timelapse_input_b=str(faces_b), timelapse_output=str(root / "timelapse"))
    budget = None if args.iterations is not None else args.minutes
    print(f"Training the Original model in '{model_dir}' "
          + (f"for {iterations} iterations" if budget is None else f"for {budget:g} minutes")
          + " (Ctrl+C stops and saves)...", flush=True)
    with StopRequest() as stop:
        model = run_training(train_args, _TimeLimit(stop, budget), status_every=5)
    swap_in = root / "swap_input"
    swap_in.mkdir(exist_ok=True)
    for path in sorted(faces_a.glob("*.png"))[:_SWAPPED]:
        (swap_in / path.name).write_bytes(path.read_bytes())
    swapped = root / "swapped"
    convert(argparse.Namespace(input_dir=str(swap_in), output_dir=str(swapped),
                               model_dir=str(model_dir), swap_model=False,
                               configfile=str(config_file)))
    from faceswap_original.demo_clip import make_clip

    print("Swapping A -> B in a clip of identity A (video, alignments file, convert)...",
          flush=True)
    clip, sheet = make_clip(root, model_dir, config_file)
    print(f"\nDone after {model.iterations} iterations.\n"
          f"  model:   {model_dir} (the model folder: -m of train, convert, export)\n"
          f"  preview: {ModelFolder(root, model.name).preview_file} (per side: original, "
          "reconstruction, swap)\n"
          f"  timelapse: {root / 'timelapse'} (the same preview at every save)\n"
          f"  swapped: {swapped} (faces of A swapped to B)\n"
          f"  clip:    {clip} (identity A's clip {root / 'clip' / 'clip.mp4'}, swapped to B)\n"
          f"  before/after: {sheet}\n"
          f"Train longer with: faceswap-original train -A {faces_a} -B {faces_b} "
          f"-m {model_dir} -C {config_file} -b {_BATCH_SIZE}")
    return 0
