"""Tests for lib.model.nn_blocks: shapes, Faceswap's layer names and parameter counts, options."""
from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from keras import layers

from lib.model import initializers, nn_blocks
from lib.model.layers import PixelShuffler, ReflectionPadding2D
from tests.harness import (
    BACKEND,
    assert_model_config_roundtrip,
    assert_model_file_roundtrip,
    to_numpy,
)

_OPTION_NAMES = ("icnr_init", "conv_aware_init", "reflect_padding")
_ALL_OPTIONS = [dict(zip(_OPTION_NAMES, values, strict=True))
                for values in itertools.product((False, True), repeat=3)]


def _options_id(options: dict[str, bool]) -> str:
    return "-".join(name for name, value in options.items() if value) or "defaults"


# Faceswap's own block test cases: (block factory, input shape, expected output shape)
_BLOCK_CASES = {
    "Conv2DOutput": (lambda: nn_blocks.Conv2DOutput(64, 3), (8, 8, 32), (8, 8, 64)),
    "Conv2DBlock": (lambda: nn_blocks.Conv2DBlock(64), (8, 8, 32), (4, 4, 64)),
    "Conv2DBlock-instance-swish": (
        lambda: nn_blocks.Conv2DBlock(64, 3, 1, normalization="instance", activation="swish"),
        (8, 8, 32), (8, 8, 64)),
    "Conv2DBlock-batch-prelu-depthwise": (
        lambda: nn_blocks.Conv2DBlock(32, 3, 2, normalization="Batch", activation="prelu",
                                      use_depthwise=True),
        (8, 8, 32), (4, 4, 32)),
    "SeparableConv2DBlock": (lambda: nn_blocks.SeparableConv2DBlock(64), (8, 8, 32), (4, 4, 64)),
    "UpscaleBlock": (lambda: nn_blocks.UpscaleBlock(64), (4, 4, 128), (8, 8, 64)),
    "UpscaleBlock-x3-instance": (
        lambda: nn_blocks.UpscaleBlock(16, scale_factor=3, normalization="instance"),
        (4, 4, 8), (12, 12, 16)),
    "Upscale2xBlock-fast": (lambda: nn_blocks.Upscale2xBlock(64, fast=True), (4, 4, 128),
                            (8, 8, 64)),
    "Upscale2xBlock-hybrid": (lambda: nn_blocks.Upscale2xBlock(64, fast=False), (4, 4, 128),
                              (8, 8, 64)),
    "UpscaleResizeImagesBlock": (lambda: nn_blocks.UpscaleResizeImagesBlock(64), (4, 4, 128),
                                 (8, 8, 64)),
    "UpscaleDNYBlock": (lambda: nn_blocks.UpscaleDNYBlock(64), (4, 4, 128), (8, 8, 64)),
    "ResidualBlock": (lambda: nn_blocks.ResidualBlock(64), (4, 4, 64), (4, 4, 64)),
}


def _block_model(factory, input_shape) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, factory()(inputs))


@pytest.mark.parametrize("options", _ALL_OPTIONS, ids=_options_id)
@pytest.mark.parametrize("case", sorted(_BLOCK_CASES))
def test_blocks_every_option_combination(case, options):
    """Faceswap's nn_blocks_test: shape, float32 output, config round-trip with weights."""
    factory, input_shape, output_shape = _BLOCK_CASES[case]
    nn_blocks.set_config(options)
    model = _block_model(factory, input_shape)
    assert tuple(model.output.shape) == (None, *output_shape)
    assert model.output.dtype == "float32"
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    batch = np.random.default_rng(0).random((2, *input_shape), dtype="float32")
    output = model.predict(batch, verbose=0)
    assert output.shape == (2, *output_shape)
    assert np.all(np.isfinite(output))
    assert_model_config_roundtrip(model, batch)


@pytest.mark.smoke
@pytest.mark.parametrize("case", sorted(_BLOCK_CASES))
def test_blocks_file_roundtrip(case, tmp_path):
    nn_blocks.set_config({"icnr_init": True, "conv_aware_init": True, "reflect_padding": True})
    factory, input_shape, _ = _BLOCK_CASES[case]
    model = _block_model(factory, input_shape)
    batch = np.random.default_rng(1).random((2, *input_shape), dtype="float32")
    assert_model_file_roundtrip(model, batch, tmp_path, atol=1e-5, rtol=1e-5)


def _original_encoder(lowmem: bool = False) -> keras.Model:
    """Faceswap's Original encoder (api_spec section 4.3), built from our blocks."""
    inputs = keras.Input(shape=(64, 64, 3))
    features = inputs
    for filters in (128, 256, 512) + (() if lowmem else (1024,)):
        features = nn_blocks.Conv2DBlock(filters, activation="leakyrelu")(features)
    features = layers.Dense(512 if lowmem else 1024)(layers.Flatten()(features))
    features = layers.Dense(4 * 4 * 1024)(features)
    features = layers.Reshape((4, 4, 1024))(features)
    features = nn_blocks.UpscaleBlock(512, activation="leakyrelu")(features)
    return keras.Model(inputs, features, name="encoder")


def _original_decoder(side: str, learn_mask: bool) -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 512))
    face = inputs
    for filters in (256, 128, 64):
        face = nn_blocks.UpscaleBlock(filters, activation="leakyrelu")(face)
    outputs = [nn_blocks.Conv2DOutput(3, 5, name=f"face_out_{side}")(face)]
    if learn_mask:
        mask = inputs
        for filters in (256, 128, 64):
            mask = nn_blocks.UpscaleBlock(filters, activation="leakyrelu")(mask)
        outputs.append(nn_blocks.Conv2DOutput(1, 5, name=f"mask_out_{side}")(mask))
    return keras.Model(inputs, outputs, name=f"decoder_{side}")


def _original_model(learn_mask: bool = False, lowmem: bool = False) -> keras.Model:
    face_in_a = keras.Input(shape=(64, 64, 3), name="face_in_a")
    face_in_b = keras.Input(shape=(64, 64, 3), name="face_in_b")
    encoder = _original_encoder(lowmem)
    decoder_a = _original_decoder("a", learn_mask)
    decoder_b = _original_decoder("b", learn_mask)
    outputs = decoder_a(encoder(face_in_a)) + decoder_b(encoder(face_in_b))
    return keras.Model([face_in_a, face_in_b], outputs, name="original")


def _block_names(model: keras.Model) -> list[str]:
    """Names of the layers made by blocks (Keras' automatic names vary by session)."""
    automatic = (layers.InputLayer, layers.Dense, layers.Flatten, layers.Reshape)
    return [layer.name for layer in model.layers if not isinstance(layer, automatic)]


def test_original_encoder_names_and_parameters():
    encoder = _original_encoder()
    assert _block_names(encoder) == [
        "conv_128_0_conv2d", "conv_128_0_leakyrelu",
        "conv_256_0_conv2d", "conv_256_0_leakyrelu",
        "conv_512_0_conv2d", "conv_512_0_leakyrelu",
        "conv_1024_0_conv2d", "conv_1024_0_leakyrelu",
        "upscale_512_0_conv2d_conv2d", "upscale_512_0_conv2d_leakyrelu",
        "upscale_512_0_pixelshuffler"]
    assert encoder.count_params() == 69_662_976
    assert tuple(encoder.output.shape) == (None, 8, 8, 512)
    # Each conv: He uniform kernel, LeakyReLU slope 0.1, 5x5 stride 2 "same"
    conv = encoder.get_layer("conv_128_0_conv2d")
    assert isinstance(conv.kernel_initializer, keras.initializers.HeUniform)
    assert conv.kernel_size == (5, 5) and conv.strides == (2, 2) and conv.padding == "same"
    assert encoder.get_layer("conv_128_0_leakyrelu").negative_slope == pytest.approx(0.1)
    assert isinstance(encoder.get_layer("upscale_512_0_pixelshuffler"), PixelShuffler)


def test_original_lowmem_encoder_parameters():
    assert _original_encoder(lowmem=True).count_params() == 48_165_632


@pytest.mark.parametrize(("learn_mask", "params"), [(False, 82_062_470), (True, 94_455_560)])
def test_original_model_names_and_parameters(learn_mask, params):
    model = _original_model(learn_mask)
    assert model.count_params() == params
    decoder_a, decoder_b = model.get_layer("decoder_a"), model.get_layer("decoder_b")
    assert decoder_a.count_params() == 6_199_747 + (6_196_545 if learn_mask else 0)
    second = 2 if learn_mask else 1  # decoder_a's mask branch takes counter 1
    expected_b = [f"upscale_{f}_{second}_{suffix}" for f in (256, 128, 64)
                  for suffix in ("conv2d_conv2d", "conv2d_leakyrelu", "pixelshuffler")]
    expected_b += ["face_out_b_0_conv2d", "face_out_b_0"]
    assert [name for name in _block_names(decoder_b) if not name.startswith(
        ("upscale_256_3", "upscale_128_3", "upscale_64_3", "mask_out"))] == expected_b
    assert "face_out_a_0" in _block_names(decoder_a)
    if learn_mask:
        assert "mask_out_a_0" in _block_names(decoder_a)
        assert "mask_out_b_0" in _block_names(decoder_b)
        assert "upscale_64_1_pixelshuffler" in _block_names(decoder_a)
    expected_shapes = [(None, 64, 64, 3)] * 2 if not learn_mask else [
        (None, 64, 64, 3), (None, 64, 64, 1)] * 2
    assert [tuple(output.shape) for output in model.outputs] == expected_shapes


def test_reset_naming_restarts_counters():
    first = nn_blocks.Conv2DBlock(8)
    second = nn_blocks.Conv2DBlock(8)
    nn_blocks.reset_naming()
    third = nn_blocks.Conv2DBlock(8)
    assert (first.name, second.name, third.name) == ("conv_8_0", "conv_8_1", "conv_8_0")
    assert nn_blocks.Conv2D(4, 3).name == "conv2d_4_0"
    assert nn_blocks.DepthwiseConv2D(3).name == "dwconv2d_0"


def test_upscale2x_takes_its_counter_before_its_inner_upscale_block():
    model = _block_model(lambda: nn_blocks.Upscale2xBlock(64, fast=False), (4, 4, 128))
    names = [layer.name for layer in model.layers]
    assert {"upscale2x_64_hyb_0_conv2d", "upscale2x_64_hyb_0_upsampling2D",
            "upscale2x_64_hyb_0_concatenate", "upscale_32_0_conv2d_conv2d"} <= set(names)
    fast = _block_model(lambda: nn_blocks.Upscale2xBlock(64, fast=True), (4, 4, 128))
    assert {"upscale2x_64_fast_0_conv2d", "upscale_64_0_pixelshuffler"} <= {
        layer.name for layer in fast.layers}


def test_other_block_layer_names():
    nn_blocks.set_config({"reflect_padding": True})
    residual = _block_model(lambda: nn_blocks.ResidualBlock(16), (8, 8, 16))
    assert {"residual_16_0_reflectionpadding2d_0", "residual_16_0_conv2d_0",
            "residual_16_0_leakyrelu_1", "residual_16_0_reflectionpadding2d_1",
            "residual_16_0_conv2d_1", "residual_16_0_leakyrelu_3"} <= {
                layer.name for layer in residual.layers}
    conv = _block_model(lambda: nn_blocks.Conv2DBlock(8, normalization="instance"), (8, 8, 3))
    assert [layer.name for layer in conv.layers[1:]] == [
        "conv_8_0_reflectionpadding2d", "conv_8_0_conv2d", "conv_8_0_instancenorm",
        "conv_8_0_leakyrelu"]
    assert conv.get_layer("conv_8_0_conv2d").padding == "valid"
    separable = _block_model(lambda: nn_blocks.SeparableConv2DBlock(8), (8, 8, 3))
    assert [layer.name for layer in separable.layers[1:]] == [
        "separableconv2d_8_0_seperableconv2d", "separableconv2d_8_0_relu"]
    resize = _block_model(lambda: nn_blocks.UpscaleResizeImagesBlock(8), (4, 4, 3))
    assert {"upscale_ri_8_0_resize", "upscale_ri_8_0_conv", "upscale_ri_8_0_convtrans",
            "upscale_ri_8_0_leakyrelu"} <= {layer.name for layer in resize.layers}
    dny = _block_model(lambda: nn_blocks.UpscaleDNYBlock(8), (4, 4, 3))
    assert {"upscale_dny_8_0_upsample2d", "upscale_dny_8_0_conv2d_1_conv2d",
            "upscale_dny_8_0_conv2d_2_leakyrelu"} <= {layer.name for layer in dny.layers}
    output = _block_model(lambda: nn_blocks.Conv2DOutput(3, 5), (4, 4, 3))
    assert [layer.name for layer in output.layers[1:]] == ["conv_output_3_0_conv2d",
                                                           "conv_output_3_0"]


@pytest.mark.smoke
def test_icnr_upscale_block_is_subpixel_constant_at_initialisation():
    """With ICNR, every 2x2 output cell of an UpscaleBlock is constant at initialisation."""
    nn_blocks.set_config({"icnr_init": True})
    model = _block_model(lambda: nn_blocks.UpscaleBlock(8), (6, 6, 4))
    conv = model.get_layer("upscale_8_0_conv2d_conv2d")
    assert isinstance(conv.kernel_initializer, initializers.ICNR)
    batch = np.random.default_rng(2).normal(size=(2, 6, 6, 4)).astype("float32")
    output = to_numpy(model(batch))
    cells = output.reshape(2, 6, 2, 6, 2, 8)
    np.testing.assert_allclose(cells, np.broadcast_to(cells[:, :, :1, :, :1], cells.shape),
                               atol=1e-6)
    assert np.std(output) > 0.01  # not trivially constant everywhere

    # Without ICNR the cells differ
    nn_blocks.set_config({"icnr_init": False})
    plain = to_numpy(_block_model(lambda: nn_blocks.UpscaleBlock(8), (6, 6, 4))(batch))
    plain_cells = plain.reshape(2, 6, 2, 6, 2, 8)
    assert np.abs(plain_cells - plain_cells[:, :, :1, :, :1]).max() > 1e-3


def test_initializer_options():
    nn_blocks.set_config({"conv_aware_init": True})
    conv = nn_blocks.Conv2D(8, 3, kernel_initializer="zeros")
    assert isinstance(conv.layer.kernel_initializer, initializers.ConvolutionAware)
    nn_blocks.set_config({"conv_aware_init": True, "icnr_init": True})
    upscale = nn_blocks.Conv2D(8, 3, is_upscale=True)
    assert isinstance(upscale.layer.kernel_initializer, initializers.ICNR)
    assert isinstance(upscale.layer.kernel_initializer.initializer,
                      initializers.ConvolutionAware)
    nn_blocks.set_config({"conv_aware_init": False, "icnr_init": False})
    assert isinstance(nn_blocks.Conv2D(8, 3, is_upscale=True).layer.kernel_initializer,
                      keras.initializers.HeUniform)
    given = keras.initializers.RandomNormal(0.0, 0.02)
    assert nn_blocks.Conv2D(8, 3, kernel_initializer=given).layer.kernel_initializer is given

    model = _block_model(lambda: nn_blocks.ResidualBlock(8, kernel_initializer=given),
                         (4, 4, 8))
    assert model.get_layer("residual_8_0_conv2d_0").kernel_initializer is given
    second = model.get_layer("residual_8_0_conv2d_1").kernel_initializer
    assert isinstance(second, keras.initializers.VarianceScaling)
    assert (second.scale, second.mode, second.distribution) == (0.2, "fan_in", "uniform")


def test_reflect_padding_matches_numpy_and_keeps_shapes():
    """A 5x5 stride-2 Conv2DBlock with reflect padding equals a valid conv of np.pad(reflect)."""
    nn_blocks.set_config({"reflect_padding": True})
    model = _block_model(lambda: nn_blocks.Conv2DBlock(4, activation=None, use_bias=False),
                         (9, 9, 2))
    assert isinstance(model.layers[1], ReflectionPadding2D)
    assert tuple(model.output.shape) == (None, 5, 5, 4)  # as "same" padding would give
    batch = np.random.default_rng(3).random((1, 9, 9, 2)).astype("float32")
    kernel = to_numpy(model.get_layer("conv_4_0_conv2d").kernel)
    # 9 % 2 = 1, so pad = 5 - 1 = 4, split 2 / 2
    padded = np.pad(batch, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    expected = np.zeros((1, 5, 5, 4), "float32")
    for row, col in itertools.product(range(5), range(5)):
        patch = padded[0, 2 * row:2 * row + 5, 2 * col:2 * col + 5, :]
        expected[0, row, col] = np.tensordot(patch, kernel, axes=3)
    np.testing.assert_allclose(to_numpy(model(batch)), expected, atol=1e-5)


def test_mixed_precision_output_stays_float32():
    if BACKEND == "torch":
        pytest.skip("float16 convolutions are not implemented for torch on CPU")
    keras.config.set_dtype_policy("mixed_float16")
    model = _block_model(lambda: nn_blocks.Conv2DOutput(3, 3), (8, 8, 4))
    conv = model.get_layer("conv_output_3_0_conv2d")
    assert conv.compute_dtype == "float16" and conv.kernel.dtype == "float32"
    output = model(np.ones((1, 8, 8, 4), "float32"))
    assert keras.backend.standardize_dtype(output.dtype) == "float32"


def test_block_errors():
    with pytest.raises(ValueError, match="Unknown normalization 'group'"):
        nn_blocks.Conv2DBlock(8, normalization="group")
    with pytest.raises(ValueError, match="Unknown activation 'relu'"):
        nn_blocks.Conv2DBlock(8, activation="relu")
    with pytest.raises(ValueError, match=r"Unknown nn_blocks option\(s\) \['icnr'\]"):
        nn_blocks.set_config({"icnr": True})
    with pytest.raises(ValueError, match="`kernel_size` must be an int or a pair"):
        nn_blocks.Conv2DBlock(8, kernel_size=(3, 3, 3))


def test_set_config_partial_update_and_get_config():
    nn_blocks.set_config({"icnr_init": 1})
    assert nn_blocks.get_config() == {"icnr_init": True, "conv_aware_init": False,
                                      "reflect_padding": False}


def test_block_instance_called_twice_shares_weights():
    block = nn_blocks.Conv2DBlock(8, 3, 1)
    first, second = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    model = keras.Model([first, second], [block(first), block(second)])
    assert len(model.weights) == 2  # one kernel, one bias
    batch = np.random.default_rng(4).random((1, 4, 4, 3)).astype("float32")
    out_a, out_b = model.predict([batch, batch], verbose=0)
    np.testing.assert_array_equal(out_a, out_b)
