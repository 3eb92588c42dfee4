"""DLight model plugin: a lightweight, high resolution Dfaker variant
(adapted from https://github.com/dfaker/df).

A 128 px face goes through an encoder that mixes strided convolutions with average pooling, into
a (4, 4, 1024) representation. Decoder A (the original face) uses hybrid sub-pixel upscales;
decoder B (the new face) adds residual blocks and batch normalization (``details = good``) or uses
fast upscales (``details = fast``, sub-model ``decoder_b_fast``). The output is 128, 256 or 384 px.
"""
from __future__ import annotations

import logging

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import (
    Conv2DBlock,
    Conv2DOutput,
    ResidualBlock,
    Upscale2xBlock,
    UpscaleBlock,
)
from lib.utils import FaceswapError, get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import dlight_defaults as cfg
from ._base import ModelBase

logger = logging.getLogger(__name__)


class Model(ModelBase):
    """DLight autoencoder.

    Attributes set here (read from ``[model.dlight]``): ``input_shape`` (always
    ``(128, 128, 3)``), ``features`` (0, 1, 2 for lowmem, fair, best), ``encoder_filters``,
    ``encoder_dim``, ``details`` (0 fast, 1 good) and ``upscale_ratio`` (2, 4, 6 for outputs of
    128, 256, 384 px).

    Raises
    ------
    lib.errors.FaceswapError
        If ``output_size`` is not 128, 256 or 384.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (128, 128, 3)

        self.features = {"lowmem": 0, "fair": 1, "best": 2}[cfg.features()]
        self.encoder_filters = 64 if self.features > 0 else 48
        extra_nodes = 128
        self.encoder_dim = {0: 512 + extra_nodes,
                            1: 1024 + extra_nodes,
                            2: 1536 + extra_nodes}[self.features]
        self.details = {"fast": 0, "good": 1}[cfg.details()]
        output_size = cfg.output_size()
        try:
            self.upscale_ratio = {128: 2, 256: 4, 384: 6}[output_size]
        except KeyError as err:
            raise FaceswapError(
                f"DLight cannot output faces of {output_size} px: `output_size` must be 128, 256 "
                "or 384. Change `output_size` in the [model.dlight] section of your train "
                "configuration file.") from err
        logger.debug("Initialized %s: output_size=%s, features=%s, encoder_filters=%s, "
                     "encoder_dim=%s, details=%s, upscale_ratio=%s", type(self).__name__,
                     output_size, self.features, self.encoder_filters, self.encoder_dim,
                     self.details, self.upscale_ratio)

    def build_model(self, inputs):
        """One shared encoder; decoder A, and decoder B or its fast variant."""
        encoder = self.encoder()
        encoder_a = encoder(inputs[0])
        encoder_b = encoder(inputs[1])
        decoder_b = self.decoder_b if self.details > 0 else self.decoder_b_fast
        outputs = self.decoder_a()(encoder_a) + decoder_b()(encoder_b)
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        """The encoder: five stages, each a strided convolution concatenated with an average
        pooling of its input, then the dense bottleneck: (128, 128, 3) -> (4, 4, 1024)."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        for filters in (self.encoder_filters // 2, self.encoder_filters,
                        self.encoder_filters * 2, self.encoder_filters * 4,
                        self.encoder_filters * 8):
            var_x1 = Conv2DBlock(filters, activation="leakyrelu")(var_x)
            var_x2 = layers.AveragePooling2D(pool_size=(2, 2))(var_x)
            var_x2 = layers.LeakyReLU(0.1)(var_x2)
            var_x = layers.Concatenate()([var_x1, var_x2])

        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dropout(0.05)(var_x)
        var_x = layers.Dense(4 * 4 * 1024)(var_x)
        var_x = layers.Dropout(0.05)(var_x)
        var_x = layers.Reshape((4, 4, 1024))(var_x)
        return KModel(input_, var_x, name="encoder")

    @staticmethod
    def _mask_branch(inputs):
        """Four hybrid upscales (128 to 16 filters) and the mask output."""
        mask_complexity = 128
        var_y = inputs
        for divisor in (1, 2, 4, 8):
            var_y = Upscale2xBlock(mask_complexity // divisor, activation="leakyrelu",
                                   fast=False)(var_y)
        return Conv2DOutput(1, 5, name="mask_out")(var_y)

    def decoder_a(self):
        """Decoder A: a bilinear upsampling by :attr:`upscale_ratio`, then four hybrid
        upscales (256 to 32 filters) to the face; with ``learn_mask`` a mask branch from the
        upsampled input."""
        input_ = Input(shape=(4, 4, 1024))
        dec_a_complexity = 256
        var_xy = layers.UpSampling2D(self.upscale_ratio, interpolation="bilinear")(input_)
        var_x = var_xy
        for divisor in (1, 2, 4, 8):
            var_x = Upscale2xBlock(dec_a_complexity // divisor, activation="leakyrelu",
                                   fast=False)(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out")(var_x)]
        if cfg_loss.learn_mask():
            outputs.append(self._mask_branch(var_xy))
        return KModel([input_], outputs, name="decoder_a")

    def decoder_b_fast(self):
        """Fast decoder B (``details = fast``): a sub-pixel upscale by :attr:`upscale_ratio`,
        then four fast upscales (512 to 64 filters) to the face; with ``learn_mask`` a mask
        branch from the first upscale."""
        input_ = Input(shape=(4, 4, 1024))
        dec_b_complexity = 512
        var_xy = UpscaleBlock(512, scale_factor=self.upscale_ratio, activation="leakyrelu")(input_)
        var_x = var_xy
        for divisor in (1, 2, 4, 8):
            var_x = Upscale2xBlock(dec_b_complexity // divisor, activation="leakyrelu",
                                   fast=True)(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out")(var_x)]
        if cfg_loss.learn_mask():
            outputs.append(self._mask_branch(var_xy))
        return KModel([input_], outputs, name="decoder_b_fast")

    def decoder_b(self):
        """Decoder B (``details = good``): a hybrid upscale by :attr:`upscale_ratio`, then
        hybrid upscales with residual blocks and batch normalization to the face; with
        ``learn_mask`` a mask branch from the first upscale."""
        input_ = Input(shape=(4, 4, 1024))
        dec_b_complexity = 512
        var_xy = Upscale2xBlock(512, scale_factor=self.upscale_ratio, activation=None,
                                fast=False)(input_)
        var_x = var_xy

        var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
        var_x = ResidualBlock(512, use_bias=True)(var_x)
        var_x = ResidualBlock(512, use_bias=False)(var_x)
        var_x = ResidualBlock(512, use_bias=False)(var_x)
        var_x = Upscale2xBlock(dec_b_complexity, activation=None, fast=False)(var_x)
        var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
        var_x = ResidualBlock(dec_b_complexity, use_bias=True)(var_x)
        var_x = ResidualBlock(dec_b_complexity, use_bias=False)(var_x)
        var_x = layers.BatchNormalization()(var_x)
        var_x = Upscale2xBlock(dec_b_complexity // 2, activation=None, fast=False)(var_x)
        var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
        var_x = ResidualBlock(dec_b_complexity // 2, use_bias=True)(var_x)
        var_x = Upscale2xBlock(dec_b_complexity // 4, activation=None, fast=False)(var_x)
        var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
        var_x = ResidualBlock(dec_b_complexity // 4, use_bias=False)(var_x)
        var_x = layers.BatchNormalization()(var_x)
        var_x = Upscale2xBlock(dec_b_complexity // 8, activation="leakyrelu", fast=False)(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out")(var_x)]

        if cfg_loss.learn_mask():
            var_y = layers.LeakyReLU(negative_slope=0.1)(var_xy)
            outputs.append(self._mask_branch(var_y))
        return KModel([input_], outputs, name="decoder_b")


__all__ = get_module_objects(__name__)
