"""Tests for :mod:`lib.model.networks.clip`: parameter counts by formula, forward passes against
a NumPy reference, the embedding layers, serialisation and the weights-file rule."""
from __future__ import annotations

import logging
import typing

import keras
import numpy as np
import pytest

from lib.errors import FaceswapError
from lib.model.networks import TypeModelsViT, ViT, clip
from tests.harness import (
    BACKEND,
    ROUNDTRIP_TOL,
    assert_config_roundtrip,
    assert_model_config_roundtrip,
    assert_model_file_roundtrip,
    assert_serialization_roundtrip,
    to_numpy,
    train_one_step,
)

_RNG = np.random.default_rng(20240612)

# (patch, width, layers, heads, native resolution, output dim), from the CLIP paper / open_clip.
_VIT_SIZES = {
    "ViT-B-32": (32, 768, 12, 12, 224, 512),
    "ViT-B-16": (16, 768, 12, 12, 224, 512),
    "ViT-L-14": (14, 1024, 24, 16, 224, 768),
    "ViT-L-14-336px": (14, 1024, 24, 16, 336, 768),
    "FaRL-B-16-16": (16, 768, 12, 12, 224, 512),
    "FaRL-B-16-64": (16, 768, 12, 12, 224, 512),
}
# Parameter counts of OpenAI CLIP / open_clip's visual towers (rounded to 10 k parameters).
_REFERENCE_MILLIONS = {"ViT-B-32": 87.85, "ViT-B-16": 86.19, "ViT-L-14": 303.97,
                       "ViT-L-14-336px": 304.29}
# (blocks per stage, width, resolution, output dim) of the modified ResNets.
_RESNET_SIZES = {
    "RN50": ((3, 4, 6, 3), 64, 224, 1024),
    "RN101": ((3, 4, 23, 3), 64, 224, 512),
    "RN50x4": ((4, 6, 10, 6), 80, 288, 640),
    "RN50x16": ((6, 8, 18, 8), 96, 384, 768),
    "RN50x64": ((3, 15, 36, 10), 128, 448, 1024),
}

# A small transformer for the numeric, serialisation and training tests.
_TINY_VIT = clip._TransformerConfig(patch=8, width=16, layers=2, heads=4, resolution=24,
                                    output_dim=6)
_TINY_RESNET = clip._ResNetConfig(layers=(1, 2, 1, 1), width=8, resolution=64, output_dim=6)


def _random(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (_RNG.standard_normal(shape) * scale).astype("float32")


def _randomise(model: keras.Model) -> None:
    """Replace every weight with random values (positive where a variance is expected)."""
    values = []
    for weight in model.weights:
        value = _random(tuple(weight.shape), 0.3)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        values.append(value)
    model.set_weights(values)


# ------------------------------------------------------------------------------------------------
# Parameter counts by formula (plain Python, independent of Keras)
# ------------------------------------------------------------------------------------------------
def vit_parameters(patch: int, width: int, layers: int, output_dim: int,
                   input_size: int) -> int:
    """CLIP VisionTransformer parameters (PyTorch's ``nn.Module.parameters()``)."""
    tokens = (input_size // patch) ** 2 + 1
    embedding = 3 * patch * patch * width            # conv1, no bias
    class_and_positions = width + tokens * width
    layer_norm = 2 * width
    attention = 3 * (width * width + width) + width * width + width  # in_proj + out_proj
    mlp = (width * 4 * width + 4 * width) + (4 * width * width + width)
    block = attention + mlp + 2 * layer_norm
    projection = width * output_dim                  # no bias
    return (embedding + class_and_positions + layer_norm + layers * block + layer_norm
            + projection)


def resnet_parameters(stages: tuple[int, ...], width: int, output_dim: int,
                      input_size: int) -> tuple[int, int]:
    """CLIP ModifiedResNet parameters: (trainable, batch-norm running statistics)."""
    trainable = statistics = 0

    def conv_bn(cin: int, cout: int, kernel: int) -> None:
        nonlocal trainable, statistics
        trainable += cin * cout * kernel * kernel + 2 * cout
        statistics += 2 * cout

    conv_bn(3, width // 2, 3)
    conv_bn(width // 2, width // 2, 3)
    conv_bn(width // 2, width, 3)
    inplanes = width
    for stage, blocks in enumerate(stages):
        planes = width * 2 ** stage
        for block in range(blocks):
            conv_bn(inplanes, planes, 1)
            conv_bn(planes, planes, 3)
            conv_bn(planes, planes * 4, 1)
            if block == 0 and (stage > 0 or inplanes != planes * 4):
                conv_bn(inplanes, planes * 4, 1)
            inplanes = planes * 4
    embed = width * 32
    spatial = input_size // 32
    trainable += (spatial ** 2 + 1) * embed            # positional embedding
    trainable += 3 * (embed * embed + embed)            # q, k, v projections
    trainable += embed * output_dim + output_dim        # c_proj
    return trainable, statistics


def test_type_models_vit_lists_the_models_phaze_a_uses():
    names = typing.get_args(TypeModelsViT)
    for name in ("ViT-B-16", "ViT-B-32", "ViT-L-14", "ViT-L-14-336px", "FaRL-B-16-16",
                 "FaRL-B-16-64", "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"):
        assert name in names
    assert len(names) == 11


@pytest.mark.parametrize("name", sorted(_REFERENCE_MILLIONS))
def test_formula_matches_published_counts(name):
    patch, width, layers, _, resolution, output_dim = _VIT_SIZES[name]
    count = vit_parameters(patch, width, layers, output_dim, resolution)
    assert round(count / 1e6, 2) == pytest.approx(_REFERENCE_MILLIONS[name], abs=0.006)


def test_formula_matches_published_rn50_count():
    # open_clip's RN50 visual tower: 38,316,896 parameters.
    assert resnet_parameters((3, 4, 6, 3), 64, 1024, 224)[0] == 38_316_896


@pytest.mark.smoke
def test_vit_b32_small_input_builds_with_formula_count():
    model = ViT("ViT-B-32", input_size=64)()
    assert isinstance(model, keras.Model)
    assert model.name == "visual"
    assert model.input_shape == (None, 64, 64, 3)
    assert model.output_shape == (None, 512)
    assert model.count_params() == vit_parameters(32, 768, 12, 512, 64)
    # 4 patches + the class token.
    assert model.get_layer("positional_embedding").positional_embedding.shape == (5, 768)
    assert len([layer for layer in model.layers if "_attn" in layer.name
                and isinstance(layer, keras.layers.MultiHeadAttention)]) == 12
    for batch in (1, 3):
        output = to_numpy(model(_random((batch, 64, 64, 3))))
        assert output.shape == (batch, 512)
        assert np.all(np.isfinite(output))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_VIT_SIZES))
def test_native_size_count_matches_formula(name):
    patch, width, layers, _, resolution, output_dim = _VIT_SIZES[name]
    model = ViT(name)()
    assert model.input_shape == (None, resolution, resolution, 3)
    assert model.output_shape == (None, output_dim)
    assert model.count_params() == vit_parameters(patch, width, layers, output_dim, resolution)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_RESNET_SIZES))
def test_resnet_native_count_matches_formula(name):
    stages, width, resolution, output_dim = _RESNET_SIZES[name]
    model = ViT(name)()
    trainable, statistics = resnet_parameters(stages, width, output_dim, resolution)
    assert model.output_shape == (None, output_dim)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == statistics


def test_resnet_small_input_count_matches_formula():
    model = ViT("RN50", input_size=64)()
    trainable, statistics = resnet_parameters((3, 4, 6, 3), 64, 1024, 64)
    assert model.name == "visual"
    assert model.output_shape == (None, 1024)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == statistics


@pytest.mark.parametrize("name", ["FaRL-B-16-16", "FaRL-B-16-64", "ViT-B-16"])
def test_farl_is_the_vit_b16_architecture(name):
    model = ViT(name, input_size=32)()
    assert model.get_layer("conv1").kernel.shape == (16, 16, 3, 768)
    assert model.count_params() == vit_parameters(16, 768, 12, 512, 32)


# ------------------------------------------------------------------------------------------------
# Argument checking
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ViT-B-8", "vit-b-32", "", None])
def test_unknown_name_raises(name):
    with pytest.raises(ValueError, match="`name` must be one of"):
        ViT(name)


@pytest.mark.parametrize("input_size", [0, -64, 31, 64.0, "64", True])
def test_bad_input_size_raises(input_size):
    with pytest.raises(ValueError, match="`input_size` must be None or an integer of at least 32"):
        ViT("ViT-B-32", input_size=input_size)


def test_resnet_input_size_minimum():
    with pytest.raises(ValueError, match="at least 32 for RN50"):
        ViT("RN50", input_size=16)
    with pytest.raises(ValueError, match="at least 14 for ViT-L-14"):
        ViT("ViT-L-14", input_size=13)


def test_load_weights_must_be_bool():
    with pytest.raises(TypeError, match="`load_weights` must be a bool. Received: "
                                        "load_weights=1"):
        ViT("ViT-B-32", load_weights=1)


def test_defaults_to_native_resolution():
    vit = ViT("ViT-L-14-336px")
    assert (vit.name, vit.input_size, vit.load_weights) == ("ViT-L-14-336px", 336, False)
    assert ViT("ViT-B-16", 112).input_size == 112


# ------------------------------------------------------------------------------------------------
# Numeric correctness against NumPy
# ------------------------------------------------------------------------------------------------
def _np_layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gamma + beta


def _np_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)


def _np_attention(query: np.ndarray, value: np.ndarray, w: dict[str, np.ndarray],
                  prefix: str) -> np.ndarray:
    """PyTorch-style multi-head attention from per-head projection kernels."""
    q = np.einsum("nqc,chd->nqhd", query, w[f"{prefix}/query/kernel"]) + w[f"{prefix}/query/bias"]
    k = np.einsum("nkc,chd->nkhd", value, w[f"{prefix}/key/kernel"]) + w[f"{prefix}/key/bias"]
    v = np.einsum("nkc,chd->nkhd", value, w[f"{prefix}/value/kernel"]) + w[f"{prefix}/value/bias"]
    scores = np.einsum("nqhd,nkhd->nhqk", q, k) / np.sqrt(q.shape[-1])
    mixed = np.einsum("nhqk,nkhd->nqhd", _np_softmax(scores), v)
    return (np.einsum("nqhd,hdc->nqc", mixed, w[f"{prefix}/attention_output/kernel"])
            + w[f"{prefix}/attention_output/bias"])


def _weights(model: keras.Model) -> dict[str, np.ndarray]:
    return {weight.path: to_numpy(weight).astype("float64") for weight in model.weights}


def np_vision_transformer(images: np.ndarray, w: dict[str, np.ndarray], patch: int,
                          layers: int) -> np.ndarray:
    """CLIP's VisionTransformer.forward, written from the paper's description."""
    batch, size, _, _ = images.shape
    grid = size // patch
    images = images[:, :grid * patch, :grid * patch].astype("float64")
    patches = images.reshape(batch, grid, patch, grid, patch, 3).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(batch, grid * grid, patch * patch * 3)
    kernel = w["conv1/kernel"]
    tokens = patches @ kernel.reshape(-1, kernel.shape[-1])
    cls = np.broadcast_to(w["class_embedding/class_embedding"], (batch, 1, kernel.shape[-1]))
    tokens = np.concatenate([cls, tokens], axis=1) + w["positional_embedding/positional_embedding"]
    tokens = _np_layer_norm(tokens, w["ln_pre/gamma"], w["ln_pre/beta"])
    for index in range(layers):
        name = f"transformer_resblocks_{index}"
        hidden = _np_layer_norm(tokens, w[f"{name}_ln_1/gamma"], w[f"{name}_ln_1/beta"])
        tokens = tokens + _np_attention(hidden, hidden, w, f"{name}_attn")
        hidden = _np_layer_norm(tokens, w[f"{name}_ln_2/gamma"], w[f"{name}_ln_2/beta"])
        hidden = hidden @ w[f"{name}_mlp_c_fc/kernel"] + w[f"{name}_mlp_c_fc/bias"]
        hidden = hidden / (1.0 + np.exp(-1.702 * hidden))
        tokens = tokens + hidden @ w[f"{name}_mlp_c_proj/kernel"] + w[f"{name}_mlp_c_proj/bias"]
    features = _np_layer_norm(tokens[:, 0], w["ln_post/gamma"], w["ln_post/beta"])
    return features @ w["proj/kernel"]


@pytest.mark.parametrize("input_size", [pytest.param(24, marks=pytest.mark.smoke), 27])
def test_vision_transformer_matches_numpy(input_size):
    model = clip._vision_transformer(_TINY_VIT, input_size)
    _randomise(model)
    images = _random((2, input_size, input_size, 3))
    expected = np_vision_transformer(images, _weights(model), _TINY_VIT.patch, _TINY_VIT.layers)
    actual = model.predict(images, verbose=0)
    assert actual.shape == (2, 6)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def _np_conv(x: np.ndarray, kernel: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """PyTorch Conv2d (symmetric zero padding, floor output size), channels last, no bias."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    size_k = kernel.shape[0]
    out = (x.shape[1] - size_k) // stride + 1
    result = np.zeros((x.shape[0], out, out, kernel.shape[-1]))
    for i in range(size_k):
        for j in range(size_k):
            window = x[:, i:i + stride * (out - 1) + 1:stride, j:j + stride * (out - 1) + 1:stride]
            result += window @ kernel[i, j]
    return result


def _np_avg_pool(x: np.ndarray, size: int) -> np.ndarray:
    out = x.shape[1] // size
    x = x[:, :out * size, :out * size]
    return x.reshape(x.shape[0], out, size, out, size, -1).mean(axis=(2, 4))


def np_modified_resnet(images: np.ndarray, w: dict[str, np.ndarray],
                       config: clip._ResNetConfig) -> np.ndarray:
    """CLIP's ModifiedResNet.forward in inference mode."""
    def conv_bn(x, name, stride=1, relu=True):
        kernel = w[f"{name}/kernel"]
        x = _np_conv(x, kernel, stride, kernel.shape[0] // 2)
        x = ((x - w[f"{name}_bn/moving_mean"]) / np.sqrt(w[f"{name}_bn/moving_variance"] + 1e-5)
             * w[f"{name}_bn/gamma"] + w[f"{name}_bn/beta"])
        return np.maximum(x, 0.0) if relu else x

    x = conv_bn(images.astype("float64"), "conv1", stride=2)
    x = conv_bn(x, "conv2")
    x = _np_avg_pool(conv_bn(x, "conv3"), 2)
    for stage, blocks in enumerate(config.layers):
        for block in range(blocks):
            name = f"layer{stage + 1}_{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            out = conv_bn(conv_bn(x, f"{name}_conv1"), f"{name}_conv2")
            if stride > 1:
                out = _np_avg_pool(out, stride)
            out = conv_bn(out, f"{name}_conv3", relu=False)
            identity = x
            if f"{name}_downsample/kernel" in w:
                identity = _np_avg_pool(x, stride) if stride > 1 else x
                identity = conv_bn(identity, f"{name}_downsample", relu=False)
            x = np.maximum(out + identity, 0.0)
    tokens = x.reshape(x.shape[0], -1, x.shape[-1])
    tokens = np.concatenate([tokens.mean(axis=1, keepdims=True), tokens], axis=1)
    tokens = tokens + w["attnpool_positional_embedding/positional_embedding"]
    return _np_attention(tokens[:, :1], tokens, w, "attnpool_attn")[:, 0]


def test_modified_resnet_matches_numpy():
    model = clip._modified_resnet(_TINY_RESNET, 64)
    _randomise(model)
    images = _random((2, 64, 64, 3))
    expected = np_modified_resnet(images, _weights(model), _TINY_RESNET)
    actual = model.predict(images, verbose=0)
    assert actual.shape == (2, 6)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# The embedding layers
# ------------------------------------------------------------------------------------------------
_LAYERS = [clip.ClassEmbedding, clip.PositionalEmbedding]


@pytest.mark.smoke
def test_class_embedding_prepends_the_same_token_for_every_sample():
    layer = clip.ClassEmbedding(embeddings_initializer="random_normal")
    inputs = _random((3, 4, 5))
    outputs = to_numpy(layer(inputs))
    token = to_numpy(layer.class_embedding)
    assert outputs.shape == (3, 5, 5)
    np.testing.assert_array_equal(outputs[:, 1:], inputs)
    np.testing.assert_array_equal(outputs[:, 0], np.broadcast_to(token, (3, 5)))
    assert np.any(token != 0.0)


@pytest.mark.smoke
def test_positional_embedding_adds_its_weight():
    layer = clip.PositionalEmbedding(embeddings_initializer="random_normal")
    inputs = _random((2, 4, 5))
    outputs = to_numpy(layer(inputs))
    embedding = to_numpy(layer.positional_embedding)
    assert embedding.shape == (4, 5)
    np.testing.assert_allclose(outputs, inputs + embedding, **ROUNDTRIP_TOL)


@pytest.mark.parametrize("cls", _LAYERS)
def test_embedding_weight_counts(cls):
    layer = cls()
    layer.build((None, 7, 5))
    expected = 5 if cls is clip.ClassEmbedding else 35
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == expected
    assert layer.non_trainable_weights == []


# The positional embedding needs a static token count (see test_embedding_build_errors).
@pytest.mark.parametrize(("cls", "tokens"), [(clip.ClassEmbedding, 7), (clip.ClassEmbedding, None),
                                             (clip.PositionalEmbedding, 7)])
def test_embedding_symbolic_shape(cls, tokens):
    layer = cls()
    inputs = keras.Input(shape=(tokens, 5))
    outputs = layer(inputs)
    assert tuple(outputs.shape) == layer.compute_output_shape((None, tokens, 5))
    added = 0 if cls is clip.PositionalEmbedding else 1
    assert tuple(outputs.shape) == (None, None if tokens is None else tokens + added, 5)
    assert outputs.dtype == "float32"


def test_embedding_build_errors():
    with pytest.raises(ValueError, match="known tokens and width"):
        clip.PositionalEmbedding()(keras.Input(shape=(None, 5)))
    with pytest.raises(ValueError, match=r"\(batch, tokens, width\) with a known width"):
        clip.ClassEmbedding().build((None, 4, 4, 5))


@pytest.mark.smoke
@pytest.mark.parametrize("cls", _LAYERS)
def test_embedding_config_and_serialization_roundtrip(cls):
    layer = cls(embeddings_initializer=keras.initializers.RandomNormal(stddev=0.25), name="emb")
    clone = assert_config_roundtrip(layer)
    assert isinstance(clone.embeddings_initializer, keras.initializers.RandomNormal)
    assert clone.embeddings_initializer.stddev == 0.25
    assert_serialization_roundtrip(layer)
    inputs = _random((2, 4, 5))
    layer(inputs)
    clone(inputs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(inputs)), to_numpy(layer(inputs)), **ROUNDTRIP_TOL)


@pytest.mark.parametrize("cls", _LAYERS)
def test_embedding_mixed_precision(cls):
    if BACKEND == "torch":
        pytest.skip("float16 matmuls are not implemented by PyTorch on CPU")
    keras.config.set_dtype_policy("mixed_float16")
    layer = cls(embeddings_initializer="random_normal")
    outputs = layer(_random((2, 4, 5)))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert all(weight.dtype == "float32" for weight in layer.weights)


# ------------------------------------------------------------------------------------------------
# Whole models: round trips, training, mixed precision, nesting
# ------------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_tiny_vit_file_and_config_roundtrip(tmp_path):
    model = clip._vision_transformer(_TINY_VIT, 24)
    images = _random((2, 24, 24, 3))
    assert_model_file_roundtrip(model, images, tmp_path)
    assert_model_config_roundtrip(model, images)


def test_tiny_resnet_file_roundtrip(tmp_path):
    config = clip._ResNetConfig(layers=(1, 1, 1, 1), width=8, resolution=32, output_dim=6)
    model = clip._modified_resnet(config, 32)
    assert_model_file_roundtrip(model, _random((2, 32, 32, 3)), tmp_path)


@pytest.mark.slow
def test_vit_b32_file_roundtrip(tmp_path):
    model = ViT("ViT-B-32", input_size=64)()
    assert_model_file_roundtrip(model, _random((2, 64, 64, 3)), tmp_path, atol=1e-5, rtol=1e-5)


@pytest.mark.smoke
def test_tiny_vit_trains_one_step():
    model = clip._vision_transformer(_TINY_VIT, 24)
    before = [to_numpy(weight) for weight in model.weights]
    after = train_one_step(model, _random((4, 24, 24, 3)), _random((4, 6)))
    changed = [not np.array_equal(old, new) for old, new in zip(before, after, strict=True)]
    assert all(changed), "every ViT weight receives a gradient"


def test_tiny_vit_mixed_precision():
    if BACKEND == "torch":
        pytest.skip("float16 matmuls are not implemented by PyTorch on CPU")
    keras.config.set_dtype_policy("mixed_float16")
    model = clip._vision_transformer(_TINY_VIT, 24)
    output = model(_random((2, 24, 24, 3)))
    assert keras.backend.standardize_dtype(output.dtype) == "float16"
    assert all(weight.dtype == "float32" for weight in model.weights)
    assert np.all(np.isfinite(to_numpy(output)))


@pytest.mark.smoke
def test_nested_in_a_model_with_dynamic_batch_and_cloned(tmp_path):
    # Phaze-A nests "visual" in its encoder and clones the model to re-apply dropout rates.
    visual = clip._vision_transformer(_TINY_VIT, 24)
    inputs = keras.Input(shape=(24, 24, 3))
    outer = keras.Model(inputs, keras.layers.Dense(3)(visual(inputs)), name="encoder")
    assert outer.get_layer("visual") is visual
    images = _random((3, 24, 24, 3))
    clone = keras.models.clone_model(outer)
    clone.set_weights(outer.get_weights())
    np.testing.assert_allclose(clone.predict(images, verbose=0), outer.predict(images, verbose=0),
                               **ROUNDTRIP_TOL)
    assert_model_file_roundtrip(outer, images, tmp_path)


# ------------------------------------------------------------------------------------------------
# Pretrained weights from the model cache folder
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_b32(monkeypatch, tmp_path):
    """Make "ViT-B-32" the tiny transformer and the cache folder an empty tmp folder."""
    monkeypatch.setitem(clip._MODELS, "ViT-B-32", _TINY_VIT)
    monkeypatch.setenv("FACESWAP_MODEL_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.smoke
def test_missing_weights_raise_faceswap_error(tiny_b32):
    vit = ViT("ViT-B-32", load_weights=True)
    with pytest.raises(FaceswapError) as info:
        vit()
    message = str(info.value)
    assert str(tiny_b32 / "ViT-B-32.weights.h5") in message
    assert "FACESWAP_MODEL_CACHE" in message
    assert "enc_load_weights = False" in message


def test_default_cache_folder(monkeypatch, tmp_path):
    from lib.model.networks import _weights

    monkeypatch.delenv("FACESWAP_MODEL_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _weights.model_cache_folder() == tmp_path / ".cache" / "faceswap-original" / "models"
    monkeypatch.setenv("FACESWAP_MODEL_CACHE", str(tmp_path / "cache"))
    assert _weights.model_cache_folder() == tmp_path / "cache"


@pytest.mark.smoke
def test_cached_weights_are_loaded(tiny_b32):
    source = ViT("ViT-B-32")()
    source.save_weights(tiny_b32 / "ViT-B-32.weights.h5")
    keras.utils.set_random_seed(99)
    loaded = ViT("ViT-B-32", load_weights=True)()
    assert len(loaded.weights) == len(source.weights)
    for expected, actual in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(actual), to_numpy(expected))


def test_other_input_size_loads_all_but_the_positional_embedding(tiny_b32, caplog):
    source = ViT("ViT-B-32")()
    source.save_weights(tiny_b32 / "ViT-B-32.weights.h5")
    keras.utils.set_random_seed(99)
    with caplog.at_level(logging.WARNING, logger=clip.__name__):
        loaded = ViT("ViT-B-32", input_size=32, load_weights=True)()
    assert "positional embedding cannot be loaded" in caplog.text
    for expected, actual in zip(source.weights, loaded.weights, strict=True):
        if "positional_embedding" in actual.path:
            assert actual.shape == (17, 16) and expected.shape == (10, 16)
        else:
            np.testing.assert_array_equal(to_numpy(actual), to_numpy(expected))


def test_unreadable_weights_raise_faceswap_error(tiny_b32):
    (tiny_b32 / "ViT-B-32.weights.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(FaceswapError, match="could not be loaded"):
        ViT("ViT-B-32", load_weights=True)()


# Keras warns about every container it walks after the first failed assignment.
@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")
def test_weights_of_another_architecture_raise_faceswap_error(tiny_b32, monkeypatch):
    ViT("ViT-B-32")().save_weights(tiny_b32 / "ViT-B-32.weights.h5")
    wider = clip._TransformerConfig(patch=8, width=20, layers=2, heads=4, resolution=24,
                                    output_dim=6)
    monkeypatch.setitem(clip._MODELS, "ViT-B-32", wider)
    for input_size in (24, 32):
        with pytest.raises(FaceswapError, match="could not be loaded into the model"):
            ViT("ViT-B-32", input_size=input_size, load_weights=True)()
