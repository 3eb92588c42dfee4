"""The Phaze-A plugin: parameter counts, sub-models, shapes, options, reload with new dropout
rates, freezing the Keras encoder, the offline-weights error and other encoders."""
from __future__ import annotations

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
from plugins.train.model import phaze_a, phaze_a_defaults
from plugins.train.model._base import get_all_sub_models
from tests.harness import to_numpy
from tests.plugins.train.model.plugin_helpers import (
    LEARN_MASK,
    build_network,
    forward_outputs,
    layer_names,
    make_plugin,
    random_faces,
    sub_model_names,
)
from tests.plugins.train.model.plugin_table import BuildCase, check_build, table

_DEFAULT_SUB_MODELS = ["phaze_a", "encoder", "fc_a", "fc_gblock", "fc_b", "g_block_both",
                       "decoder_both"]
# Narrow layers for the tests of behaviour (not of counts): builds take a fraction of a second.
_SMALL = {"fc_min_filters": 128, "fc_max_filters": 128, "fc_gblock_min_nodes": 128,
          "fc_gblock_max_nodes": 128, "dec_max_filters": 256, "fs_original_max_filters": 256,
          "bottleneck_size": 128}
_REPO = Path(__file__).resolve().parents[4]


def _build(tmp_path, options=None, learn_mask=False):
    config = {"model.phaze_a": dict(options or {})}
    if learn_mask:
        config.update(LEARN_MASK)
    plugin = make_plugin("phaze_a", tmp_path, config)
    return plugin, build_network(plugin)


def _small(**options):
    return {**_SMALL, **options}


def _sub_model(model, name):
    return {sub.name: sub for sub in get_all_sub_models(model)}[name]


def _upscale_filters(decoder):
    """The filters of the decoder's (subpixel) upscales, read from the block names
    ``upscale_{filters}_{n}_...`` in layer order."""
    filters = []
    for layer in decoder.layers:
        if layer.name.startswith("upscale_") and layer.name.endswith("_pixelshuffler"):
            filters.append(int(layer.name.split("_")[1]))
    return filters


# --- defaults and helpers ------------------------------------------------------------------------
def test_defaults_file():
    items = {name: value for name, value in vars(phaze_a_defaults).items()
             if type(value).__name__ == "ConfigItem"}
    assert len(items) == 48
    assert list(items)[:3] == ["output_size", "shared_fc", "enable_gblock"]
    assert [name for name, item in items.items() if not item.fixed] == [
        "fc_dropout", "fc_gblock_dropout", "freeze_layers"]
    expected = {"output_size": (int, 128, (64, 2048)), "enc_architecture": (str, "fs_original",
                                                                            None),
                "enc_scaling": (int, 7, (0, 200)), "enc_load_weights": (bool, True, None),
                "bottleneck_size": (int, 1024, (128, 4096)), "fc_depth": (int, 1, (0, 16)),
                "fc_filter_slope": (float, -0.5, (-0.99, 0.99)),
                "fc_dropout": (float, 0.0, (0.0, 0.99)), "fc_upsamples": (int, 1, (0, 4)),
                "fc_gblock_depth": (int, 3, (1, 16)), "dec_upscales_in_fc": (int, 0, (0, 6)),
                "dec_filter_slope": (float, -0.45, (-0.99, 0.99)),
                "dec_output_kernel": (int, 5, (1, 9)), "freeze_layers": (list, ["keras_encoder"],
                                                                         None),
                "load_layers": (list, ["encoder"], None),
                "fs_original_max_filters": (int, 1024, (256, 8192)),
                "mobilenet_dropout": (float, 0.001, (0.001, 2.0))}
    for name, (datatype, default, min_max) in expected.items():
        item = items[name]
        assert (item.datatype, item.default, item.min_max) == (datatype, default, min_max), name
    assert items["dec_norm"].choices == ["none", "batch", "group", "instance", "layer", "rms"]
    assert "keras_encoder" in items["freeze_layers"].choices
    assert "keras_encoder" not in items["load_layers"].choices
    assert len(phaze_a_defaults._ENCODERS) == 47
    assert sorted(phaze_a_defaults._ENCODERS) == sorted(phaze_a._MODEL_MAPPING)
    assert items["enc_architecture"].choices == phaze_a_defaults._ENCODERS


def test_encoder_names_exist_in_keras():
    for arch, info in phaze_a._MODEL_MAPPING.items():
        if info.keras_name and not arch.startswith("clipv_"):
            assert hasattr(keras.applications, info.keras_name), arch
    assert [arch for arch, info in phaze_a._MODEL_MAPPING.items()
            if info.color_order == "bgr"] == ["fs_original", "vgg16", "vgg19"]


@pytest.mark.parametrize(("args", "expected"), [
    # full mode: hand-computed from y = (x - x*k) / (k - 2k|x| + 1), scaled and floored to 8
    ((512, 64, 4, -0.45), [512, 256, 128, 64]),
    ((256, 64, 5, -0.45), [256, 160, 112, 80, 64]),
    ((512, 64, 3, 0.5), [512, 400, 64]),
    ((512, 64, 3, -0.5), [512, 176, 64]),
    ((0, 800, 5, 0.0), [0, 200, 400, 600, 800]),
    ((16384, 16384, 1, -0.5), [16384]),
    ((512, 512, 3, -0.5), [512, 512, 512]),
    ((512, 64, 0, -0.5), []),
])
def test_get_curve_full(args, expected):
    assert phaze_a._get_curve(*args) == expected


@pytest.mark.parametrize(("mode", "num_points", "expected"), [
    ("cap_min", 6, [512, 256, 128, 64, 64, 64]),
    ("cap_max", 6, [512, 512, 512, 256, 128, 64]),
    ("cap_min", 3, [512, 256, 128]),
    ("cap_max", 3, [256, 128, 64]),
    ("cap_max", 4, [512, 256, 128, 64]),
])
def test_get_curve_capped(mode, num_points, expected):
    assert phaze_a._get_curve(512, 64, num_points, 0.5, mode=mode) == expected
    # the sign of the slope does not matter in the capped modes
    assert phaze_a._get_curve(512, 64, num_points, -0.5, mode=mode) == expected


def test_get_curve_errors_and_zero_slope():
    with pytest.raises(ValueError, match="Unknown curve mode 'half'"):
        phaze_a._get_curve(512, 64, 4, 0.5, mode="half")
    assert phaze_a._get_curve(512, 64, 3, 0.0, mode="cap_min") == [512, 512, 512]
    assert phaze_a._get_curve(512, 64, 3, 0.0, mode="cap_max") == [512, 512, 512]


@pytest.mark.parametrize(("target", "dim", "expected"),
                         [(128, 8, 8), (192, 8, 6), (256, 16, 16), (320, 8, 5), (64, 64, 64),
                          (128, 3, 2)])
def test_scale_dim(target, dim, expected):
    assert phaze_a._scale_dim(target, dim) == expected


def test_get_upscale_layer():
    layer = phaze_a._get_upscale_layer("upsample2d", 64, upsamples=4, interpolation="bilinear")
    assert isinstance(layer, keras.layers.UpSampling2D)
    assert tuple(layer.size) == (4, 4) and layer.interpolation == "bilinear"
    assert type(phaze_a._get_upscale_layer("upscale_dny", 64)).__name__ == "UpscaleDNYBlock"
    with pytest.raises(ValueError, match="Unknown upscale method 'bogus'"):
        phaze_a._get_upscale_layer("bogus", 64)


def test_mobilenet_v3_gets_its_options(tmp_path):
    make_plugin("phaze_a", tmp_path, {"model.phaze_a": {
        "enc_architecture": "mobilenet_v3_large", "mobilenet_width": 0.75,
        "mobilenet_minimalistic": True}})
    info, kwargs = phaze_a.Encoder((64, 64, 3))._selected_model
    assert info.keras_name == "MobileNetV3Large"
    assert kwargs == {"alpha": 0.75, "minimalistic": True, "include_preprocessing": False}


# --- the builds ---------------------------------------------------------------------------
def _default_structure(model):
    """The default build's own checks: the encoder's blocks, the dropouts of the fully
    connected layers, the decoder's upscales, and a forward pass."""
    encoder = _sub_model(model, "encoder")
    names = [layer.name for layer in encoder.layers]
    assert [f"fs_enc_convblk_{idx}_conv2d" for idx in range(4)] == [
        name for name in names if name.startswith("fs_enc_convblk_") and
        name.endswith("_conv2d")]
    assert tuple(encoder.output.shape) == (None, 1024)
    assert [layer.name for layer in _sub_model(model, "fc_a").layers
            if isinstance(layer, keras.layers.Dropout)] == ["0.0_0"]
    assert [layer.name for layer in _sub_model(model, "fc_gblock").layers
            if isinstance(layer, keras.layers.Dropout)] == ["0.0_0", "0.0_1", "0.0_2"]
    decoder = _sub_model(model, "decoder_both")
    assert _upscale_filters(decoder) == [512, 256, 128, 64]

    outputs = forward_outputs(model, 64)
    assert [output.shape for output in outputs] == [(1, 128, 128, 3)] * 2


_FACE = [(None, 128, 128, 3)] * 2
CASES = [
    BuildCase(
        "default", "phaze_a", 123_766_211, _FACE, smoke=True,
        attributes={"model_name": "phaze_a", "input_shape": (64, 64, 3), "color_order": "bgr"},
        sub_models=_DEFAULT_SUB_MODELS, input_shapes=[(None, 64, 64, 3)] * 2,
        layers={"decoder_both": ("face_out_0",)}, extra=_default_structure),
    BuildCase(
        "learn_mask", "phaze_a", 148_839_172, [(None, 128, 128, 3), (None, 128, 128, 1)] * 2,
        options=LEARN_MASK, sub_models=_DEFAULT_SUB_MODELS,
        layers={"decoder_both": ("mask_out_0",)}),
    BuildCase(
        "no_gblock", "phaze_a", 98_851_267, _FACE, slow=True,
        options={"model.phaze_a": {"enable_gblock": False}},
        sub_models=["phaze_a", "encoder", "fc_a", "fc_b", "decoder_both"]),
    BuildCase(
        "resnet50", "phaze_a", 146_916_419, _FACE, slow=True,
        options={"model.phaze_a": {"enc_architecture": "resnet50", "enc_scaling": 50,
                                   "enc_load_weights": False}},
        attributes={"input_shape": (112, 112, 3), "color_order": "rgb"},
        sub_models=["phaze_a", "encoder", "resnet50", *_DEFAULT_SUB_MODELS[2:]]),
]


@pytest.mark.parametrize("case", table(CASES))
def test_build(case, tmp_path):
    check_build(case, tmp_path)


# --- options -------------------------------------------------------------------------------------
def test_output_sizes_do_not_leak_filters(tmp_path):
    """Faceswap reuses the first build's decoder filters in a later build (stale class list)."""
    _, model = _build(tmp_path, _small())
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    assert _upscale_filters(_sub_model(model, "decoder_both")) == [256, 144, 88, 64]
    _, model = _build(tmp_path, _small(output_size=256))
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 256, 256, 3)] * 2
    assert _upscale_filters(_sub_model(model, "decoder_both")) == [256, 160, 112, 80, 64]
    _, model = _build(tmp_path, _small())
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2


def test_output_size_must_be_a_multiple_of_64(tmp_path):
    with pytest.raises(FaceswapError, match=r"multiple of 64.*`output_size` is 96.*"
                                            r"\[model\.phaze_a\]"):
        make_plugin("phaze_a", tmp_path, {"model.phaze_a": {"output_size": 96}})


def test_unavailable_encoder_raises(tmp_path, monkeypatch):
    info = phaze_a._MODEL_MAPPING["resnet50"]
    monkeypatch.setitem(phaze_a._MODEL_MAPPING, "resnet50",
                        phaze_a._EncoderInfo(keras_name=info.keras_name, default_size=224,
                                             keras_min=(99, 0)))
    with pytest.raises(FaceswapError, match=r"'resnet50' encoder needs Keras 99\.0.*"
                                            r"`enc_architecture`"):
        make_plugin("phaze_a", tmp_path, {"model.phaze_a": {"enc_architecture": "resnet50"}})


def test_fc_reshape_error(tmp_path):
    with pytest.raises(FaceswapError, match=r"cannot reshape 1024 nodes to \(3, 3, filters\)"):
        _build(tmp_path, {"fc_depth": 0, "fc_dimensions": 3, "fs_original_max_filters": 256})


def test_group_norm_needs_channels_in_groups_of_32(tmp_path):
    """The small build's upscales have 256, 144, 88 and 64 filters: 144 cannot be split into
    GroupNormalization's 32 groups, which is a clear error naming the options."""
    with pytest.raises(FaceswapError, match=r"'dec_norm = group'.*144 channels.*"
                                            r"'dec_min_filters'"):
        _build(tmp_path, _small(dec_norm="group"))


def test_upscales_in_fc_with_mask_and_gblock(tmp_path):
    """Faceswap crashes on this combination ('list' object has no attribute 'shape')."""
    _, model = _build(tmp_path, _small(dec_upscales_in_fc=2), learn_mask=True)
    assert [tuple(tensor.shape) for tensor in model.outputs] == [
        (None, 128, 128, 3), (None, 128, 128, 1)] * 2
    fc_a = _sub_model(model, "fc_a")
    assert [tuple(tensor.shape) for tensor in fc_a.outputs] == [(None, 32, 32, 144)] * 2
    g_block = _sub_model(model, "g_block_both")
    assert [tuple(tensor.shape) for tensor in g_block.inputs] == [(None, 32, 32, 144),
                                                                 (None, 128)]
    decoder = _sub_model(model, "decoder_both")
    assert len(decoder.inputs) == 2
    # the last two of the four upscales [256, 144, 88, 64], for the face then the mask branch
    assert _upscale_filters(decoder) == [88, 88, 64, 64]


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    {"dec_upscales_in_fc": 2, "enable_gblock": False, "LM": True},
    {"dec_upscales_in_fc": 1, "shared_fc": "full", "LM": True},
    {"shared_fc": "half", "LM": True},
    {"shared_fc": "full", "split_fc": False, "split_gblock": True, "split_decoders": True},
    {"fc_upsampler": "subpixel", "fc_upsamples": 2},
    {"fc_upsampler": "upscale_fast"}, {"fc_upsampler": "upscale_hybrid"},
    {"fc_upsampler": "resize_images"}, {"fc_upsamples": 0}, {"fc_depth": 0},
    {"fc_depth": 3, "fc_min_filters": 64}, {"output_size": 192},
    {"dec_upscale_method": "upscale_dny", "LM": True},
    {"dec_upscale_method": "resize_images"}, {"dec_upscale_method": "upscale_fast"},
    {"dec_upscale_method": "upscale_hybrid"},
    {"dec_norm": "batch"}, {"dec_norm": "instance"}, {"dec_norm": "layer"}, {"dec_norm": "rms"},
    {"dec_norm": "group", "dec_max_filters": 512},
    {"bottleneck_type": "average_pooling", "bottleneck_norm": "instance"},
    {"bottleneck_type": "max_pooling", "bottleneck_norm": "layer"},
    {"bottleneck_type": "flatten", "bottleneck_norm": "rms"}, {"bottleneck_in_encoder": False},
    {"fs_original_use_alt": True}, {"dec_slope_mode": "cap_max", "output_size": 256},
    {"dec_slope_mode": "cap_min", "output_size": 256}, {"dec_res_blocks": 0},
    {"dec_skip_last_residual": False, "dec_gaussian": False},
], ids=lambda options: "-".join(f"{key}={value}" for key, value in options.items()))
def test_variants_build(tmp_path, options):
    options = dict(options)
    learn_mask = options.pop("LM", False)
    _, model = _build(tmp_path, _small(**options), learn_mask=learn_mask)
    size = options.get("output_size", 128)
    expected = [(None, size, size, 3)] + ([(None, size, size, 1)] if learn_mask else [])
    assert [tuple(tensor.shape) for tensor in model.outputs] == expected * 2
    names = sub_model_names(model)
    if options.get("split_decoders"):
        assert names[-4:] == ["g_block_a", "g_block_b", "decoder_a", "decoder_b"]
        assert "fc_both" in names and "fc_shared" in names
    if options.get("shared_fc") == "full":
        assert "fc_shared" in names
    if options.get("fs_original_use_alt"):
        layers = layer_names(model, "encoder")
        assert "fs_dny_enc_pool_0" in layers and "fs_dny_enc_convblk_3_1_conv2d" in layers
    faces = random_faces(64, seed=1)
    outputs = [to_numpy(output) for output in model([faces, faces], training=False)]
    assert all(np.all(np.isfinite(output)) for output in outputs)


# --- through ModelBase ---------------------------------------------------------------------------
def test_dropout_change_applied_on_reload(tmp_path):
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": _small()})
    plugin.build()
    weights = plugin.model.get_weights()
    plugin.io.save(is_exit=True)

    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": _small(fc_dropout=0.3,
                                                                       fc_gblock_dropout=0.2)})
    plugin.build()
    rates = {(sub.name, layer.name): layer.rate for sub in get_all_sub_models(plugin.model)
             for layer in sub.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == {("fc_a", "0.0_0"): 0.3, ("fc_b", "0.0_0"): 0.3,
                     ("fc_gblock", "0.0_0"): 0.2, ("fc_gblock", "0.0_1"): 0.2,
                     ("fc_gblock", "0.0_2"): 0.2}
    assert sub_model_names(plugin.model) == _DEFAULT_SUB_MODELS
    reloaded = plugin.model.get_weights()
    assert len(reloaded) == len(weights)
    assert all(np.array_equal(old, new) for old, new in zip(weights, reloaded, strict=True))
    assert plugin.model.optimizer is not None  # compiled

    # the rate is saved: a third session with the same options changes nothing
    plugin.io.save(is_exit=True)
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": _small(fc_dropout=0.3,
                                                                       fc_gblock_dropout=0.2)})
    plugin.build()
    assert _sub_model(plugin.model, "fc_a").get_layer("0.0_0").rate == 0.3


def test_freeze_layers_without_keras_encoder(tmp_path):
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": {
        "freeze_layers": "keras_encoder, fc_a"}})
    assert plugin.freeze_layers == ["fc_a"]  # fs_original has no Keras model to freeze
    assert plugin.load_layers == ["encoder"]


@pytest.mark.slow
def test_freeze_keras_encoder(tmp_path):
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": _small(
        enc_architecture="resnet50", enc_load_weights=False)}, freeze_weights=True)
    plugin.build()
    assert plugin.freeze_layers == ["resnet50"]
    resnet = _sub_model(plugin.model, "resnet50")
    assert not resnet.trainable and not resnet.trainable_weights
    assert _sub_model(plugin.model, "encoder").trainable_weights  # the bottleneck trains
    assert _sub_model(plugin.model, "fc_a").trainable


def test_missing_weights_download_raises(tmp_path):
    """Offline, an encoder with ``enc_load_weights`` says how to build without the weights. Run
    in a fresh interpreter so ``KERAS_HOME`` (read when Keras is imported) is an empty folder."""
    script = textwrap.dedent("""
        import json, sys, urllib.error, urllib.request
        def offline(*args, **kwargs):
            raise urllib.error.URLError("network disabled for this test")
        urllib.request.urlopen = offline
        urllib.request.urlretrieve = offline
        from lib.errors import FaceswapError
        from tests.plugins.train.model.plugin_helpers import build_network, make_plugin
        from pathlib import Path
        plugin = make_plugin("phaze_a", Path(sys.argv[1]), {"model.phaze_a": {
            "enc_architecture": "mobilenet_v3_small", "fc_min_filters": 128,
            "fc_max_filters": 128}})
        try:
            build_network(plugin)
        except FaceswapError as err:
            print(json.dumps({"error": str(err), "cause": repr(err.__cause__)}))
        else:
            print(json.dumps({"error": None}))
        """)
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    env = {**os.environ, "KERAS_HOME": str(keras_home), "KERAS_BACKEND": keras.backend.backend(),
           "PYTHONPATH": os.pathsep.join([str(_REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=_REPO, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] is not None
    assert "'mobilenet_v3_small' encoder could not be downloaded" in report["error"]
    assert "`enc_load_weights = False`" in report["error"]
    assert "[model.phaze_a]" in report["error"]
    assert "network disabled for this test" in report["cause"]
    assert not any(keras_home.rglob("*.h5"))


# --- other encoders ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("arch", "input_size", "nested"), [
    ("densenet121", 32, "densenet121"),
    ("efficientnet_b0", 32, "efficientnetb0"),
    ("efficientnet_v2_b0", 32, "efficientnetv2-b0"),
    ("inception_v3", 75, "inception_v3"),
    ("mobilenet", 32, "mobilenet_1.00_32"),
    ("mobilenet_v2", 32, "mobilenetv2_1.00_32"),
    ("mobilenet_v3_small", 32, "MobileNetV3Small"),
    ("nasnet_mobile", 32, "nasnet_mobile"),
    ("resnet50_v2", 32, "resnet50v2"),
    ("vgg16", 32, "vgg16"),
    ("xception", 71, "xception"),
    ("convnext_tiny", 32, "convnext_tiny"),
])
def test_keras_encoders_build(tmp_path, arch, input_size, nested):
    plugin, model = _build(tmp_path, _small(enc_architecture=arch, enc_load_weights=False))
    assert plugin.input_shape == (input_size, input_size, 3)
    assert plugin.color_order == ("bgr" if arch.startswith("vgg") else "rgb")
    names = sub_model_names(model)
    assert names[:3] == ["phaze_a", "encoder", nested]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    plugin._model = model
    assert plugin.freeze_layers == [nested]
    faces = random_faces(input_size, seed=2)
    outputs = [to_numpy(output) for output in model([faces, faces], training=False)]
    assert all(np.all(np.isfinite(output)) for output in outputs)


def test_enforced_input_size_for_weights(tmp_path):
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": {
        "enc_architecture": "nasnet_mobile", "enc_load_weights": True}})
    assert plugin.input_shape == (224, 224, 3)
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": {
        "enc_architecture": "nasnet_mobile", "enc_load_weights": False}})
    assert plugin.input_shape == (32, 32, 3)
    plugin = make_plugin("phaze_a", tmp_path, {"model.phaze_a": {
        "enc_architecture": "efficientnet_b4", "enc_scaling": 50}})
    assert plugin.input_shape == (176, 176, 3)  # 380 * 0.5 = 190, floored to 16


@pytest.mark.slow
def test_clip_encoder_build(tmp_path):
    networks = pytest.importorskip("lib.model.networks")
    assert "ViT-B-32" in networks.TypeModelsViT.__args__
    plugin, model = _build(tmp_path, _small(enc_architecture="clipv_vit-b-32",
                                            enc_load_weights=False))
    assert plugin.input_shape == (32, 32, 3)
    assert sub_model_names(model)[:3] == ["phaze_a", "encoder", "visual"]
    assert [tuple(tensor.shape) for tensor in model.outputs] == [(None, 128, 128, 3)] * 2
    plugin._model = model
    assert plugin.freeze_layers == ["visual"]
