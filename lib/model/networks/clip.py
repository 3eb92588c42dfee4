"""The vision towers of OpenAI's CLIP (and FaRL), as Keras functional models.

Phaze-A's ``clipv_*`` encoders build these through :class:`ViT`. Every layer is a Keras built-in,
:class:`lib.model.layers.QuickGELU`, or one of the two registered embedding layers defined here,
so the models run on TensorFlow, JAX and PyTorch and round-trip through ``.keras`` files.
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import Any, Literal, get_args

import keras
from keras import layers, ops

from lib.model.layers import QuickGELU
from lib.model.networks._weights import load_pretrained_weights
from lib.registry import register_serializable

__all__ = ["ClassEmbedding", "PositionalEmbedding", "TypeModelsViT", "ViT"]

logger = logging.getLogger(__name__)

TypeModelsViT = Literal["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B-16", "ViT-B-32",
                        "ViT-L-14", "ViT-L-14-336px", "FaRL-B-16-16", "FaRL-B-16-64"]
"""The CLIP vision models that :class:`ViT` builds."""

# PyTorch's LayerNorm and BatchNorm epsilon, which CLIP uses.
_TORCH_EPSILON = 1e-5


@dataclass(frozen=True)
class _TransformerConfig:
    """A vision transformer: patch size, width, blocks, heads, native resolution, output dim."""
    patch: int
    width: int
    layers: int
    heads: int
    resolution: int
    output_dim: int


@dataclass(frozen=True)
class _ResNetConfig:
    """CLIP's modified ResNet: blocks per stage, stem width, native resolution, output dim."""
    layers: tuple[int, int, int, int]
    width: int
    resolution: int
    output_dim: int

    @property
    def heads(self) -> int:
        """The attention-pool heads (CLIP: one head per 64 channels of the last stage)."""
        return self.width * 32 // 64


_MODELS: dict[str, _TransformerConfig | _ResNetConfig] = {
    "RN50": _ResNetConfig((3, 4, 6, 3), 64, 224, 1024),
    "RN101": _ResNetConfig((3, 4, 23, 3), 64, 224, 512),
    "RN50x4": _ResNetConfig((4, 6, 10, 6), 80, 288, 640),
    "RN50x16": _ResNetConfig((6, 8, 18, 8), 96, 384, 768),
    "RN50x64": _ResNetConfig((3, 15, 36, 10), 128, 448, 1024),
    "ViT-B-16": _TransformerConfig(16, 768, 12, 12, 224, 512),
    "ViT-B-32": _TransformerConfig(32, 768, 12, 12, 224, 512),
    "ViT-L-14": _TransformerConfig(14, 1024, 24, 16, 224, 768),
    "ViT-L-14-336px": _TransformerConfig(14, 1024, 24, 16, 336, 768),
    # FaRL: CLIP's ViT-B-16 architecture trained on face images (LAION-Face).
    "FaRL-B-16-16": _TransformerConfig(16, 768, 12, 12, 224, 512),
    "FaRL-B-16-64": _TransformerConfig(16, 768, 12, 12, 224, 512),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _normal(stddev: float) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


@register_serializable()
class ClassEmbedding(keras.layers.Layer):
    """Prepend a learned class token to a sequence of tokens.

    Input ``(batch, tokens, width)``; output ``(batch, tokens + 1, width)`` whose first token is
    the layer's ``(width,)`` weight, the same for every sample.

    Faceswap compat: Faceswap tiles the class embedding by the static batch size, which is
    ``None`` in a functional model and fails on TensorFlow. Here the token is broadcast against
    the input's first token, so any batch size works on every backend.

    Parameters
    ----------
    embeddings_initializer
        Initializer of the class token. Default: ``"zeros"`` (:class:`ViT` passes CLIP's
        ``RandomNormal(stddev=width ** -0.5)``).
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Examples
    --------
    >>> ClassEmbedding()(keras.ops.ones((2, 4, 8))).shape
    (2, 5, 8)
    """

    def __init__(self, embeddings_initializer: Any = "zeros", **kwargs: Any) -> None:
        initializer = keras.initializers.get(embeddings_initializer)
        super().__init__(**kwargs)
        self.embeddings_initializer = initializer

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError("`ClassEmbedding` expects inputs of shape (batch, tokens, width) "
                             f"with a known width. Received: input_shape={input_shape}")
        self.class_embedding = self.add_weight(name="class_embedding",
                                               shape=(input_shape[-1],),
                                               initializer=self.embeddings_initializer)

    def call(self, inputs: Any) -> Any:
        # Broadcasting against a (batch, 1, width) slice keeps the batch dimension dynamic.
        token = ops.zeros_like(inputs[:, :1, :]) + ops.cast(self.class_embedding, inputs.dtype)
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]
                             ) -> tuple[int | None, ...]:
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer)}


@register_serializable()
class PositionalEmbedding(keras.layers.Layer):
    """Add a learned ``(tokens, width)`` embedding to a sequence of tokens.

    The weight's shape follows the input's static ``(tokens, width)``, so a transformer built
    for another image size gets a positional embedding of the matching size (nothing is
    interpolated).

    Parameters
    ----------
    embeddings_initializer
        Initializer of the embedding. Default: ``"zeros"`` (:class:`ViT` passes CLIP's
        ``RandomNormal(stddev=width ** -0.5)``).
    **kwargs
        Standard :class:`keras.layers.Layer` arguments.

    Examples
    --------
    >>> PositionalEmbedding()(keras.ops.ones((2, 5, 8))).shape
    (2, 5, 8)
    """

    def __init__(self, embeddings_initializer: Any = "zeros", **kwargs: Any) -> None:
        initializer = keras.initializers.get(embeddings_initializer)
        super().__init__(**kwargs)
        self.embeddings_initializer = initializer

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError("`PositionalEmbedding` expects inputs of shape (batch, tokens, "
                             "width) with known tokens and width. "
                             f"Received: input_shape={input_shape}")
        self.positional_embedding = self.add_weight(name="positional_embedding",
                                                    shape=tuple(input_shape[1:]),
                                                    initializer=self.embeddings_initializer)

    def call(self, inputs: Any) -> Any:
        return inputs + ops.cast(self.positional_embedding, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]
                             ) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer)}


def _residual_attention_block(inputs: keras.KerasTensor, width: int, heads: int,
                              name: str) -> keras.KerasTensor:
    """CLIP's pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""
    hidden = layers.LayerNormalization(epsilon=_TORCH_EPSILON, name=f"{name}_ln_1")(inputs)
    hidden = layers.MultiHeadAttention(heads, width // heads, name=f"{name}_attn")(hidden, hidden)
    inputs = layers.Add(name=f"{name}_attn_add")([inputs, hidden])
    hidden = layers.LayerNormalization(epsilon=_TORCH_EPSILON, name=f"{name}_ln_2")(inputs)
    hidden = layers.Dense(width * 4, name=f"{name}_mlp_c_fc")(hidden)
    hidden = QuickGELU(name=f"{name}_mlp_gelu")(hidden)
    hidden = layers.Dense(width, name=f"{name}_mlp_c_proj")(hidden)
    return layers.Add(name=f"{name}_mlp_add")([inputs, hidden])


def _vision_transformer(config: _TransformerConfig, input_size: int,
                        name: str = "visual") -> keras.Model:
    """CLIP's ``VisionTransformer`` for square RGB inputs of ``input_size`` pixels."""
    width = config.width
    scale = width ** -0.5
    grid = input_size // config.patch
    inputs = keras.Input(shape=(input_size, input_size, 3), name=f"{name}_input")
    tokens = layers.Conv2D(width, config.patch, strides=config.patch, use_bias=False,
                           name="conv1")(inputs)
    # Row-major patch order, as CLIP's reshape of the (width, grid, grid) conv output.
    tokens = layers.Reshape((grid * grid, width), name="patch_tokens")(tokens)
    tokens = ClassEmbedding(embeddings_initializer=_normal(scale),
                            name="class_embedding")(tokens)
    tokens = PositionalEmbedding(embeddings_initializer=_normal(scale),
                                 name="positional_embedding")(tokens)
    tokens = layers.LayerNormalization(epsilon=_TORCH_EPSILON, name="ln_pre")(tokens)
    for index in range(config.layers):
        tokens = _residual_attention_block(tokens, width, config.heads,
                                           name=f"transformer_resblocks_{index}")
    # The class token alone; layer norm is per token, so slicing before ln_post is equivalent.
    features = layers.Cropping1D((0, grid * grid), name="class_token")(tokens)
    features = layers.Reshape((width,), name="class_token_flatten")(features)
    features = layers.LayerNormalization(epsilon=_TORCH_EPSILON, name="ln_post")(features)
    features = layers.Dense(config.output_dim, use_bias=False, kernel_initializer=_normal(scale),
                            name="proj")(features)
    return keras.Model(inputs, features, name=name)


def _conv_bn(inputs: keras.KerasTensor, filters: int, kernel_size: int, name: str,
             strides: int = 1, relu: bool = True) -> keras.KerasTensor:
    """Convolution without bias (PyTorch padding ``kernel_size // 2``), batch norm, ReLU."""
    if kernel_size > 1 and strides > 1:
        # PyTorch pads both sides; "same" would pad only the end for even sizes.
        inputs = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(inputs)
        padding = "valid"
    else:
        padding = "same"
    outputs = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                            use_bias=False, name=name)(inputs)
    outputs = layers.BatchNormalization(momentum=0.9, epsilon=_TORCH_EPSILON,
                                        name=f"{name}_bn")(outputs)
    if relu:
        outputs = layers.ReLU(name=f"{name}_relu")(outputs)
    return outputs


def _bottleneck(inputs: keras.KerasTensor, planes: int, strides: int,
                name: str) -> keras.KerasTensor:
    """CLIP's anti-aliased Bottleneck: strided blocks average-pool before the last conv."""
    hidden = _conv_bn(inputs, planes, 1, name=f"{name}_conv1")
    hidden = _conv_bn(hidden, planes, 3, name=f"{name}_conv2")
    if strides > 1:
        hidden = layers.AveragePooling2D(strides, name=f"{name}_avgpool")(hidden)
    hidden = _conv_bn(hidden, planes * 4, 1, name=f"{name}_conv3", relu=False)
    identity = inputs
    if strides > 1 or inputs.shape[-1] != planes * 4:
        if strides > 1:
            identity = layers.AveragePooling2D(strides, name=f"{name}_downsample_pool")(identity)
        identity = _conv_bn(identity, planes * 4, 1, name=f"{name}_downsample", relu=False)
    outputs = layers.Add(name=f"{name}_add")([hidden, identity])
    return layers.ReLU(name=f"{name}_relu")(outputs)


def _modified_resnet(config: _ResNetConfig, input_size: int,
                     name: str = "visual") -> keras.Model:
    """CLIP's ``ModifiedResNet`` (3-conv stem, anti-aliased strides, attention pooling)."""
    width = config.width
    inputs = keras.Input(shape=(input_size, input_size, 3), name=f"{name}_input")
    features = _conv_bn(inputs, width // 2, 3, name="conv1", strides=2)
    features = _conv_bn(features, width // 2, 3, name="conv2")
    features = _conv_bn(features, width, 3, name="conv3")
    features = layers.AveragePooling2D(2, name="avgpool")(features)
    for stage, blocks in enumerate(config.layers):
        planes = width * 2 ** stage
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            features = _bottleneck(features, planes, strides, name=f"layer{stage + 1}_{block}")

    # Attention pooling: the mean token (plus positions) attends to itself and every position.
    embed_dim = width * 32
    positions = features.shape[1] * features.shape[2]
    tokens = layers.Reshape((positions, embed_dim), name="attnpool_tokens")(features)
    mean = layers.GlobalAveragePooling1D(keepdims=True, name="attnpool_mean")(tokens)
    tokens = layers.Concatenate(axis=1, name="attnpool_concat")([mean, tokens])
    tokens = PositionalEmbedding(embeddings_initializer=_normal(embed_dim ** -0.5),
                                 name="attnpool_positional_embedding")(tokens)
    query = layers.Cropping1D((0, positions), name="attnpool_query")(tokens)
    pooled = layers.MultiHeadAttention(config.heads, embed_dim // config.heads,
                                       output_shape=config.output_dim,
                                       name="attnpool_attn")(query, tokens)
    pooled = layers.Reshape((config.output_dim,), name="attnpool_flatten")(pooled)
    return keras.Model(inputs, pooled, name=name)


class ViT:
    """CLIP's vision model, built as a Keras model named ``"visual"``.

    Calling the instance builds a new model. The ViT models run a patch-embedding convolution
    (no bias), prepend a class token, add a positional embedding, apply ``ln_pre``, ``layers``
    pre-norm residual attention blocks (multi-head attention and a QuickGELU MLP of 4x width),
    ``ln_post`` on the class token and a linear projection (no bias) to the output dimension.
    The ``RN*`` models are CLIP's modified ResNets with attention pooling.

    ==============  =====  =====  ======  =====  ==========  ======
    name            patch  width  layers  heads  resolution  output
    ==============  =====  =====  ======  =====  ==========  ======
    ViT-B-32        32     768    12      12     224         512
    ViT-B-16        16     768    12      12     224         512
    ViT-L-14        14     1024   24      16     224         768
    ViT-L-14-336px  14     1024   24      16     336         768
    FaRL-B-16-16    16     768    12      12     224         512
    FaRL-B-16-64    16     768    12      12     224         512
    ==============  =====  =====  ======  =====  ==========  ======

    The model takes ``(batch, input_size, input_size, 3)`` RGB images (CLIP normalises them
    with its own mean and standard deviation; that is the caller's job) and returns
    ``(batch, output)`` embeddings.

    Faceswap compat: Faceswap downloads converted weights from its GitHub releases. We know of
    no download location we can vouch for, so ``load_weights=True`` reads the Keras weights file
    ``<name>.weights.h5`` (e.g. ``ViT-B-32.weights.h5``) from ``$FACESWAP_MODEL_CACHE`` or
    ``~/.cache/faceswap-original/models/``, and raises :class:`~lib.errors.FaceswapError` when it
    is missing (train without pretrained weights instead: for Phaze-A set
    ``enc_load_weights = False``).

    Faceswap compat: with ``load_weights=True`` and a non-native ``input_size`` the
    positional embedding in the file has another shape; it is left at its random initial value
    (with a warning) and everything else is loaded.

    Parameters
    ----------
    name
        The CLIP model, one of :data:`TypeModelsViT`.
    input_size
        The side of the square input image in pixels. ``None`` (default) uses the model's native
        resolution. Another size changes the number of patches (and so the size of the
        positional embedding); nothing is interpolated.
    load_weights
        Load pretrained weights from the model cache folder. Default: ``False``.

    Raises
    ------
    ValueError
        For an unknown ``name`` or an ``input_size`` smaller than one patch (32 pixels for the
        ResNets).
    TypeError
        If ``load_weights`` is not a bool.
    FaceswapError
        When the model is called with ``load_weights=True`` and the weights file is missing or
        does not fit.

    Examples
    --------
    >>> model = ViT("ViT-B-32", input_size=64)()
    >>> model.name, model.output_shape
    ('visual', (None, 512))

    References
    ----------
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
    2021, https://arxiv.org/abs/2103.00020 ; Zheng et al., "General Facial Representation
    Learning in a Visual-Linguistic Manner" (FaRL), 2022, https://arxiv.org/abs/2112.03109
    """

    def __init__(self, name: TypeModelsViT, input_size: int | None = None,
                 load_weights: bool = False) -> None:
        if name not in _MODELS:
            raise ValueError(f"`name` must be one of {sorted(get_args(TypeModelsViT))}. "
                             f"Received: name={name!r}")
        config = _MODELS[name]
        minimum = config.patch if isinstance(config, _TransformerConfig) else 32
        if input_size is not None and (not _is_int(input_size) or input_size < minimum):
            raise ValueError(f"`input_size` must be None or an integer of at least {minimum} "
                             f"for {name}. Received: input_size={input_size!r}")
        if not isinstance(load_weights, bool):
            raise TypeError(f"`load_weights` must be a bool. Received: "
                            f"load_weights={load_weights!r}")
        self.name = name
        self.input_size = config.resolution if input_size is None else int(input_size)
        self.load_weights = load_weights
        self._config = config
        logger.debug("Initialized ViT(name=%r, input_size=%s, load_weights=%s)",
                     name, self.input_size, load_weights)

    def _build(self, input_size: int) -> keras.Model:
        if isinstance(self._config, _TransformerConfig):
            return _vision_transformer(self._config, input_size)
        return _modified_resnet(self._config, input_size)

    def __call__(self) -> keras.Model:
        """Build the model (and load its weights when ``load_weights``).

        Returns
        -------
        A functional :class:`keras.Model` named ``"visual"``.
        """
        model = self._build(self.input_size)
        if not self.load_weights:
            return model
        filename = f"{self.name}.weights.h5"
        description = f"CLIP {self.name}"
        alternative = ("train without pretrained weights (for Phaze-A set "
                       "`enc_load_weights = False` in the [model.phaze_a] section of train.ini)")
        if self.input_size == self._config.resolution:
            load_pretrained_weights(model, filename, description, alternative)
            return model
        # The file fits the native size only: load it there (strictly), then copy every weight
        # whose shape does not depend on the image size.
        native = self._build(self._config.resolution)
        load_pretrained_weights(native, filename, description, alternative)
        skipped = []
        for source, target in zip(native.weights, model.weights, strict=True):
            if tuple(source.shape) == tuple(target.shape):
                target.assign(source)
            else:
                skipped.append(target.path)
        logger.warning("CLIP %s is built for %spx inputs instead of its native %spx: its "
                       "positional embedding cannot be loaded and starts from random values "
                       "(%s).", self.name, self.input_size, self._config.resolution,
                       ", ".join(skipped))
        return model
