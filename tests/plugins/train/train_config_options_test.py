"""No dead option in ``train.ini`` (issue 17): every option of every section (``global``,
``global.loss``, ``global.optimizer``, every ``model.<plugin>``, ``trainer.augmentation``) has a
row that builds what the option feeds with two valid values and asserts a difference (model
structure, loss value, optimizer update, feeder batch, preview, learning-rate search...), or an
entry in docs/differences.md that says why it changes nothing here.

The rows of the model plugins' sections are slow (``--runslow``): each builds the plugin twice,
small (its size options at the low end of their ranges) where the option allows. The global
options that shape the model are seen on the 32 px ``tiny`` test plugin."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.training.generator import Feeder
from plugins.train import train_config as cfg
from tests.conftest import BACKEND, _reset_keras_state
from tests.harness import to_numpy
from tests.plugins.option_walk import OptionRow, Options, check_complete, ini, run_row, table
from tests.plugins.train.model.plugin_helpers import build_network, installed_plugins, make_plugin


def _load(options: Options, folder: Path) -> None:
    """Read ``options`` into the training config, as a ``train.ini`` holding them."""
    cfg.reset_config()
    cfg.load_config(ini(options, folder, "train.ini"))


def _shape(*shape: Any) -> SimpleNamespace:
    return SimpleNamespace(shape=shape)


@pytest.fixture(autouse=True, params=[BACKEND])
def keras_state(request: pytest.FixtureRequest) -> Any:
    """conftest's fresh Keras state, with the full garbage collection (about a second) only
    after the rows that build a model plugin: most rows build nothing large."""
    _reset_keras_state()
    yield request.param
    row = getattr(request.node, "callspec", None)
    row = row.params.get("row") if row is not None else None
    _reset_keras_state(free_memory=row is not None and row.section.startswith("model."))


# --- probes --------------------------------------------------------------------------------------
def _tiny(options: Options, folder: Path) -> Any:
    """The 32 px ``tiny`` test plugin, built (and compiled) with ``options``, which stay
    loaded for the rest of the probe."""
    with installed_plugins():
        plugin = make_plugin("tiny", folder, options)
        plugin.build()
    _load(options, folder / "after")  # leaving installed_plugins() reset the config
    return plugin


def _tiny_model(options: Options, folder: Path) -> str:
    """The built model's JSON: layers, initializers, padding, dtype policies, outputs."""
    return _tiny(options, folder).model.to_json()


def _saved_size(options: Options, folder: Path) -> int:
    """The size of the model file of an interim (not exit) save, the optimizer's variables
    made."""
    plugin = _tiny(options, folder)
    plugin.model.optimizer.build(plugin.model.trainable_variables)
    plugin.io.save(is_exit=False)
    return (folder / "model" / "tiny.keras").stat().st_size


def _nan_step(options: Options, folder: Path) -> str:
    """One step of the training driver whose batch gives a NaN loss: stopped or trained on."""
    from plugins.train.trainer.original import Trainer as TrainerPlugin
    from plugins.train.training import Trainer

    class NaNLoss(TrainerPlugin):
        def train_batch(self, inputs: Any, targets: Any) -> np.ndarray:
            return np.array([np.nan, 0.5], dtype="float32")

    plugin = _tiny(options, folder)
    feeder = SimpleNamespace(get_batch=lambda: (None, None))
    trainer = Trainer(NaNLoss(plugin, 2), feeder)
    try:
        loss = trainer.train_one_step()
    except FaceswapError as err:
        return f"stopped: {err}"
    finally:
        trainer.close()
    return f"trained on, finite: {bool(np.all(np.isfinite(loss)))}"


def _nan_rollback(options: Options, folder: Path) -> str:
    """A step, a save, then a step whose loss is NaN: stopped, or rolled back (to which
    iteration, at which learning rate)."""
    from plugins.train.trainer.original import Trainer as TrainerPlugin
    from plugins.train.training import Trainer

    class NaNSecond(TrainerPlugin):
        calls = 0

        def train_batch(self, inputs: Any, targets: Any) -> np.ndarray:
            NaNSecond.calls += 1
            return np.array([np.nan if NaNSecond.calls == 2 else 0.5, 0.5], dtype="float32")

    plugin = _tiny(options, folder)
    feeder = SimpleNamespace(get_batch=lambda: (None, None), generate_preview=lambda _n: {})
    trainer = Trainer(NaNSecond(plugin, 2), feeder)
    try:
        trainer.train_one_step()
        trainer.save()
        trainer.train_one_step()
    except FaceswapError as err:
        return f"stopped: {err}"
    finally:
        trainer.close()
    rate = float(to_numpy(plugin.model.optimizer.learning_rate))
    return f"rolled back to {plugin.iterations}, learning rate {rate:.3g}"


_BEST_RATE = 1e-4


def _lr_finder(options: Options, folder: Path) -> tuple[Any, ...]:
    """``-r``: the search on the tiny model with a loss curve lowest at ``_BEST_RATE`` (the
    step is not run: the loss depends on the rate only). Returns whether training stops, the
    rate found, the steps run and the files left in the model folder."""
    from plugins.train.lr_finder import handle_lr_finder
    from plugins.train.trainer.original import Trainer as TrainerPlugin
    plugin = _tiny(options, folder)
    steps = []

    class Synthetic(TrainerPlugin):
        def train_batch(self, inputs: Any, targets: Any) -> np.ndarray:
            rate = float(to_numpy(self.model.model.optimizer.learning_rate))
            steps.append(rate)
            return np.array([1.0 + abs(np.log10(rate) - np.log10(_BEST_RATE)), 0.0])

    feeder = SimpleNamespace(get_batch=lambda: (None, None))
    stops = handle_lr_finder(Synthetic(plugin, 2), feeder, True)
    model_dir = folder / "model"
    files = sorted(path.suffix for path in model_dir.iterdir()) if model_dir.exists() else []
    return stops, plugin.state.lr_finder, len(steps), files


def _loss_values(options: Options, folder: Path) -> list[float]:
    """The loss of each output of a model with a face and a learned mask per side, on fixed
    random targets (with the mask channels the config asks for) and predictions."""
    from plugins.train.model._base.settings import Loss
    _load(options, folder)
    loss = Loss()
    loss.configure(SimpleNamespace(name="probe", outputs=[
        _shape(None, 32, 32, 3), _shape(None, 32, 32, 1)] * 2))
    rng = np.random.default_rng(0)
    channels = 3 + sum(channel != -1 for channel in Loss.mask_channels())
    faces = rng.random((2, 32, 32, 6), dtype="float32")
    faces[..., 3:] = faces[..., 3:] > 0.3  # masks
    predicted = rng.random((2, 32, 32, 3), dtype="float32")
    values = []
    for name, function in loss.functions.items():
        if name.startswith("mask"):
            values.append(float(to_numpy(function(faces[..., 3:4], predicted[..., :1]))))
        else:
            values.append(float(to_numpy(function(faces[..., :channels], predicted))))
    return values


def _optimizer_steps(options: Options, folder: Path) -> np.ndarray:
    """Eight weights after 12 updates by the configured optimizer with fixed gradients of
    changing sizes."""
    from plugins.train.model._base.settings import Optimizer
    _load(options, folder)
    optimizer = Optimizer().optimizer
    variable = keras.Variable(np.linspace(-1, 1, 8, dtype="float32"))
    rng = np.random.default_rng(0)
    for scale in (5.0, 0.5, 3.0, 0.1, 8.0, 1.0, 0.2, 4.0, 0.3, 2.0, 6.0, 0.05):
        gradient = (rng.normal(size=8) * scale).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return to_numpy(variable)


def _faces(folder: Path) -> dict[str, Path]:
    """Four 64 px simple-format faces a side, with a soft-edged alpha mask and landmarks."""
    import cv2

    from tests.lib.training.generator_test import _face, _landmarks
    for index, side in enumerate("ab"):
        (folder / side).mkdir(parents=True)
        for number in range(4):
            face = _face(64, index * 100 + number)
            face[..., 3] = cv2.GaussianBlur(face[..., 3], (15, 15), 0)
            cv2.imwrite(str(folder / side / f"face_{number}.png"), face)
        (folder / side / "landmarks.json").write_text(json.dumps(
            {f"face_{number}.png": _landmarks(64) for number in range(4)}))
    return {side: folder / side for side in "ab"}


def _batch(options: Options, folder: Path) -> tuple[np.ndarray, ...]:
    """The feeder's first batch (seeded) for a 32 px model with a learned mask, from 64 px
    faces in the simple format (alpha mask, landmarks)."""
    from plugins.train.training import feeder_options
    from tests.lib.training.generator_test import _fake_model
    _load(options, folder)
    model = _fake_model(outputs=((32, 3), (32, 1)))
    with Feeder({side: str(path) for side, path in _faces(folder).items()}, model, 2,
                feeder_options(None), seed=0, workers=1) as feeder:
        inputs, targets = feeder.get_batch()
    return (np.asarray(inputs), *[np.asarray(target) for target in targets])


def _faceswap_batch(options: Options, folder: Path) -> tuple[np.ndarray, ...]:
    """The feeder's first batch (seeded) for a 32 px model from Faceswap extracts (128 px,
    holding the ``components`` and ``extended`` masks)."""
    from plugins.train.training import feeder_options
    from tests.lib.align.faces import draw_frame, face_variants, write_extract
    from tests.lib.training.generator_test import _fake_model
    _load(options, folder)
    for side, seed in (("a", 0), ("b", 1)):
        (folder / side).mkdir(parents=True)
        for index, landmarks in enumerate(face_variants(2, seed)):
            write_extract(folder / side / f"frame{index:03d}_0.png", landmarks,
                          draw_frame(landmarks, seed=seed * 100 + index), 128)
    with Feeder({side: str(folder / side) for side in "ab"}, _fake_model(), 2,
                feeder_options(None), seed=0, workers=1) as feeder:
        inputs, targets = feeder.get_batch()
    return (np.asarray(inputs), *[np.asarray(target) for target in targets])


def _tint(options: Options, folder: Path) -> np.ndarray:
    """The preview's tint of a fixed face outside a fixed learned mask."""
    from plugins.train.trainer import _display
    _load(options, folder)
    faces = np.full((1, 16, 16, 3), 128.0, dtype="float32")
    masks = np.zeros((1, 16, 16, 1), dtype="float32")
    masks[:, 4:12, 4:12] = 1
    return _display._tint(faces, masks, 16)  # pylint: disable=protected-access


def _preview_count(options: Options, folder: Path) -> int:
    from plugins.train.training import preview_count
    _load(options, folder)
    return preview_count()


def _convert_batch(options: Options, folder: Path) -> list[int]:
    """The batch sizes the frame converter feeds the model (its batch size from ``model_swap``,
    as ``convert`` sets it) for five frames of four faces."""
    from faceswap_original.convert import model_swap
    from plugins.convert.frame_convert import ConvertFace, ConvertFrame, FrameConverter
    from plugins.convert.mask.mask_blend import MaskBlend
    from tests.plugins.convert.frame_convert_test import _frame, _matrix
    _load(options, folder)
    network = SimpleNamespace(inputs=[_shape(None, 32, 32, 3)],
                              outputs=[_shape(None, 32, 32, 3)])
    seen = []

    def predict(feed: np.ndarray) -> list[np.ndarray]:
        seen.append(len(feed))
        return [feed]

    swap = model_swap(SimpleNamespace(model=network, coverage_ratio=1.0, color_order="bgr"),
                      predict=predict)
    converter = FrameConverter(swap["predict"], 32, 32, mask_blend=MaskBlend("none", 32),
                               batch_size=swap["batch_size"], jobs=1)
    faces = [ConvertFace(_matrix(30 + 20 * index, 45, 30, 0)) for index in range(4)]
    frames = [ConvertFrame(f"frame_{index}.png", _frame(index), faces) for index in range(5)]
    assert len(list(converter.convert(frames))) == 5
    return seen


@functools.lru_cache(maxsize=None)
def _built(plugin: str, options: str) -> tuple[int, str]:
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        model = build_network(make_plugin(plugin, Path(folder), json.loads(options)))
        return model.count_params(), model.to_json()


def _network(plugin: str) -> Any:
    """A probe building plugin ``plugin``'s bare network: its parameter count and JSON (builds
    are cached for the session, so the defaults build once)."""
    def probe(options: Options, folder: Path) -> tuple[int, str]:
        del folder
        return _built(plugin, json.dumps(options, sort_keys=True))
    return probe


def _frozen(options: Options, folder: Path) -> int:
    """Phaze-A built (small) with ``-f/--freeze-weights``: its trainable weights."""
    with installed_plugins():
        plugin = make_plugin("phaze_a", folder, options, freeze_weights=True)
        plugin.build()
    return len(plugin.model.trainable_weights)


def _loaded(options: Options, folder: Path) -> list[bool]:
    """Phaze-A built (small) with ``-l/--load-weights`` of another Phaze-A: which weights are
    the other model's."""
    source = make_plugin("phaze_a", folder / "source", options)
    source.build()
    source.io.save(is_exit=True)
    weights = [to_numpy(weight) for weight in source.model.weights]
    plugin = make_plugin("phaze_a", folder / "target", options,
                         load_weights=str(source.io.filename))
    plugin.build()
    return [bool(np.array_equal(to_numpy(weight), loaded))
            for weight, loaded in zip(plugin.model.weights, weights, strict=True)]


def _imagenet(options: Options, folder: Path) -> list[Any]:
    """Phaze-A (small, MobileNet encoder) built with the Keras application's constructor
    recorded: the ``weights`` it is asked for (``"imagenet"`` would be downloaded; the build
    here goes on without weights)."""
    import keras.applications as applications
    real, seen = applications.MobileNet, []

    def record(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("weights"))
        return real(*args, **{**kwargs, "weights": None})

    with mock.patch.object(applications, "MobileNet", record):
        build_network(make_plugin("phaze_a", folder, options))
    return seen


# --- the table -----------------------------------------------------------------------------------
def _row(section: str, option: str, values: tuple[Any, Any], probe: Any, base: Options | None
         = None, slow: bool = False) -> OptionRow:
    return OptionRow(section, option, values, probe, base or {}, slow)


_G, _L, _O, _T = "global", "global.loss", "global.optimizer", "trainer.augmentation"
_OFFSET = {_G: {"vertical_offset": 20}}
_USE_EMA = {_O: {"use_ema": True, "ema_frequency": 10}}
_MIXED = {_G: {"mixed_precision": True}}
_SHORT_SEARCH = {_G: {"lr_finder_iterations": 100}}
_CLAHE = {_T: {"color_clahe_chance": 75}}

GLOBAL_ROWS = [
    _row(_G, "centering", ("face", "head"), _batch, _OFFSET),
    _row(_G, "coverage", (62.5, 100.0), _batch),
    _row(_G, "vertical_offset", (0, 20), _batch),
    _row(_G, "icnr_init", (False, True), _tiny_model),
    _row(_G, "conv_aware_init", (False, True), _tiny_model),
    _row(_G, "lr_finder_iterations", (100, 200), _lr_finder),
    _row(_G, "lr_finder_mode", ("set", "graph_and_exit"), _lr_finder, _SHORT_SEARCH),
    _row(_G, "lr_finder_strength", ("default", "extreme"), _lr_finder, _SHORT_SEARCH),
    _row(_G, "reflect_padding", (False, True), _tiny_model),
    _row(_G, "mixed_precision", (False, True), _tiny_model, {_G: {"mixed_precision_dtype":
                                                                  "float16"}}),
    _row(_G, "mixed_precision_dtype", ("float16", "bfloat16"), _tiny_model, _MIXED),
    _row(_G, "nan_protection", (False, True), _nan_step),
    _row(_G, "nan_rollbacks", (0, 1), _nan_rollback),
    _row(_G, "nan_rollback_factor", (0.5, 0.25), _nan_rollback, {_G: {"nan_rollbacks": 1}}),
    _row(_G, "convert_batchsize", (16, 7), _convert_batch),
]

LOSS_ROWS = [
    _row(_L, "loss_function", ("ssim", "mae"), _loss_values),
    _row(_L, "loss_function_2", ("mse", "mae"), _loss_values),
    _row(_L, "loss_weight_2", (100, 50), _loss_values),
    _row(_L, "loss_function_3", ("none", "mae"), _loss_values, {_L: {"loss_weight_3": 50}}),
    _row(_L, "loss_weight_3", (0, 50), _loss_values, {_L: {"loss_function_3": "mae"}}),
    _row(_L, "loss_function_4", ("none", "mae"), _loss_values, {_L: {"loss_weight_4": 50}}),
    _row(_L, "loss_weight_4", (0, 50), _loss_values, {_L: {"loss_function_4": "mae"}}),
    _row(_L, "mask_loss_function", ("mse", "mae"), _loss_values),
    _row(_L, "eye_multiplier", (3, 6), _loss_values),
    _row(_L, "mouth_multiplier", (2, 6), _loss_values),
    _row(_L, "penalized_mask_loss", (True, False), _loss_values),
    _row(_L, "mask_type", ("components", "extended"), _faceswap_batch),
    _row(_L, "mask_dilation", (0.0, 5.0), _batch),
    _row(_L, "mask_blur_kernel", (0, 9), _batch),
    _row(_L, "mask_threshold", (0, 50), _batch),
    _row(_L, "learn_mask", (False, True), _tiny_model),
]

OPTIMIZER_ROWS = [
    _row(_O, "optimizer", ("adam", "nadam"), _optimizer_steps),
    _row(_O, "learning_rate", (5e-5, 1e-4), _optimizer_steps),
    _row(_O, "epsilon_exponent", (-7, 0), _optimizer_steps),
    _row(_O, "save_optimizer", ("never", "always"), _saved_size),
    _row(_O, "gradient_clipping", ("none", "value"), _optimizer_steps),
    _row(_O, "clipping_value", (1.0, 5.0), _optimizer_steps, {_O: {"gradient_clipping": "norm"}}),
    _row(_O, "autoclip_history", (0, 1000), _optimizer_steps,
         {_O: {"gradient_clipping": "autoclip"}}),
    _row(_O, "weight_decay", (0.0, 0.1), _optimizer_steps),
    _row(_O, "gradient_accumulation", (1, 2), _optimizer_steps),
    _row(_O, "use_ema", (False, True), _optimizer_steps, {_O: {"ema_frequency": 10}}),
    _row(_O, "ema_momentum", (0.5, 0.99), _optimizer_steps, _USE_EMA),
    _row(_O, "ema_frequency", (10, 20), _optimizer_steps, _USE_EMA),
    _row(_O, "ada_beta_1", (0.9, 0.5), _optimizer_steps),
    _row(_O, "ada_beta_2", (0.999, 0.9), _optimizer_steps),
    _row(_O, "ada_amsgrad", (False, True), _optimizer_steps),
]

TRAINER_ROWS = [
    _row(_T, "preview_images", (14, 4), _preview_count),
    _row(_T, "mask_opacity", (30, 80), _tint),
    _row(_T, "mask_color", ("#ff0000", "#00ff00"), _tint),
    _row(_T, "zoom_amount", (0, 25), _batch),
    _row(_T, "rotation_range", (0, 25), _batch),
    _row(_T, "shift_range", (0, 25), _batch),
    _row(_T, "flip_chance", (0, 75), _batch),
    _row(_T, "color_lightness", (0, 75), _batch),
    _row(_T, "color_ab", (0, 50), _batch),
    _row(_T, "color_clahe_chance", (0, 75), _batch),
    _row(_T, "color_clahe_max_size", (1, 8), _batch, _CLAHE),
]

# Model plugins (slow rows: each builds a plugin twice, about a second each even when small):
# built small where their options allow.
_SMALL_SAE = {"input_size": 64, "autoencoder_dims": 64, "encoder_dims": 21, "decoder_dims": 10}
_SMALL_UNBALANCED = {"input_size": 64, "nodes": 512, "complexity_encoder": 64,
                     "complexity_decoder_a": 64, "complexity_decoder_b": 64}
_SMALL_PHAZE = {"output_size": 64, "bottleneck_size": 128, "fc_min_filters": 16,
                "fc_max_filters": 128, "fc_upsample_filters": 128, "fc_gblock_min_nodes": 128,
                "fc_gblock_max_nodes": 128, "dec_min_filters": 16, "dec_max_filters": 256,
                "fs_original_depth": 2, "fs_original_min_filters": 16,
                "fs_original_max_filters": 256, "enc_load_weights": False}
_MOBILENET = {**_SMALL_PHAZE, "enc_architecture": "mobilenet", "enc_scaling": 20}
_MOBILENET_V3 = {**_SMALL_PHAZE, "enc_architecture": "mobilenet_v3_small", "enc_scaling": 20}


def _plugin_rows(plugin: str, rows: list[tuple[str, tuple[Any, Any]]],
                 base: dict[str, Any] | None = None) -> list[OptionRow]:
    section = f"model.{plugin}"
    return [_row(section, option, values, _network(plugin),
                 {section: dict(base)} if base else None, slow=True)
            for option, values in rows]


def _phaze(option: str, values: tuple[Any, Any], base: dict[str, Any] | None = None,
           probe: Any = None) -> OptionRow:
    return _row("model.phaze_a", option, values, probe or _network("phaze_a"),
                {"model.phaze_a": {**_SMALL_PHAZE, **(base or {})}}, slow=True)


MODEL_ROWS = [
    *_plugin_rows("dfaker", [("output_size", (128, 256))]),
    *_plugin_rows("dfl_h128", [("lowmem", (False, True))]),
    *_plugin_rows("original", [("lowmem", (False, True))]),
    *_plugin_rows("villain", [("lowmem", (False, True))]),
    *_plugin_rows("dlight", [("features", ("best", "lowmem")), ("details", ("good", "fast")),
                             ("output_size", (256, 128))]),
    *_plugin_rows("realface", [("input_size", (64, 128)), ("output_size", (128, 64)),
                               ("dense_nodes", (1536, 768)), ("complexity_encoder", (128, 96)),
                               ("complexity_decoder", (512, 544))]),
    *_plugin_rows("dfl_sae", [("input_size", (64, 96)), ("architecture", ("df", "liae")),
                              ("autoencoder_dims", (64, 128)), ("encoder_dims", (21, 32)),
                              ("decoder_dims", (10, 16)),
                              ("multiscale_decoder", (False, True))], _SMALL_SAE),
    *_plugin_rows("unbalanced", [("input_size", (64, 128)), ("lowmem", (False, True)),
                                 ("nodes", (512, 768)), ("complexity_encoder", (64, 96)),
                                 ("complexity_decoder_a", (64, 96)),
                                 ("complexity_decoder_b", (64, 96))], _SMALL_UNBALANCED),
    _phaze("output_size", (64, 128)),
    _phaze("shared_fc", ("none", "full")),
    _phaze("enable_gblock", (True, False)),
    _phaze("split_fc", (True, False)),
    _phaze("split_gblock", (False, True)),
    _phaze("split_decoders", (False, True)),
    _phaze("enc_architecture", ("fs_original", "mobilenet"), {"enc_scaling": 20}),
    _phaze("enc_scaling", (20, 40), _MOBILENET),
    _phaze("enc_load_weights", (False, True), _MOBILENET, probe=_imagenet),
    _phaze("bottleneck_type", ("dense", "average_pooling")),
    _phaze("bottleneck_norm", ("none", "layer")),
    _phaze("bottleneck_size", (128, 256)),
    _phaze("bottleneck_in_encoder", (True, False)),
    _phaze("fc_depth", (1, 2)),
    _phaze("fc_min_filters", (16, 64), {"fc_depth": 3}),
    _phaze("fc_max_filters", (128, 256), {"fc_depth": 3}),
    _phaze("fc_dimensions", (4, 2)),
    _phaze("fc_filter_slope", (-0.5, 0.5), {"fc_depth": 3}),
    _phaze("fc_dropout", (0.0, 0.5)),
    _phaze("fc_upsampler", ("upsample2d", "subpixel")),
    _phaze("fc_upsamples", (1, 0)),
    _phaze("fc_upsample_filters", (128, 256), {"fc_upsampler": "subpixel"}),
    _phaze("fc_gblock_depth", (3, 2)),
    _phaze("fc_gblock_min_nodes", (128, 256), {"fc_gblock_max_nodes": 512}),
    _phaze("fc_gblock_max_nodes", (128, 256)),
    _phaze("fc_gblock_filter_slope", (-0.5, 0.5), {"fc_gblock_max_nodes": 512}),
    _phaze("fc_gblock_dropout", (0.0, 0.5)),
    _phaze("dec_upscale_method", ("subpixel", "resize_images")),
    _phaze("dec_upscales_in_fc", (0, 1)),
    _phaze("dec_norm", ("none", "instance")),
    _phaze("dec_min_filters", (16, 32)),
    _phaze("dec_max_filters", (256, 512)),
    _phaze("dec_slope_mode", ("full", "cap_max")),
    _phaze("dec_filter_slope", (-0.45, 0.45)),
    _phaze("dec_res_blocks", (1, 2)),
    _phaze("dec_output_kernel", (5, 3)),
    _phaze("dec_gaussian", (True, False)),
    _phaze("dec_skip_last_residual", (True, False)),
    _phaze("freeze_layers", ("encoder", "decoder_both"), probe=_frozen),
    _phaze("load_layers", ("encoder", "decoder_both"), probe=_loaded),
    _phaze("fs_original_depth", (2, 3)),
    _phaze("fs_original_min_filters", (16, 32)),
    _phaze("fs_original_max_filters", (256, 512),
           {"fs_original_depth": 4, "fs_original_min_filters": 64}),
    _phaze("fs_original_use_alt", (False, True)),
    _phaze("mobilenet_width", (1.0, 0.5), _MOBILENET),
    _phaze("mobilenet_depth", (1, 2), _MOBILENET),
    _phaze("mobilenet_minimalistic", (False, True), _MOBILENET_V3),
]

ROWS = GLOBAL_ROWS + LOSS_ROWS + OPTIMIZER_ROWS + TRAINER_ROWS + MODEL_ROWS


def test_every_option_has_a_row_or_a_reason() -> None:
    """The table and docs/differences.md together name every option of ``train.ini``, and
    nothing else; both values of every row are valid."""
    cfg.reset_config()
    check_complete(cfg.get_config(), ROWS, ("global", "model.", "trainer."))


@pytest.mark.parametrize("row", table(ROWS))
def test_option_changes_behaviour(row: OptionRow, tmp_path: Path) -> None:
    run_row(row, tmp_path)


def _losses_built(options: Options, folder: Path) -> list[str]:
    """The loss functions built for a model with a face and a learned mask per side."""
    from plugins.train.model._base.settings import Loss
    _load(options, folder)
    loss = Loss()
    loss.configure(SimpleNamespace(name="probe", outputs=[
        _shape(None, 64, 64, 3), _shape(None, 64, 64, 1)] * 2))
    return [type(function).__name__ for function in loss.functions.values()]


def _optimizer_built(options: Options, folder: Path) -> str:
    from plugins.train.model._base.settings import Optimizer
    _load(options, folder)
    return type(Optimizer().optimizer).__name__


# Options whose every choice is used (built), not only refused ("an option that can only be
# rejected is not offered"): (section, option, probe, other options).
_EVERY_CHOICE = [
    (_L, "loss_function", _losses_built, {}),
    (_L, "loss_function_2", _losses_built, {}),
    (_L, "loss_function_3", _losses_built, {_L: {"loss_weight_3": 50}}),
    (_L, "loss_function_4", _losses_built, {_L: {"loss_weight_4": 50}}),
    (_L, "mask_loss_function", _losses_built, {}),
    (_O, "optimizer", _optimizer_built, {}),
    (_O, "gradient_clipping", _optimizer_built, {}),
    (_G, "mixed_precision_dtype", _tiny_model, _MIXED),
    (_G, "centering", _batch, _OFFSET),
]


@pytest.mark.parametrize(("section", "option", "probe", "base"), [
    pytest.param(*entry, id=f"{entry[0]}.{entry[1]}") for entry in _EVERY_CHOICE])
def test_every_choice_is_usable(section: str, option: str, probe: Any, base: Options,
                                tmp_path: Path) -> None:
    cfg.reset_config()
    choices = cfg.get_config().sections[section].items[option].choices
    assert choices
    for index, choice in enumerate(choices):
        options = {name: dict(values) for name, values in base.items()}
        options.setdefault(section, {})[option] = choice
        assert probe(options, tmp_path / str(index)) is not None, choice


def test_probe_sees_no_change_without_one(tmp_path: Path) -> None:
    """The probes are deterministic: the same options twice give the same observation (so a
    difference in a row comes from the option)."""
    from tests.plugins.option_walk import differ
    for probe in (_batch, _loss_values, _optimizer_steps, _tiny_model):
        first = probe({}, tmp_path / probe.__name__ / "1")
        assert not differ(first, probe({}, tmp_path / probe.__name__ / "2")), probe.__name__
