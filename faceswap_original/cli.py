"""The ``faceswap-original`` command line: train, convert, export, restore, plugins, demo.

Option names and meanings follow Faceswap 3 where Faceswap 3 has the option (a Faceswap 3
command line means the same here); Faceswap 2's multi-letter short forms that Faceswap 3 dropped
(``-bs``, ``-it``, ``-ss``, ``-tia`` ...) still work as hidden aliases, as in Faceswap 3. Options
of our own have long names that do not clash. A :class:`~lib.errors.FaceswapError` is printed as
one message (no traceback unless ``-L DEBUG``) and the exit status is 1.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from lib.errors import FaceswapError
from lib.logger import TRACE, VERBOSE

__all__ = ["build_parser", "main"]

logger = logging.getLogger("faceswap_original")

_LOG_LEVELS = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "VERBOSE": VERBOSE, "INFO": logging.INFO,
               "WARNING": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}


def _bounded_int(low: int, high: int | None = None):
    """An argparse type: an integer in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < low or (high is not None and value > high):
            allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: allowed {allowed}")
        return value
    return parse


def _batch_size(text: str) -> int:
    """An argparse type: a batch size, checked by the trainer's one check
    (:func:`plugins.train.trainer._base.check_batch_size`)."""
    from plugins.train.trainer._base import BatchSizeError, check_batch_size

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    try:
        return check_batch_size(value)
    except BatchSizeError as err:  # led as the other numeric options' refusals
        raise argparse.ArgumentTypeError(f"{value} is out of range: {err}") from None


def _add_exclude_gpus(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-X", "--exclude-gpus", dest="exclude_gpus", type=_bounded_int(0),
                        nargs="+", default=None, metavar="INDEX",
                        help="Indices of GPUs to hide (0 is the first visible GPU), on every "
                             "backend.")


def _add_alias(parser: argparse.ArgumentParser, alias: str, dest: str, **kwargs) -> None:
    """A hidden alias (not in ``--help``) of the option that stores to ``dest``."""
    parser.add_argument(alias, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        **kwargs)


def _add_common(parser: argparse.ArgumentParser, short_config_alias: bool = True) -> None:
    """Faceswap 3's global options: ``-C/--configfile``, ``-L/--loglevel``, ``-F/--logfile``.

    ``-c`` (our earlier short form of the config file) stays a hidden alias of ``-C`` unless
    ``short_config_alias`` is False: in ``train`` and ``convert`` Faceswap 3 gives ``-c``
    another meaning, which wins.
    """
    parser.add_argument("-C", "--configfile", dest="configfile", default=None,
                        help="The training config (train.ini) to use instead of the default "
                             "one.")
    _add_alias(parser, "--config-file", "configfile")  # our earlier spelling
    if short_config_alias:
        _add_alias(parser, "-c", "configfile")
    parser.add_argument("-L", "--loglevel", type=str.upper, default="INFO",
                        choices=list(_LOG_LEVELS),
                        help="Log level. DEBUG also shows the traceback of errors.")
    parser.add_argument("-F", "--logfile", dest="logfile", default=None,
                        help="Also write the log to this file (appended to).")
    _add_alias(parser, "-LF", "logfile")  # Faceswap 2


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="Train a model on two folders of aligned face images.",
        description="Train a model to swap the faces in folder A with those in folder B. Ctrl+C "
                    "(or SIGTERM) finishes the current step, saves and exits.")
    parser.add_argument("-A", "--input-A", dest="input_a", required=True,
                        help="Folder of aligned face images of side A (the original faces).")
    parser.add_argument("-B", "--input-B", dest="input_b", required=True,
                        help="Folder of aligned face images of side B (the swap faces).")
    parser.add_argument("-m", "--model-dir", dest="model_dir", required=True,
                        help="Folder to save the model in (resumed when it holds one).")
    parser.add_argument("-t", "--trainer", default="original",
                        help="The model plugin to train (see `faceswap-original plugins`).")
    parser.add_argument("-u", "--summary", action="store_true",
                        help="Print the model's summary and exit.")
    parser.add_argument("-f", "--freeze-weights", dest="freeze_weights", action="store_true",
                        help="Freeze the plugin's freeze_layers (the encoder by default).")
    parser.add_argument("-l", "--load-weights", dest="load_weights", default=None,
                        help="A .keras model file to copy the load_layers' weights from, for a "
                             "new model.")
    parser.add_argument("-b", "--batch-size", dest="batch_size", type=_batch_size,
                        default=16, help="Faces per side in a batch (1-256).")
    parser.add_argument("-i", "--iterations", type=_bounded_int(1, 100_000_000),
                        default=1_000_000, help="Iterations to train for in this session.")
    parser.add_argument("-a", "--warmup", type=_bounded_int(0), default=0,
                        help="Ramp the learning rate up linearly from 0 over the first N "
                             "iterations (0: no warm-up).")
    parser.add_argument("-d", "--distributed", dest="distribution_strategy",
                        action="store_const", const="mirrored", default="default",
                        help="Train on all visible GPUs, each batch split between them (the "
                             "same as -D mirrored).")
    parser.add_argument("-D", "--distribution-strategy", dest="distribution_strategy",
                        default=argparse.SUPPRESS,
                        choices=["default", "mirrored", "central-storage"],
                        help="How to train on several devices: 'mirrored' copies the model "
                             "to every GPU (TensorFlow MirroredStrategy, JAX DataParallel) and "
                             "splits each batch between them; 'central-storage' (TensorFlow) "
                             "keeps the weights on the CPU (default: 'default').")
    parser.add_argument("-n", "--no-logs", dest="no_logs", action="store_true",
                        help="Do not write TensorBoard logs.")
    parser.add_argument("-r", "--use-lr-finder", dest="use_lr_finder", action="store_true",
                        help="Before the first training session of a new model, find the "
                             "learning rate with the learning-rate finder (lr_finder_* options "
                             "of the training config); a model that found one trains at it.")
    parser.add_argument("-s", "--save-interval", dest="save_interval",
                        type=_bounded_int(1), default=250, help="Save every N iterations.")
    parser.add_argument("-I", "--snapshot-interval", dest="snapshot_interval",
                        type=_bounded_int(0), default=25_000,
                        help="Snapshot the model folder every N iterations (0: never).")
    parser.add_argument("-x", "--timelapse-input-A", dest="timelapse_input_a", default=None,
                        help="Folder of side A faces for a timelapse: at every save, a preview "
                             "of these same faces is added to the timelapse folder.")
    parser.add_argument("-y", "--timelapse-input-B", dest="timelapse_input_b", default=None,
                        help="Folder of side B faces for the timelapse (needed with -x).")
    parser.add_argument("-z", "--timelapse-output", dest="timelapse_output", default=None,
                        help="Folder for the timelapse images (default: <model dir>/timelapse).")
    parser.add_argument("-p", "--preview", dest="preview", action="store_true",
                        help="Faceswap shows the preview in a window; this program has no "
                             "window and writes the preview image at every save instead (see "
                             "-w and --preview-dir).")
    parser.add_argument("-w", "--write-image", dest="write_image", action="store_true",
                        help="Write the preview image as training_preview.png in the current "
                             "folder (Faceswap writes it beside faceswap.py) instead of "
                             "<model dir>/<plugin>_preview.png.")
    parser.add_argument("--preview-dir", dest="preview_dir", default=None,
                        help="Folder for the preview image <plugin>_preview.png (default: the "
                             "model folder).")
    parser.add_argument("-M", "--warp-to-landmarks", dest="warp_to_landmarks",
                        action="store_true",
                        help="Warp each face towards the landmarks of a similar face of the "
                             "other side instead of a random warp (the 'dfaker' way).")
    parser.add_argument("-P", "--no-flip", dest="no_flip", action="store_true",
                        help="Do not flip faces at random.")
    parser.add_argument("-c", "--no-augment-color", dest="no_augment_color",
                        action="store_true", help="Do not augment the colours.")
    parser.add_argument("-W", "--no-warp", dest="no_warp", action="store_true",
                        help="Do not warp the input faces.")
    parser.add_argument("--coordinator-address", dest="coordinator_address", default=None,
                        help="Train in several processes (machines), JAX backend: host:port of "
                             "process 0, the same for every process (default: "
                             "$FACESWAP_COORDINATOR_ADDRESS).")
    parser.add_argument("--num-processes", dest="num_processes", type=_bounded_int(1),
                        default=None,
                        help="The number of processes training together (default: "
                             "$FACESWAP_NUM_PROCESSES, else 1).")
    parser.add_argument("--process-id", dest="process_id", type=_bounded_int(0), default=None,
                        help="This process's id, 0 to --num-processes - 1; process 0 is the "
                             "coordinator (default: $FACESWAP_PROCESS_ID, else 0).")
    # Faceswap 2's short forms that Faceswap 3 keeps as hidden deprecated aliases.
    _add_alias(parser, "-su", "summary", action="store_true")
    _add_alias(parser, "-bs", "batch_size", type=_batch_size)
    _add_alias(parser, "-it", "iterations", type=_bounded_int(1, 100_000_000))
    _add_alias(parser, "-nl", "no_logs", action="store_true")
    _add_alias(parser, "-ss", "snapshot_interval", type=_bounded_int(0))
    _add_alias(parser, "-tia", "timelapse_input_a")
    _add_alias(parser, "-tib", "timelapse_input_b")
    _add_alias(parser, "-to", "timelapse_output")
    _add_alias(parser, "-wl", "warp_to_landmarks", action="store_true")
    _add_alias(parser, "-nf", "no_flip", action="store_true")
    _add_alias(parser, "-nac", "no_augment_color", action="store_true")
    _add_alias(parser, "-nw", "no_warp", action="store_true")
    parser.add_argument("--seed", type=_bounded_int(0), default=None,
                        help="Seed for the data augmentation (reproducible batches).")
    _add_exclude_gpus(parser)
    _add_common(parser, short_config_alias=False)


def _face_scale(text: str) -> float:
    """``-S/--face-scale``: a percentage from -10 to 10."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not -10.0 <= value <= 10.0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: allowed from -10 to 10")
    return value


_MASK_TYPES = ["bisenet-fp_face", "bisenet-fp_head", "components", "custom_face", "custom_head",
               "extended", "unet-dfl", "vgg-clear", "vgg-obstructed", "predicted", "none"]
"""Faceswap 3's ``-M/--mask-type`` choices (the stored masks of an alignments file, the model's
learned mask, or none)."""


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    from plugins.convert.color._base import COLOR_CHOICES
    from plugins.convert.writer._base import WRITER_CHOICES

    parser = subparsers.add_parser(
        "convert", help="Swap the faces in frames or a video (or in aligned face images).",
        description="Swap the faces of a folder of frames or a video, found through Faceswap's "
                    "alignments file, with a trained model (Faceswap's convert). The input is "
                    "taken as frames when it is a video, when -p is given or when the folder "
                    "holds alignments.fsa; otherwise as aligned face images, each swapped "
                    "where training cropped it (through the learned mask when the model has "
                    "one).")
    parser.add_argument("-i", "--input-dir", dest="input_dir", required=True,
                        help="A folder of frames, a video file, or a folder of aligned face "
                             "images.")
    parser.add_argument("-o", "--output-dir", dest="output_dir", required=True,
                        help="Folder to write the converted frames (or the video, with -w "
                             "ffmpeg) or the swapped faces to.")
    parser.add_argument("-p", "--alignments", dest="alignments", default=None,
                        help="The alignments file of the frames (default: "
                             "<frames folder>/alignments.fsa, or "
                             "<video folder>/<video name>_alignments.fsa).")
    parser.add_argument("-r", "--reference-video", dest="reference_video", default=None,
                        help="For a folder of frames written as a video (-w ffmpeg): the video "
                             "they came from, for the frame rate and the audio.")
    parser.add_argument("-m", "--model-dir", dest="model_dir", required=True,
                        help="The trained model's folder.")
    parser.add_argument("-c", "--color-adjustment", dest="color_adjustment",
                        type=str.lower, choices=COLOR_CHOICES, default="avg-color",
                        metavar="ADJUSTMENT",
                        help="Colour adjustment of the swapped face to the frame: "
                             f"{', '.join(COLOR_CHOICES)} (default avg-color; options in "
                             "convert.ini).")
    parser.add_argument("-M", "--mask-type", dest="mask_type", type=str.lower,
                        choices=_MASK_TYPES, default="extended", metavar="MASK",
                        help="The mask the swapped face is blended through: a mask stored in "
                             "the alignments file for every face "
                             f"({', '.join(_MASK_TYPES[:-2])}), 'predicted' (the model's "
                             "learned mask) or 'none' (default extended).")
    parser.add_argument("-w", "--writer", dest="writer", type=str.lower,
                        choices=WRITER_CHOICES, default="opencv",
                        help="opencv: image files (default); ffmpeg: one video with the input's "
                             "frame rate and audio (options in convert.ini).")
    parser.add_argument("-fr", "--frame-ranges", dest="frame_ranges", nargs="+", default=None,
                        metavar="FIRST-LAST",
                        help="Convert only these frames, e.g. 10-50 90-100 (frame numbers: "
                             "the position in a video, the last number in a file name).")
    parser.add_argument("-S", "--face-scale", dest="face_scale", type=_face_scale, default=0.0,
                        help="Enlarge (positive) or shrink the swapped face by this percent, "
                             "-10 to 10 (default 0).")
    parser.add_argument("-k", "--keep-unchanged", dest="keep_unchanged", action="store_true",
                        help="With -fr: write the frames outside the ranges unchanged "
                             "(otherwise they are left out).")
    parser.add_argument("-s", "--swap-model", dest="swap_model", action="store_true",
                        help="Swap B -> A instead of A -> B.")
    parser.add_argument("-j", "--jobs", dest="jobs", type=_bounded_int(0, 40), default=0,
                        help="Threads that patch frames while faces are predicted (0: one per "
                             "CPU core).")
    parser.add_argument("--backend", choices=["keras", "onnx"], default="keras",
                        help="Run the swap model through Keras (default) or through "
                             "onnxruntime (converted in memory at start-up; needs the 'onnx' "
                             "extra and Keras's TensorFlow backend).")
    _add_exclude_gpus(parser)
    _add_common(parser, short_config_alias=False)  # Faceswap 3: -c is the colour adjustment
    for action in parser._actions:  # -C names either file here
        if action.dest == "configfile" and action.help != argparse.SUPPRESS:
            action.help = ("A convert.ini (the convert plugins' options) or the train.ini to "
                           "load the model with, instead of the default one.")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="Export the swap model as ONNX, DeepFaceLive .dfm or SavedModel.",
        description="Write a trained model's swap model (A -> B, or B -> A with -s) as an ONNX "
                    "file, a DeepFaceLive/DeepFaceLab .dfm file or a TensorFlow SavedModel "
                    "folder. The file takes BGR faces in [0, 1] of the model's input size and "
                    "gives the swapped face (and the learned mask).")
    parser.add_argument("-m", "--model-dir", dest="model_dir", required=True,
                        help="The trained model's folder.")
    parser.add_argument("-o", "--output", dest="output", required=True,
                        help="The file to write (a folder for --format saved_model).")
    parser.add_argument("--format", choices=["onnx", "dfm", "saved_model"], default="onnx",
                        help="onnx: plain ONNX; dfm: DeepFaceLab's ONNX contract, loaded by "
                             "DeepFaceLive, FaceFusion and VisoMaster; saved_model: TensorFlow "
                             "SavedModel (TF Serving, TFLite converter).")
    parser.add_argument("-s", "--swap-model", dest="swap_model", action="store_true",
                        help="Export the swap B -> A instead of A -> B.")
    parser.add_argument("--half", action="store_true",
                        help="float16 weights (inputs and outputs stay float32); onnx and dfm "
                             "only.")
    _add_common(parser)


def _add_restore(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore", help="Restore a model and its state from their backups.",
        description="Roll a model folder back to its .bk backups; the current files are moved "
                    "to an archive folder inside it.")
    parser.add_argument("-m", "--model-dir", dest="model_dir", required=True,
                        help="The model's folder.")
    _add_common(parser)


def _add_plugins(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="List the available model plugins.")
    _add_common(parser)


def _add_faces(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "faces", help="Report what a folder of training faces holds.",
        description="Read the headers (and Faceswap's PNG metadata) of every face in a folder "
                    "and report the count, sizes, kind (Faceswap face set or simple format), "
                    "mask types carried, legacy or not, and the problems training would meet.")
    parser.add_argument("-i", "--input-dir", dest="input_dir", required=True,
                        help="The folder of faces (Faceswap's extracted faces, or the simple "
                             "format).")
    _add_common(parser)


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="Train the Original model on built-in synthetic faces.",
        description="Generate two synthetic identities, train the Original model on them "
                    "(about 5 minutes unless -it is given), write the preview and swap a few "
                    "faces.")
    parser.add_argument("-o", "--output-dir", dest="output_dir", default="faceswap_demo",
                        help="Folder for the demo's data, preview, swaps and clip (default "
                             "faceswap_demo).")
    parser.add_argument("-m", "--model-dir", dest="model_dir", default=None,
                        help="The model folder (default: 'model' inside the output folder); "
                             "convert, export and train -m take it.")
    parser.add_argument("-i", "--iterations", type=_bounded_int(1, 10_000_000), default=None,
                        help="Iterations to train (default: as many as fit in --minutes).")
    _add_alias(parser, "-it", "iterations", type=_bounded_int(1, 10_000_000))
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="Training time when -it is not given (default 5).")
    _add_common(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="faceswap-original",
        description="Train, resume and run Faceswap model plugins on Keras 3.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_convert, _add_export, _add_restore, _add_plugins,
                _add_faces, _add_demo):
        add(subparsers)
    return parser


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to ``sys.stderr`` as it is when a record is emitted, not as it was
    when the handler was made (``main`` may run several times in one process, each time with
    another standard error, as in tests or an embedding program)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _set_logging(level_name: str, logfile: str | None = None) -> None:
    level = _LOG_LEVELS[level_name]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-8s %(message)s",
                        datefmt="%H:%M:%S", handlers=[_StderrHandler()], force=True)
    if logfile:
        try:
            handler = logging.FileHandler(logfile, encoding="utf-8")
        except OSError as err:
            raise FaceswapError(f"The log file '{logfile}' cannot be written ({err}). Give a "
                                "writable path with -F, or leave it out.") from err
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-8s %(name)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
        logging.getLogger().addHandler(handler)
    for noisy in ("absl", "tensorflow", "jax", "h5py", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # TensorFlow's C++ log (read when Keras loads, which is after this): its errors about graph
    # rewrites it skipped are not the user's; -L DEBUG shows everything. A value set wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if level <= logging.DEBUG else "3")


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from faceswap_original.train import train
        return train(args)
    if args.command == "convert":
        from faceswap_original.convert import convert
        return convert(args)
    if args.command == "export":
        from faceswap_original.export import export
        return export(args)
    if args.command == "restore":
        from faceswap_original.restore import restore
        return restore(args)
    if args.command == "faces":
        from faceswap_original.faces import faces
        return faces(args)
    if args.command == "plugins":
        from faceswap_original.plugin_list import list_plugins
        return list_plugins()
    from faceswap_original.demo import demo
    return demo(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 for any error the user can fix, a bad
    or out-of-range argument included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as err:
        # Faceswap compat: argparse exits with 2 on a usage error (its message already printed);
        # every user error exits with 1 here. --help still exits with 0.
        if err.code == 2:
            return 1
        raise
    try:
        _set_logging(args.loglevel, getattr(args, "logfile", None))
        return _run(args)
    except FaceswapError as err:
        if args.loglevel in ("DEBUG", "TRACE"):
            logger.exception("Error")
        print(f"ERROR: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
