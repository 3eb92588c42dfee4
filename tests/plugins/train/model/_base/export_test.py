"""Export of the swap model: ONNX and .dfm files run in onnxruntime and agree with Keras's
prediction of the trained two-input model; SavedModel folders reload in TensorFlow alone; bad
input is refused with nothing written."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from plugins.plugin_loader import MODEL_ENTRY_POINT_GROUP
from tests.conftest import BACKEND
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import LEARN_MASK, installed_plugins, make_plugin

onnx = pytest.importorskip("onnx", reason="the 'onnx' extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed")

pytestmark = pytest.mark.skipif(BACKEND != "tensorflow",
                                reason="export converts on the TensorFlow backend")

import plugins.train.model._base.export as export_module  # noqa: E402
from faceswap_original.export import load_swap_graph  # noqa: E402
from plugins.train.model._base.export import (  # noqa: E402
    ExportInfo,
    SwapGraph,
    export_swap_model,
)

FLOAT32_TOLERANCE = 1e-4
"""The largest absolute difference allowed between onnxruntime and Keras (float32 weights)."""
HALF_TOLERANCE = 5e-2
"""The same with --half (float16 weights and arithmetic, float32 inputs and outputs): outputs are
sigmoids in [0, 1] and float16 keeps about 3 significant digits through every layer. Measured:
4e-4 on Original, 2.2e-2 on one pixel of Unbalanced (untrained, full size)."""
HALF_MEAN_TOLERANCE = 5e-3
"""The mean absolute difference allowed with --half."""

_REPO = Path(__file__).resolve().parents[5]
_TWO_SIZES = importlib.metadata.EntryPoint(
    name="two_sizes", value="tests.plugins.train.model._base.two_sizes",
    group=MODEL_ENTRY_POINT_GROUP)
_PHAZE_SMALL = {"model.phaze_a": {
    "fc_min_filters": 128, "fc_max_filters": 128, "fc_gblock_min_nodes": 128,
    "fc_gblock_max_nodes": 128, "dec_max_filters": 256, "fs_original_max_filters": 256,
    "bottleneck_size": 128}}
_SAE_SMALL = {"model.dfl_sae": {"input_size": 64, "architecture": "liae", "autoencoder_dims": 64,
                                "encoder_dims": 21, "decoder_dims": 10,
                                "multiscale_decoder": True}}

# Small configurations of shipped and test plugins, one per pattern: learned mask, four outputs,
# output size != input size, per-side input sizes with a shared decoder, Phaze-A's shared
# decoder, DFL-SAE's LIAE (shared inter layers) with a multi-scale decoder and a mask.
SMALL_CASES = {
    "tiny-mask": ("tiny", LEARN_MASK),
    "tiny": ("tiny", None),
    "four_out": ("four_out", None),
    "resize": ("resize", None),
    "two_sizes": ("two_sizes", None),
    "phaze_a-small": ("phaze_a", _PHAZE_SMALL),
    "dfl_sae-small-liae-multiscale-mask": ("dfl_sae", {**_SAE_SMALL, **LEARN_MASK}),
}
SHIPPED = ["dfaker", "dfl_h128", "dfl_sae", "dlight", "iae", "lightweight", "original", "phaze_a",
           "realface", "unbalanced", "villain"]


@pytest.fixture(autouse=True, name="plugins_installed")
def fixture_plugins_installed():
    with installed_plugins([_TWO_SIZES]):
        yield


def _saved_model(name: str, tmp_path: Path, options=None) -> tuple[Path, str]:
    """A model of plugin ``name`` built and saved (untrained) in ``tmp_path/model``; returns the
    folder and the config file."""
    plugin = make_plugin(name, tmp_path, options)
    plugin.build()
    plugin.io.save(is_exit=True)
    del plugin
    keras.backend.clear_session(free_memory=True)
    return tmp_path / "model", str(tmp_path / "train.ini")


def _faces(shape, seed=0, batch=3) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, *shape), dtype="float32")


def _expected(model_dir: Path, config: str, faces: np.ndarray, switch: bool = False,
              other: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras's face and mask for ``faces`` through the *whole* trained model (both inputs),
    taking the side's outputs and Faceswap's rule: the last output is the mask when it has one
    channel, and the output before it the face."""
    model = keras.saving.load_model(model_dir / f"{_plugin_name(model_dir)}.keras",
                                    compile=False)
    sizes = [tuple(tensor.shape[1:]) for tensor in model.inputs]
    side = 0 if switch else 1
    feeds = [faces if index == side else (other if other is not None else
                                          _faces(sizes[index], seed=9, batch=len(faces)))
             for index in range(2)]
    outputs = [to_numpy(out) for out in keras.tree.flatten(model.predict_on_batch(feeds))]
    half = len(outputs) // 2
    outputs = outputs[:half] if switch else outputs[half:]
    if outputs[-1].shape[-1] == 1:
        return outputs[-2], outputs[-1]
    return outputs[-1], None


def _plugin_name(model_dir: Path) -> str:
    return next(model_dir.glob("*_state.json")).name[:-len("_state.json")]


def _run_onnx(path: Path, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _check_parity(name, tmp_path, options, switch=False, half=False, rgb=False):
    model_dir, config = _saved_model(name, tmp_path, options)
    graph = load_swap_graph(model_dir, switch_sides=switch, configfile=config)
    if rgb:
        graph.rgb = True
    size = graph.input_shape
    faces = _faces(size)
    out = export_swap_model(graph, tmp_path / "swap.onnx", "onnx", half=half)
    face, mask = _expected(model_dir, config, faces[..., ::-1] if rgb else faces, switch)
    if rgb:
        face = face[..., ::-1]
    results = _run_onnx(out, {"face_in": faces})
    assert len(results) == (1 if mask is None else 2)
    tolerance = HALF_TOLERANCE if half else FLOAT32_TOLERANCE
    assert results[0].dtype == np.float32 and results[0].shape == face.shape
    np.testing.assert_allclose(results[0], face, rtol=0, atol=tolerance)
    if mask is not None:
        np.testing.assert_allclose(results[1], mask, rtol=0, atol=tolerance)
    if half:
        assert np.abs(results[0] - face).mean() <= HALF_MEAN_TOLERANCE
    return graph, out


# --- ONNX ----------------------------------------------------------------------------------------
# Phaze-A's small build takes 10 s of CPU; its shared decoder is also two_sizes's pattern, and the
# full-size Phaze-A runs with --runslow.
@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.slow)
                                  if case.startswith("phaze_a") else case
                                  for case in SMALL_CASES])
def test_onnx_matches_keras(case, tmp_path, caplog):
    name, options = SMALL_CASES[case]
    with caplog.at_level("WARNING"):
        graph, path = _check_parity(name, tmp_path, options)
    assert "weights frozen in" not in caplog.text  # the fast conversion served
    model = onnx.load(str(path))
    meta = {entry.key: entry.value for entry in model.metadata_props}
    assert meta["faceswap.plugin"] == name
    assert meta["faceswap.direction"] == "A -> B"
    assert meta["faceswap.color_order"] == "bgr" and meta["faceswap.value_range"] == "0-1"
    assert meta["faceswap.centering"] == "face" and float(meta["faceswap.coverage"]) == 100.0
    assert meta["faceswap.iterations"] == "0" and meta["faceswap.weights"] == "float32"
    assert [value.name for value in model.graph.input] == ["face_in"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [dim.dim_value for dim in dims[1:]] == list(graph.input_shape)


@pytest.mark.parametrize("case", ["two_sizes", pytest.param(
    "dfl_sae-small-liae-multiscale-mask", marks=pytest.mark.slow)])
def test_onnx_b_to_a(case, tmp_path):
    name, options = SMALL_CASES[case]
    graph, path = _check_parity(name, tmp_path, options, switch=True)
    meta = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert meta["faceswap.direction"] == "B -> A"
    if name == "two_sizes":
        assert graph.input_shape == (32, 32, 3)  # side A's input for B -> A


def test_frozen_weights_fallback(tmp_path, monkeypatch, caplog):
    """When the conversion with the weights as inputs fails, the weights are frozen into the
    graph instead, with the same result."""
    def fail(*_args, **_kwargs):
        raise NotImplementedError("no handler")
    monkeypatch.setattr(export_module, "_convert_weights_as_inputs", fail)
    with caplog.at_level("WARNING"):
        _check_parity("tiny", tmp_path, LEARN_MASK)
    assert "weights frozen in" in caplog.text


def test_onnx_rgb_model_takes_and_gives_bgr(tmp_path):
    """A model working in RGB: the file reverses the channels in and out (as convert does)."""
    _check_parity("tiny", tmp_path, LEARN_MASK, rgb=True)


@pytest.mark.parametrize("case", ["tiny-mask", "four_out"])
def test_onnx_half(case, tmp_path):
    name, options = SMALL_CASES[case]
    _, path = _check_parity(name, tmp_path, options, half=True)
    model = onnx.load(str(path))
    types = {tensor.data_type for tensor in model.graph.initializer
             if len(tensor.dims) > 1}
    assert types == {onnx.TensorProto.FLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_plugin_full_size(name, tmp_path):
    """Every shipped plugin at its default size, with a learned mask: float32 and --half files
    of one saved model."""
    model_dir, config = _saved_model(name, tmp_path, LEARN_MASK)
    graph = load_swap_graph(model_dir, configfile=config)
    faces = _faces(graph.input_shape, batch=2)
    face, mask = _expected(model_dir, config, faces)
    assert mask is not None
    for half, tolerance in ((False, FLOAT32_TOLERANCE), (True, HALF_TOLERANCE)):
        path = export_swap_model(graph, tmp_path / f"swap_{half}.onnx", "onnx", half=half)
        result_face, result_mask = _run_onnx(path, {"face_in": faces})
        np.testing.assert_allclose(result_face, face, rtol=0, atol=tolerance)
        np.testing.assert_allclose(result_mask, mask, rtol=0, atol=tolerance)
        if half:
            assert np.abs(result_face - face).mean() <= HALF_MEAN_TOLERANCE
        path.unlink()


# --- DFM -----------------------------------------------------------------------------------------
def _dfm_session(path: Path):
    """The file as DeepFaceLive's DFMModel opens it: the first input's name contains 'in_face',
    a second one 'morph_value', the resolution is the input's static H and W."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    assert 1 <= len(inputs) <= 2 and "in_face" in inputs[0].name
    if len(inputs) == 2:
        assert "morph_value" in inputs[1].name
    height, width = inputs[0].shape[1:3]
    assert isinstance(height, int) and isinstance(width, int)
    return session, (height, width)


def _dfm_run(session, face: np.ndarray, morph: float | None):
    feeds = {"in_face:0": face}
    if morph is not None:
        feeds["morph_value:0"] = np.float32([morph])
    outputs = session.run(None, feeds)
    assert len(outputs) == 3
    return outputs


def test_dfm_contract_and_morph(tmp_path):
    model_dir, config = _saved_model("tiny", tmp_path, LEARN_MASK)
    graph = load_swap_graph(model_dir, configfile=config)
    path = export_swap_model(graph, tmp_path / "tiny.dfm", "dfm")
    model = onnx.load(str(path))
    assert model.ir_version <= 9
    assert max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")
               ) <= 19
    assert [value.name for value in model.graph.input] == ["in_face:0", "morph_value:0"]
    assert [value.name for value in model.graph.output] == [
        "out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]
    session, res = _dfm_session(path)
    assert res == (32, 32)
    faces = _faces((32, 32, 3))
    swap_face, swap_mask = _expected(model_dir, config, faces)
    own_face, own_mask = _expected(model_dir, config, faces, switch=True)
    face_mask, celeb_face, celeb_mask = _dfm_run(session, faces, 1.0)
    assert [out.dtype for out in (face_mask, celeb_face, celeb_mask)] == [np.float32] * 3
    np.testing.assert_allclose(celeb_face, swap_face, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(celeb_mask, swap_mask, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(face_mask, own_mask, atol=FLOAT32_TOLERANCE, rtol=0)
    _, celeb_face, celeb_mask = _dfm_run(session, faces, 0.0)
    np.testing.assert_allclose(celeb_face, own_face, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(celeb_mask, swap_mask, atol=FLOAT32_TOLERANCE, rtol=0)
    _, celeb_face, _ = _dfm_run(session, faces, 0.75)  # DeepFaceLive's default
    np.testing.assert_allclose(celeb_face, 0.75 * swap_face + 0.25 * own_face,
                               atol=FLOAT32_TOLERANCE, rtol=0)


def test_dfm_without_mask_gives_ones(tmp_path):
    model_dir, config = _saved_model("tiny", tmp_path)
    graph = load_swap_graph(model_dir, configfile=config)
    session, _ = _dfm_session(export_swap_model(graph, tmp_path / "tiny.dfm", "dfm"))
    faces = _faces((32, 32, 3), batch=1)
    face_mask, celeb_face, celeb_mask = _dfm_run(session, faces, 1.0)
    swap_face, _ = _expected(model_dir, config, faces)
    np.testing.assert_allclose(celeb_face, swap_face, atol=FLOAT32_TOLERANCE, rtol=0)
    assert celeb_mask.shape == face_mask.shape == (1, 32, 32, 1)
    assert np.all(celeb_mask == 1.0) and np.all(face_mask == 1.0)


def test_dfm_two_input_sizes_has_no_morph(tmp_path):
    """The sides take different sizes, so the own reconstruction cannot run on the input: one
    input (DeepFaceLive hides its morph slider), the celeb mask doubles as the face mask."""
    model_dir, config = _saved_model("two_sizes", tmp_path)
    graph = load_swap_graph(model_dir, configfile=config)
    path = export_swap_model(graph, tmp_path / "two.dfm", "dfm")
    session, res = _dfm_session(path)
    assert len(session.get_inputs()) == 1 and res == (48, 48)
    faces = _faces((48, 48, 3))
    face_mask, celeb_face, celeb_mask = _dfm_run(session, faces, None)
    swap_face, swap_mask = _expected(model_dir, config, faces)
    np.testing.assert_allclose(celeb_face, swap_face, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(celeb_mask, swap_mask, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_array_equal(face_mask, celeb_mask)


# --- SavedModel ----------------------------------------------------------------------------------
def test_saved_model_reloads_in_tensorflow_alone(tmp_path):
    model_dir, config = _saved_model("four_out", tmp_path)
    graph = load_swap_graph(model_dir, configfile=config)
    folder = export_swap_model(graph, tmp_path / "swap_saved_model", "saved_model")
    faces = _faces((32, 32, 3))
    np.save(tmp_path / "faces.npy", faces)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(folder)!r})
        result = loaded.serve(tf.constant(np.load({str(tmp_path / 'faces.npy')!r})))
        np.save({str(tmp_path / 'face.npy')!r}, result["face"].numpy())
        np.save({str(tmp_path / 'mask.npy')!r}, result["mask"].numpy())
        signature = loaded.signatures["serve"]
        print(sorted(signature.structured_outputs))
        ours = [name for name in sys.modules
                if name.split(".")[0] in ("lib", "plugins", "faceswap_original")]
        assert not ours, ours
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "['face', 'mask']" in done.stdout
    face, mask = _expected(model_dir, config, faces)
    np.testing.assert_allclose(np.load(tmp_path / "face.npy"), face, atol=FLOAT32_TOLERANCE,
                               rtol=0)
    np.testing.assert_allclose(np.load(tmp_path / "mask.npy"), mask, atol=FLOAT32_TOLERANCE,
                               rtol=0)
    info = json.loads((folder / "assets" / "faceswap_export.json").read_text(encoding="utf-8"))
    assert info["plugin"] == "four_out" and info["color_order"] == "bgr"


# --- models from other backends and precisions ---------------------------------------------------
_OTHER_BACKEND_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
import keras
import numpy as np
from tests.plugins.train.model.plugin_helpers import LEARN_MASK, installed_plugins, make_plugin
assert keras.backend.backend() == {backend!r}
with installed_plugins():
    plugin = make_plugin("tiny", Path({tmp!r}), LEARN_MASK)
    plugin.build()
    plugin.io.save(is_exit=True)
    faces = np.load(Path({tmp!r}) / "faces.npy")
    outputs = plugin.model.predict_on_batch([faces, faces])
    np.save(Path({tmp!r}) / "face.npy", keras.ops.convert_to_numpy(outputs[2]))
    np.save(Path({tmp!r}) / "mask.npy", keras.ops.convert_to_numpy(outputs[3]))
"""


# A subprocess per backend (about 40 s each on 2 busy cores): --runslow.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_model_saved_on_another_backend_exports(backend, tmp_path):
    """A model trained (saved) under JAX or PyTorch exports on TensorFlow, and the ONNX file
    agrees with that backend's own prediction."""
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    faces = _faces((32, 32, 3))
    np.save(tmp_path / "faces.npy", faces)
    script = _OTHER_BACKEND_SCRIPT.format(repo=str(_REPO), backend=backend, tmp=str(tmp_path))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=_REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    graph = load_swap_graph(tmp_path / "model", configfile=str(tmp_path / "train.ini"))
    path = export_swap_model(graph, tmp_path / "tiny.onnx", "onnx")
    face, mask = _run_onnx(path, {"face_in": faces})
    np.testing.assert_allclose(face, np.load(tmp_path / "face.npy"), atol=FLOAT32_TOLERANCE,
                               rtol=0)
    np.testing.assert_allclose(mask, np.load(tmp_path / "mask.npy"), atol=FLOAT32_TOLERANCE,
                               rtol=0)


def test_mixed_precision_model_exports_in_float32(tmp_path):
    options = {**LEARN_MASK, "global": {"mixed_precision": True,
                                        "mixed_precision_dtype": "float16"}}
    model_dir, config = _saved_model("tiny", tmp_path, options)
    graph = load_swap_graph(model_dir, configfile=config)
    assert {layer.dtype_policy.name for layer in graph.swap.layers} == {"float32"}
    path = export_swap_model(graph, tmp_path / "tiny.onnx", "onnx")
    faces = _faces((32, 32, 3))
    face, mask = _run_onnx(path, {"face_in": faces})
    # The float32 rebuild against the file's mixed-precision network (float16 arithmetic).
    expected_face, expected_mask = _expected(model_dir, config, faces)
    np.testing.assert_allclose(face, expected_face, atol=HALF_TOLERANCE, rtol=0)
    np.testing.assert_allclose(mask, expected_mask, atol=HALF_TOLERANCE, rtol=0)


# --- bad input -----------------------------------------------------------------------------------
def _small_graph(shape=(32, 32, 3), face_channels=3) -> SwapGraph:
    inputs = keras.Input(shape=shape, name="face_in_b")
    var_x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    face = keras.layers.Conv2D(face_channels, 3, padding="same", activation="sigmoid")(var_x)
    return SwapGraph(keras.Model(inputs, face), ExportInfo(plugin="test"))


@pytest.mark.parametrize("fmt", ["onnx", "dfm", "saved_model"])
def test_model_the_format_cannot_express(fmt, tmp_path):
    for graph, match in ((_small_graph((32, 32, 4)), "3-channel"),
                         (_small_graph((None, None, 3)), "not fixed")):
        with pytest.raises(FaceswapError, match=match):
            export_swap_model(graph, tmp_path / "out", fmt)
    if fmt == "dfm":
        with pytest.raises(FaceswapError, match="square"):
            export_swap_model(_small_graph((32, 48, 3)), tmp_path / "out", fmt)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
def test_unwritable_output(fmt, tmp_path):
    graph = _small_graph()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(FaceswapError, match="is not a folder"):
        export_swap_model(graph, blocker / "out", fmt)
    with pytest.raises(FaceswapError, match="does not exist"):
        export_swap_model(graph, tmp_path / "missing" / "out", fmt)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file"]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    graph = _small_graph()
    target = tmp_path / "swap.onnx"
    target.write_bytes(b"old")

    def fail(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(FaceswapError, match="No space left"):
        export_swap_model(graph, target, "onnx")
    monkeypatch.undo()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["swap.onnx"]
    assert target.read_bytes() == b"old"


def test_saved_model_replaces_an_old_export_whole(tmp_path):
    graph = _small_graph()
    folder = export_swap_model(graph, tmp_path / "sm", "saved_model")
    (folder / "stale.txt").write_text("old", encoding="utf-8")
    export_swap_model(graph, folder, "saved_model")
    assert not (folder / "stale.txt").exists() and (folder / "saved_model.pb").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sm"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FaceswapError, match="not empty"):
        export_swap_model(graph, tmp_path / "other", "saved_model")
    assert (tmp_path / "other" / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_half_saved_model_is_refused(tmp_path):
    with pytest.raises(FaceswapError, match="--half"):
        export_swap_model(_small_graph(), tmp_path / "sm", "saved_model", half=True)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("fmt", "stages"), [("onnx", 3), ("saved_model", 1)])
def test_progress_of_the_stages_and_the_same_file(fmt, stages, tmp_path):
    """A terminal shows a bar of the export's stages (tqdm, as Faceswap shows long jobs); what is
    written is the same with it and without it (two exports differ in generated tensor names
    only, so the ONNX files are compared by their graph, metadata and outputs)."""
    from tests.lib.progress_test import on_terminal
    graph = _small_graph()
    for folder in ("quiet", "shown"):
        (tmp_path / folder).mkdir()
    quiet = export_swap_model(graph, tmp_path / "quiet" / f"swap.{fmt}", fmt)
    with on_terminal() as terminal:
        shown = export_swap_model(graph, tmp_path / "shown" / f"swap.{fmt}", fmt)
    text = terminal.getvalue()
    assert f"Exporting {fmt}" in text and f"{stages}/{stages}" in text and "writing" in text
    if fmt == "saved_model":
        assert (sorted(path.relative_to(shown) for path in shown.rglob("*"))
                == sorted(path.relative_to(quiet) for path in quiet.rglob("*")))
        return
    assert "converting to ONNX" in text and "naming, checking" in text
    import onnx
    models = [onnx.load(str(path)) for path in (quiet, shown)]
    assert [node.op_type for node in models[0].graph.node] == [
        node.op_type for node in models[1].graph.node]
    assert [(entry.key, entry.value) for entry in models[0].metadata_props] == [
        (entry.key, entry.value) for entry in models[1].metadata_props]
    faces = _faces((32, 32, 3))
    for first, second in zip(_run_onnx(quiet, {"face_in": faces}),
                             _run_onnx(shown, {"face_in": faces}), strict=True):
        np.testing.assert_array_equal(first, second)
