"""Export the swap model: ONNX, DeepFaceLive's ``.dfm`` and TensorFlow SavedModel.

Every exported graph takes what ``convert`` feeds the swap model and gives what ``convert`` keeps
of its outputs:

* input: float32 NHWC faces of the model's input size, **BGR**, values in [0, 1]; a model that
  works in RGB (most Phaze-A encoders) gets the channels reversed inside the graph, and its face
  output reversed back, as ``convert`` does;
* outputs: the last face (3 channels) and, when the model learned one, the last mask (1 channel)
  of the swap direction, float32 in [0, 1] (earlier, smaller outputs of multi-scale decoders are
  dropped, as ``convert`` drops them).

The ``.dfm`` file is the same ONNX graph with DeepFaceLab's contract (``in_face:0`` in; outputs,
by position, ``out_face_mask:0``, ``out_celeb_face:0``, ``out_celeb_face_mask:0``; IR version 8,
opset 17) and a ``morph_value:0`` input that blends the swap with the input person's own
reconstruction (see :class:`SwapGraph`). Conversion runs on the TensorFlow backend, through
``tf2onnx`` (the converter that Keras's own ``Model.export(format="onnx")`` calls there; the
weights are fed as graph inputs while converting, see :func:`_convert_weights_as_inputs`) and
Keras's :class:`keras.export.ExportArchive` for SavedModel.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lib.errors import FaceswapError
from lib.progress import progress
from lib.utils import atomic_replace, fsync_folder

__all__ = ["FORMATS", "ONNX_INPUT", "ONNX_OPSET", "ONNX_OUTPUTS", "ExportInfo", "OnnxSwap",
           "SwapGraph", "export_swap_model", "onnx_bytes", "split_outputs"]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "dfm", "saved_model")
"""The export formats."""
ONNX_OPSET = 17
"""The ONNX opset written: DeepFaceLive's onnxruntime (1.15) runs opsets up to 19 and IR 9."""
_MAX_IR_VERSION = 9
ONNX_INPUT = "face_in"
"""The input of an ONNX export: BGR faces in [0, 1], NHWC."""
ONNX_OUTPUTS = ("face_out", "mask_out")
"""The outputs of an ONNX export: the face, and the mask when the model learned one."""
_DFM_INPUT = "in_face:0"
_DFM_MORPH = "morph_value:0"
_DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
# protobuf refuses to serialise a message of 2 GiB or more.
_MAX_PROTO_BYTES = 2 ** 31 - 1


@dataclass
class ExportInfo:
    """What the exported file records about the model (ONNX ``metadata_props``, SavedModel
    ``faceswap_export.json``). Every key is prefixed ``faceswap.`` in ONNX.

    Parameters
    ----------
    plugin
        The plugin name (``original``).
    direction
        ``"A -> B"`` or ``"B -> A"``.
    iterations
        Iterations the model has trained.
    centering
        The training crop's centering: ``face``, ``head`` or ``legacy``.
    coverage
        The training crop's coverage, percent.
    vertical_offset
        The training crop's vertical offset, percent.
    model_color_order
        The colour order the network itself works in (``bgr`` or ``rgb``); the file's input and
        face output are BGR whatever it is.
    """

    plugin: str
    direction: str = "A -> B"
    iterations: int = 0
    centering: str = "face"
    coverage: float = 100.0
    vertical_offset: int = 0
    model_color_order: str = "bgr"
    color_order: str = "bgr"
    value_range: str = "0-1"
    layout: str = "NHWC"
    extra: dict[str, str] = field(default_factory=dict)

    def as_strings(self) -> dict[str, str]:
        """Every item as a string, ``extra`` merged in."""
        values = {key: str(value) for key, value in asdict(self).items() if key != "extra"}
        values.update({key: str(value) for key, value in self.extra.items()})
        return values


def split_outputs(outputs: list[Any]) -> tuple[Any, Any | None]:
    """``(face, mask)`` of a swap model's outputs as ``convert`` takes them: the last output that
    is not single-channel is the face, the last single-channel output the mask (``None`` when
    there is none)."""
    faces = [out for out in outputs if out.shape[-1] != 1]
    masks = [out for out in outputs if out.shape[-1] == 1]
    if not faces:
        raise FaceswapError(f"The swap model has no face output (its outputs have the shapes "
                            f"{[tuple(out.shape) for out in outputs]}); a face has 3 channels.")
    return faces[-1], (masks[-1] if masks else None)


class SwapGraph:
    """The swap model as the exported file computes it.

    Parameters
    ----------
    swap
        The swap (inference) model: one input, the target side's outputs.
    info
        What the file records; its ``model_color_order`` decides the channel reversal.
    own
        The opposite direction's inference model (the input person's own decoder), or ``None``.
        Used by ``.dfm`` only: its mask is ``out_face_mask`` (DeepFaceLab's meaning: the input
        person's own mask), and ``morph_value`` blends between its face and the swap.

    Notes
    -----
    The morph input of the ``.dfm`` file: DeepFaceLab's AMP models mix the two identities'
    intermediate codes; Faceswap models have no such code, so the morph value ``m`` (DeepFaceLive's
    slider, 0 to 1) blends the decoders' outputs instead:
    ``face = m * swap_face + (1 - m) * own_face``; 1 is the full swap, what ``convert`` gives.
    The masks are not blended. When the two directions cannot run on the same input (per-side
    input sizes differ, or the output sizes differ) the file has no morph input, which makes
    DeepFaceLive hide its morph slider.
    """

    def __init__(self, swap: keras.Model, info: ExportInfo,
                 own: keras.Model | None = None) -> None:
        if len(swap.inputs) != 1:
            raise FaceswapError(f"The swap model '{swap.name}' has {len(swap.inputs)} inputs; "
                                "it needs one.")
        self.swap = swap
        self.info = info
        shape = tuple(swap.inputs[0].shape[1:])
        self.input_shape = shape
        face, mask = split_outputs(keras.tree.flatten(swap.outputs))
        self.output_shape = tuple(face.shape[1:])
        self.has_mask = mask is not None
        self.own = own if own is not None and self._compatible(own) else None
        self.rgb = info.model_color_order == "rgb"

    def _compatible(self, own: keras.Model) -> bool:
        if len(own.inputs) != 1 or tuple(own.inputs[0].shape[1:]) != self.input_shape:
            logger.info("The two directions take different input sizes: no morph input.")
            return False
        face, _ = split_outputs(keras.tree.flatten(own.outputs))
        if tuple(face.shape[1:]) != self.output_shape:
            logger.info("The two directions give different output sizes: no morph input.")
            return False
        return True

    # --- checks --------------------------------------------------------------------------------
    def check(self, fmt: str) -> None:
        """Raise :class:`~lib.errors.FaceswapError` when ``fmt`` cannot express the model."""
        if fmt not in FORMATS:
            raise FaceswapError(f"Unknown export format '{fmt}': choose one of "
                                f"{', '.join(FORMATS)}.")
        height, width, channels = (self.input_shape + (None, None, None))[:3]
        if len(self.input_shape) != 3 or channels != 3:
            raise FaceswapError(
                f"The model's input has the shape {self.input_shape}; the exported file takes "
                "3-channel (BGR) faces of a fixed size, (height, width, 3).")
        if not isinstance(height, int) or not isinstance(width, int):
            raise FaceswapError(
                f"The model's input size is not fixed ({self.input_shape}); {fmt} files need a "
                "fixed face size (DeepFaceLive reads the resolution from the input shape).")
        if self.output_shape[-1] != 3:
            raise FaceswapError(f"The model's face output has {self.output_shape[-1]} channels; "
                                "the exported face is 3-channel BGR.")
        if fmt == "dfm" and height != width:
            raise FaceswapError(
                f"The model's input is {width}x{height}: DeepFaceLive's aligner makes square "
                "faces, so a .dfm model must take square faces.")

    def variables(self, fmt: str = "onnx") -> list[Any]:
        """The weights the ``fmt`` graph reads (the own direction's too for ``.dfm``), each
        once."""
        models = [self.swap] + ([self.own] if fmt == "dfm" and self.own is not None else [])
        found: dict[int, Any] = {}
        for model in models:
            for variable in model.variables:
                found.setdefault(id(variable), variable)
        return list(found.values())

    # --- graph ---------------------------------------------------------------------------------
    def _run(self, model: keras.Model, faces: Any) -> tuple[Any, Any | None]:
        feed = keras.ops.flip(faces, axis=-1) if self.rgb else faces
        face, mask = split_outputs(keras.tree.flatten(model(feed, training=False)))
        if self.rgb:
            face = keras.ops.flip(face, axis=-1)
        return face, mask

    def outputs(self, faces: Any) -> dict[str, Any]:
        """``{"face": ..., "mask": ...}`` (no ``mask`` without a learned mask) for BGR faces."""
        face, mask = self._run(self.swap, faces)
        return {"face": face} if mask is None else {"face": face, "mask": mask}

    def dfm_outputs(self, faces: Any, morph: Any = None) -> list[Any]:
        """``[out_face_mask, out_celeb_face, out_celeb_face_mask]`` for BGR faces; ``morph``
        (shape ``(1,)``) blends the swap with the own reconstruction (see the class notes)."""
        face, mask = self._run(self.swap, faces)
        ones = keras.ops.ones_like(face[..., :1])
        celeb_mask = ones if mask is None else mask
        face_mask = celeb_mask
        if self.own is not None:
            own_face, own_mask = self._run(self.own, faces)
            if own_mask is not None:
                face_mask = own_mask
            if morph is not None:
                weight = keras.ops.reshape(keras.ops.clip(morph, 0.0, 1.0), (-1, 1, 1, 1))
                face = weight * face + (1.0 - weight) * own_face
        return [face_mask, face, celeb_mask]

    @property
    def has_morph(self) -> bool:
        """Whether the ``.dfm`` file gets the ``morph_value:0`` input."""
        return self.own is not None


# --- ONNX ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _tf2onnx_numpy2() -> Iterator[None]:
    """tf2onnx 1.17 still calls ``numpy.product`` (removed in NumPy 2) when it keeps large tensors
    outside the graph; Keras patches tf2onnx the same way. The alias exists only during the
    conversion."""
    added = not hasattr(np, "product")
    if added:
        np.product = np.prod  # type: ignore[attr-defined]
    quiet = [logging.getLogger(name) for name in ("tf2onnx", "onnx")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(max(log.level, logging.WARNING))
    try:
        yield
    finally:
        if added:
            del np.product  # type: ignore[attr-defined]
        for log, level in zip(quiet, levels, strict=True):
            log.setLevel(level)


def _require(module: str, extra: str = "onnx") -> Any:
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise FaceswapError(
            f"Exporting needs the Python package '{module.split('.')[0]}', which is not "
            f"installed: pip install \"faceswap-original[{extra}]\".") from err


def _check_backend() -> None:
    if keras.backend.backend() != "tensorflow":
        raise FaceswapError(
            f"Exporting runs on Keras's TensorFlow backend (this process uses "
            f"'{keras.backend.backend()}'); the model file is the same on every backend, so "
            "load it with KERAS_BACKEND=tensorflow (the export command does this itself).")


def _convert_function(function: Any, specs: list[Any]) -> Any:
    """An ``onnx.ModelProto`` of a TensorFlow function, every weight inside the graph."""
    onnx = _require("onnx")
    tf2onnx = _require("tf2onnx")
    with _tf2onnx_numpy2():
        try:
            # large_model keeps the weights out of tf2onnx's graph rewrites, which copy every
            # tensor many times (3x faster on the Original model); they are put back below.
            proto, storage = tf2onnx.convert.from_function(
                function, input_signature=specs, opset=ONNX_OPSET, large_model=True)
        except Exception as err:  # any converter failure is the model's
            reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
            raise FaceswapError(
                f"The swap model could not be converted to ONNX (opset {ONNX_OPSET}): "
                f"{type(err).__name__}: {reason}. A layer of this model has no ONNX "
                "equivalent in tf2onnx.") from err
    tensors = storage.name_to_tensor_data if storage is not None else {}
    for tensor in proto.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}["location"]
        tensor.raw_data = tensors[location]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    return proto


_WEIGHT_PREFIX = "faceswap_weight_"


def _convert_weights_as_inputs(run: Any, specs: list[Any], variables: list[Any]) -> Any:
    """Convert ``run`` with every weight fed as a graph input (Keras's ``StatelessScope``
    maps each variable to its input), then make the inputs initializers holding the weights
    and fold what depends only on them (the kernels' layout transposes).

    tf2onnx copies every constant tensor many times (converting the Original model took 11 GiB
    and a minute with the weights frozen in); with the weights as inputs the graph it handles
    is small: a few seconds, memory about three times the model.
    """
    tf = _require("tensorflow", "onnx")
    tf2onnx = _require("tf2onnx")
    weight_specs = [tf.TensorSpec(tuple(variable.shape), variable.dtype,
                                  name=f"{_WEIGHT_PREFIX}{index}")
                    for index, variable in enumerate(variables)]
    count = len(specs)

    def function(*args):
        mapping = list(zip(variables, args[count:], strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return run(*args[:count])

    signature = [*specs, *weight_specs]
    with _tf2onnx_numpy2():
        proto, _ = tf2onnx.convert.from_function(
            tf.function(function, input_signature=signature), input_signature=signature,
            opset=ONNX_OPSET)
    numpy_helper = _require("onnx.numpy_helper")
    graph = proto.graph
    inputs = []
    for value in graph.input:
        base = value.name.split(":")[0]
        if base.startswith(_WEIGHT_PREFIX):
            array = keras.ops.convert_to_numpy(variables[int(base[len(_WEIGHT_PREFIX):])])
            graph.initializer.append(numpy_helper.from_array(np.asarray(array), value.name))
        else:
            inputs.append(value)
    del graph.input[:]
    graph.input.extend(inputs)
    _fold_constants(proto)
    return proto


def _fold_constants(proto: Any) -> None:
    """Replace every node whose inputs are all initializers by its result (computed with
    ONNX's reference implementation), and drop the initializers nothing uses any more."""
    numpy_helper = _require("onnx.numpy_helper")
    reference = _require("onnx.reference")
    graph = proto.graph
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    outputs = {value.name for value in graph.output}
    kept = []
    for node in graph.node:
        if (all(not name or name in constants for name in node.input)
                and not set(node.output) & outputs):
            feeds = {name: constants[name] for name in node.input if name}
            results = reference.ReferenceEvaluator(node).run(None, feeds)
            constants.update({name: np.asarray(value)
                              for name, value in zip(node.output, results, strict=True)})
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | outputs
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(value, name)
                             for name, value in constants.items() if name in used)


def _convert(run: Any, specs: list[Any], variables: list[Any]) -> Any:
    """An ``onnx.ModelProto`` of ``run`` (a function of the ``specs`` inputs reading
    ``variables``), every weight inside the graph."""
    tf = _require("tensorflow", "onnx")
    try:
        return _convert_weights_as_inputs(run, specs, variables)
    except Exception as err:  # noqa: BLE001 - the frozen conversion below is the fallback
        logger.warning("Converting with the weights as inputs failed (%s: %s); converting with "
                       "the weights frozen in (slower, more memory).", type(err).__name__,
                       str(err).strip().splitlines()[0][:200] if str(err).strip() else "")
    return _convert_function(tf.function(run, input_signature=specs), specs)


def _rename(proto: Any, old: str, new: str) -> None:
    """Rename the tensor ``old`` to ``new`` everywhere in the graph."""
    if old == new:
        return
    graph = proto.graph
    used = {name for node in graph.node for name in (*node.input, *node.output)}
    if new in used | {value.name for value in (*graph.input, *graph.output)}:
        raise ValueError(f"Cannot rename '{old}' to '{new}': the graph already has '{new}'.")
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name == old:
                node.input[index] = new
        for index, name in enumerate(node.output):
            if name == old:
                node.output[index] = new
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def _finish(proto: Any, info: ExportInfo, inputs: list[str], outputs: list[str],
            half: bool, graph_name: str) -> Any:
    """Name the graph's inputs and outputs, convert to float16 weights when asked, add the
    metadata, check the model."""
    onnx = _require("onnx")
    if len(proto.graph.input) != len(inputs) or len(proto.graph.output) != len(outputs):
        raise FaceswapError(f"The converter gave {len(proto.graph.input)} inputs and "
                            f"{len(proto.graph.output)} outputs; expected {len(inputs)} and "
                            f"{len(outputs)}.")
    for value, name in zip(proto.graph.input, inputs, strict=True):
        _rename(proto, value.name, name)
    for value, name in zip(proto.graph.output, outputs, strict=True):
        _rename(proto, value.name, name)
    if half:
        float16 = _require("onnxconverter_common.float16")
        with warnings.catch_warnings():
            # "the float32 number ... will be truncated": tiny weights, expected of float16
            warnings.simplefilter("ignore", UserWarning)
            proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    proto.graph.name = graph_name
    proto.ir_version = min(proto.ir_version, _MAX_IR_VERSION)
    proto.producer_name = "faceswap-original"
    del proto.metadata_props[:]
    for key, value in info.as_strings().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"faceswap.{key}", value
    proto.doc_string = ("Faceswap swap model " + info.direction + " (" + info.plugin + "): BGR "
                        "float32 faces in [0, 1], NHWC.")
    if proto.ByteSize() > _MAX_PROTO_BYTES:
        raise FaceswapError(
            f"The model is {proto.ByteSize() / 2 ** 30:.1f} GiB as ONNX: a single ONNX file "
            "holds under 2 GiB. Export with --half (float16 weights).")
    onnx.checker.check_model(proto)
    return proto


def _stages(bar: Any) -> Any:
    """``stage(name)``: mark the stage before as done on the progress bar ``bar`` and show
    ``name`` as the one running."""
    started = False

    def stage(name: str) -> None:
        nonlocal started
        if started:
            bar.update()
        started = True
        bar.set_postfix_str(name)
    return stage


def _onnx_proto(graph: SwapGraph, fmt: str, half: bool, stage: Any = None) -> Any:
    """The ONNX model of ``graph``; ``stage(name)`` (if given) is called as each of its two
    stages starts (conversion, then naming, float16 and the check)."""
    stage = stage or (lambda name: None)
    tf = _require("tensorflow", "onnx")
    batch_shape = (None, *graph.input_shape)
    if fmt == "dfm":
        specs = [tf.TensorSpec(batch_shape, tf.float32, name="in_face")]
        if graph.has_morph:
            specs.append(tf.TensorSpec((1,), tf.float32, name="morph_value"))

            def run(faces, morph):
                return graph.dfm_outputs(faces, morph)
        else:
            def run(faces):
                return graph.dfm_outputs(faces)
        names_in = [_DFM_INPUT, _DFM_MORPH][:len(specs)]
        names_out = list(_DFM_OUTPUTS)
        graph_name = "FaceswapDFM"
    else:
        specs = [tf.TensorSpec(batch_shape, tf.float32, name="face_in")]

        def run(faces):
            outputs = graph.outputs(faces)
            return [outputs[key] for key in ("face", "mask") if key in outputs]
        names_in = [ONNX_INPUT]
        names_out = list(ONNX_OUTPUTS[:2 if graph.has_mask else 1])
        graph_name = f"{graph.info.plugin}_swap"
    stage("converting to ONNX")
    proto = _convert(run, specs, graph.variables(fmt))
    stage("float16 weights, checking" if half else "naming, checking")
    info = ExportInfo(**{**asdict(graph.info), "extra": dict(graph.info.extra)})
    info.extra["format"] = fmt
    info.extra["weights"] = "float16" if half else "float32"
    if fmt == "dfm":
        info.extra["morph"] = ("morph_value blends the swap (1) with the input person's own "
                               "reconstruction (0)" if graph.has_morph else "none")
    return _finish(proto, info, names_in, names_out, half, graph_name)


def onnx_bytes(graph: SwapGraph, fmt: str = "onnx", half: bool = False) -> bytes:
    """The serialised ONNX (``fmt="onnx"``) or ``.dfm`` (``fmt="dfm"``) file of ``graph``."""
    if fmt not in ("onnx", "dfm"):
        raise ValueError(f"onnx_bytes writes 'onnx' or 'dfm', not {fmt!r}")
    graph.check(fmt)
    _check_backend()
    return _onnx_proto(graph, fmt, half).SerializeToString()


class OnnxSwap:
    """The swap graph run by onnxruntime: ``OnnxSwap(graph)(faces)`` gives ``[face]`` or
    ``[face, mask]`` for BGR float32 faces in [0, 1], as the Keras swap model does (but always
    BGR).

    Parameters
    ----------
    graph
        The swap graph; it is converted to ONNX in memory (nothing is written).
    half
        float16 weights.
    """

    def __init__(self, graph: SwapGraph, half: bool = False) -> None:
        ort = _require("onnxruntime")
        self._session = ort.InferenceSession(onnx_bytes(graph, "onnx", half),
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, faces: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: np.ascontiguousarray(faces,
                                                                            dtype=np.float32)})


# --- SavedModel ----------------------------------------------------------------------------------
def _write_saved_model(graph: SwapGraph, folder: Path) -> None:
    tf = _require("tensorflow", "onnx")
    archive = keras.export.ExportArchive()
    archive.track(graph.swap)
    spec = tf.TensorSpec((None, *graph.input_shape), tf.float32, name="face")
    archive.add_endpoint("serve", graph.outputs, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)
    (folder / "assets").mkdir(exist_ok=True)
    (folder / "assets" / "faceswap_export.json").write_text(
        json.dumps(graph.info.as_strings(), indent=2), encoding="utf-8")


@contextlib.contextmanager
def _atomic_folder(path: Path) -> Iterator[Path]:
    """Like :func:`lib.utils.atomic_replace` for a folder: a temporary folder beside ``path``
    is written, then renamed into place (an existing folder is replaced)."""
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield temp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old",
                                        dir=path.parent))
            os.replace(path, old / path.name)
        try:
            os.replace(temp, path)
        except BaseException:
            if old is not None:
                os.replace(old / path.name, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        fsync_folder(path.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _check_output(path: Path, fmt: str) -> None:
    """Fail before the (slow) conversion when the output cannot be written."""
    parent = path.parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise FaceswapError(f"Cannot write '{path}': the folder '{parent}' {problem}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FaceswapError(f"Cannot write '{path}': the folder '{parent}' is not writable.")
    if fmt == "saved_model":
        if path.exists() and not path.is_dir():
            raise FaceswapError(f"Cannot write the SavedModel folder '{path}': a file of that "
                                "name exists.")
        if path.is_dir() and any(path.iterdir()) and not (path / "saved_model.pb").is_file():
            raise FaceswapError(f"The folder '{path}' is not empty and holds no SavedModel; "
                                "choose a new folder name for the SavedModel.")
    elif path.is_dir():
        raise FaceswapError(f"Cannot write '{path}': it is a folder.")


def export_swap_model(graph: SwapGraph, path: str | Path, fmt: str,
                      half: bool = False) -> Path:
    """Write ``graph`` to ``path`` in format ``fmt`` (``onnx``, ``dfm`` or ``saved_model``).

    The file (or SavedModel folder) appears complete or not at all: it is written beside
    ``path`` under a temporary name and renamed into place.

    Parameters
    ----------
    graph
        The swap graph.
    path
        The output file (a folder for ``saved_model``).
    fmt
        The format.
    half
        float16 weights (inputs and outputs stay float32); ONNX and ``.dfm`` only.

    Raises
    ------
    lib.errors.FaceswapError
        When the format cannot express the model, a package is missing, or ``path`` cannot be
        written.
    """
    path = Path(path)
    graph.check(fmt)
    if half and fmt == "saved_model":
        raise FaceswapError("--half applies to ONNX and .dfm files: a SavedModel keeps float32 "
                            "weights (TFLite's converter can quantize it).")
    _check_backend()
    _check_output(path, fmt)
    # Faceswap compat: an addition (Faceswap has no export); a tqdm bar of the stages, as
    # Faceswap shows its long jobs (lib.progress: only on a terminal).
    with progress(total=1 if fmt == "saved_model" else 3, desc=f"Exporting {fmt}",
                  unit="stage", mininterval=0) as bar:
        stage = _stages(bar)
        try:
            if fmt == "saved_model":
                stage("writing the SavedModel")
                with _atomic_folder(path) as temp:
                    _write_saved_model(graph, temp)
            else:
                proto = _onnx_proto(graph, fmt, half, stage)
                stage("writing")
                with atomic_replace(path, suffix=".tmp") as temp:
                    temp.write_bytes(proto.SerializeToString())
            bar.update()
        except OSError as err:
            raise FaceswapError(f"Could not write '{path}': {err.strerror or err}. Nothing "
                                "was written.") from err
    logger.info("Exported the %s swap model (%s) to '%s'", graph.info.plugin,
                graph.info.direction, path)
    return path
