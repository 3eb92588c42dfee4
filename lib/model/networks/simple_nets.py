"""The AlexNet and SqueezeNet 1.1 feature networks that LPIPS uses as trunks.

Both are the convolutional ``features`` part of the torchvision classifiers, built from Keras
built-in layers. The layer whose output LPIPS taps is named ``features_<index>`` after the
torchvision module index, so converted weights map one to one.
"""
from __future__ import annotations

import logging
import numbers
from typing import Any

import keras
from keras import layers

from lib.model.networks._weights import load_pretrained_weights

__all__ = ["AlexNet", "SqueezeNet"]

logger = logging.getLogger(__name__)

_LPIPS_ALTERNATIVE = ("train without pretrained weights (for LPIPS: choose another loss, such "
                      "as `ssim` or `ms_ssim`)")


def _check_input_shape(input_shape: Any) -> tuple[int | None, int | None, int]:
    """``None`` → ``(None, None, 3)``; otherwise a validated ``(height, width, channels)``."""
    if input_shape is None:
        return (None, None, 3)
    valid = (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
             and all(dim is None or (isinstance(dim, numbers.Integral)
                                     and not isinstance(dim, bool) and dim > 0)
                     for dim in input_shape)
             and input_shape[2] is not None)
    if not valid:
        raise ValueError("`input_shape` must be None or (height, width, channels) with positive "
                         "integers (height and width may be None). "
                         f"Received: input_shape={input_shape!r}")
    return (input_shape[0], input_shape[1], int(input_shape[2]))


def _check_load_weights(load_weights: Any) -> bool:
    if not isinstance(load_weights, bool):
        raise TypeError(f"`load_weights` must be a bool. Received: load_weights={load_weights!r}")
    return load_weights


class _FeatureNet:
    """Shared construction and weight loading of the LPIPS trunks."""

    weights_file = ""
    """The weights file looked up in the model cache folder."""
    description = ""
    """The network, for messages."""
    outputs: tuple[int, ...] = ()
    """The torchvision ``features`` indices whose activations the model returns."""

    def __init__(self, input_shape: tuple[int | None, int | None, int] | None = None,
                 load_weights: bool = False) -> None:
        self.input_shape = _check_input_shape(input_shape)
        self.load_weights = _check_load_weights(load_weights)

    def _build(self, inputs: keras.KerasTensor) -> list[keras.KerasTensor]:
        raise NotImplementedError

    def __call__(self) -> keras.Model:
        """Build the model (and load its weights when ``load_weights``).

        Returns
        -------
        A functional :class:`keras.Model` whose outputs are the tapped feature maps, shallowest
        first.
        """
        inputs = keras.Input(shape=self.input_shape, name="input")
        model = keras.Model(inputs, self._build(inputs), name=type(self).__name__.lower())
        if self.load_weights:
            load_pretrained_weights(model, self.weights_file, self.description,
                                    _LPIPS_ALTERNATIVE)
        return model


class AlexNet(_FeatureNet):
    """The convolutional part of torchvision's AlexNet, returning LPIPS' five feature maps.

    Five ReLU convolutions (64 11x11 stride 4 pad 2; 192 5x5 pad 2; 384, 256, 256 3x3 pad 1) with
    3x3 stride 2 max pooling before the second and third. The outputs are the ReLU activations
    of ``features_0``, ``features_3``, ``features_6``, ``features_8`` and ``features_10``
    (torchvision's indices; 64, 192, 384, 256 and 256 channels). The final max pool, which LPIPS
    does not use, is left out.

    Faceswap compat: Faceswap's model has the last feature map as its only output and LPIPS
    picks the taps with ``get_layer``; here the taps are the outputs (the layers keep the same
    names, so ``get_layer("features_3")`` still works). ``load_weights`` is new: it reads
    ``alexnet.weights.h5`` from ``$FACESWAP_MODEL_CACHE`` or
    ``~/.cache/faceswap-original/models/`` instead of downloading Faceswap's file, and raises
    :class:`~lib.errors.FaceswapError` when it is missing.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)``; ``None`` (default) means ``(None, None, 3)``.
    load_weights
        Load pretrained weights from the model cache folder. Default: ``False``.

    Examples
    --------
    >>> [out.shape for out in AlexNet((224, 224, 3))().outputs]  # doctest: +SKIP
    [(None, 55, 55, 64), (None, 27, 27, 192), (None, 13, 13, 384), (None, 13, 13, 256),
     (None, 13, 13, 256)]

    References
    ----------
    Krizhevsky, "One weird trick for parallelizing convolutional neural networks", 2014,
    https://arxiv.org/abs/1404.5997
    """

    weights_file = "alexnet.weights.h5"
    description = "AlexNet"
    outputs = (0, 3, 6, 8, 10)

    def _build(self, inputs: keras.KerasTensor) -> list[keras.KerasTensor]:
        # (features index, filters, kernel, stride, padding, max pool first)
        convs = ((0, 64, 11, 4, 2, False), (3, 192, 5, 1, 2, True), (6, 384, 3, 1, 1, True),
                 (8, 256, 3, 1, 1, False), (10, 256, 3, 1, 1, False))
        features = inputs
        taps = []
        for index, filters, kernel, strides, padding, pool in convs:
            if pool:
                features = layers.MaxPooling2D(3, strides=2,
                                               name=f"features_{index - 1}")(features)
            features = layers.ZeroPadding2D(padding, name=f"features_{index}_pad")(features)
            features = layers.Conv2D(filters, kernel, strides=strides, activation="relu",
                                     name=f"features_{index}")(features)
            taps.append(features)
        return taps


class SqueezeNet(_FeatureNet):
    """The convolutional part of torchvision's SqueezeNet 1.1, returning LPIPS' seven taps.

    A 64-filter 3x3 stride 2 ReLU convolution, then Fire modules (a 1x1 squeeze convolution
    feeding parallel 1x1 and 3x3 expand convolutions, concatenated; all ReLU) in pairs of
    16/64, 32/128, 48/192 and 64/256 squeeze/expand filters, with 3x3 stride 2 max pooling
    (torchvision's ``ceil_mode=True``) before the first three pairs. The outputs are
    ``features_0`` (after ReLU) and the Fire modules ``features_4``, ``features_7``,
    ``features_9``, ``features_10``, ``features_11`` and ``features_12`` (64, 128, 256, 384,
    384, 512 and 512 channels), the seven layers LPIPS taps.

    Ceil-mode pooling is a zero row and column appended at the bottom and right before a valid
    max pool: the inputs are ReLU outputs (never negative), so the extra windows see the same
    maximum as PyTorch's clipped windows, and the output size is ``ceil((n - 3) / 2) + 1`` for
    every ``n``.

    Faceswap compat: Faceswap's model has the last feature map as its only output and LPIPS
    picks the taps with ``get_layer``; here the taps are the outputs (the layers keep the same
    names). ``load_weights`` is new: it reads ``squeezenet.weights.h5`` from
    ``$FACESWAP_MODEL_CACHE`` or ``~/.cache/faceswap-original/models/`` instead of downloading
    Faceswap's file, and raises :class:`~lib.errors.FaceswapError` when it is missing.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)``; ``None`` (default) means ``(None, None, 3)``.
    load_weights
        Load pretrained weights from the model cache folder. Default: ``False``.

    Examples
    --------
    >>> len(SqueezeNet((64, 64, 3))().outputs)
    7

    References
    ----------
    Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB
    model size", 2016, https://arxiv.org/abs/1602.07360
    """

    weights_file = "squeezenet.weights.h5"
    description = "SqueezeNet 1.1"
    outputs = (0, 4, 7, 9, 10, 11, 12)

    @staticmethod
    def _fire(inputs: keras.KerasTensor, squeeze: int, expand: int,
              index: int) -> keras.KerasTensor:
        name = f"features_{index}"
        squeezed = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze")(inputs)
        expand_1x1 = layers.Conv2D(expand, 1, activation="relu",
                                   name=f"{name}_expand1x1")(squeezed)
        expand_3x3 = layers.Conv2D(expand, 3, padding="same", activation="relu",
                                   name=f"{name}_expand3x3")(squeezed)
        return layers.Concatenate(axis=-1, name=name)([expand_1x1, expand_3x3])

    @staticmethod
    def _max_pool(inputs: keras.KerasTensor, index: int) -> keras.KerasTensor:
        padded = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"features_{index}_pad")(inputs)
        return layers.MaxPooling2D(3, strides=2, name=f"features_{index}")(padded)

    def _build(self, inputs: keras.KerasTensor) -> list[keras.KerasTensor]:
        features = layers.Conv2D(64, 3, strides=2, activation="relu", name="features_0")(inputs)
        taps = [features]
        index = 2
        for squeeze, expand in ((16, 64), (32, 128), (48, 192), (64, 256)):
            if index < 9:
                features = self._max_pool(features, index)
                index += 1
            for _ in range(2):
                features = self._fire(features, squeeze, expand, index)
                if index in self.outputs:
                    taps.append(features)
                index += 1
        return taps
