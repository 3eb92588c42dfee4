"""Unbalanced model plugin: an adjustable-size model whose decoder B (the new face) is much
larger than decoder A (the original face), so swaps from B to A may not work well.

A face of ``input_size`` px goes through five strided convolutions (the first two with instance
normalization) and a dense bottleneck to an (s/16, s/16, 512) representation; each decoder
upscales it four times back to ``input_size``. Decoder A uses spatial dropout, decoder B residual
blocks.
"""
from __future__ import annotations

import logging

from keras import Input, initializers, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, ResidualBlock, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import unbalanced_defaults as cfg
from ._base import ModelBase

logger = logging.getLogger(__name__)


class Model(ModelBase):
    """Unbalanced autoencoder.

    Attributes set here (read from ``[model.unbalanced]``): ``input_shape``
    (``(input_size, input_size, 3)``), ``low_mem``, ``encoder_dim`` (512 with lowmem, else
    ``nodes``) and ``kernel_initializer`` (``RandomNormal(0, 0.02)``, given to every
    convolution and dense layer except those of the mask branches).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (cfg.input_size(), cfg.input_size(), 3)
        self.low_mem = cfg.lowmem()
        self.encoder_dim = 512 if self.low_mem else cfg.nodes()
        self.kernel_initializer = initializers.RandomNormal(0, 0.02)

    def build_model(self, inputs):
        """One shared encoder, one decoder per side."""
        encoder = self.encoder()
        encoder_a = encoder(inputs[0])
        encoder_b = encoder(inputs[1])
        outputs = self.decoder_a()(encoder_a) + self.decoder_b()(encoder_b)
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        """The encoder: five strided convolutions (the first two instance-normalized), then the
        dense bottleneck: (s, s, 3) -> (s/16, s/16, 512), or 384 channels with lowmem."""
        kwargs = {"kernel_initializer": self.kernel_initializer}
        encoder_complexity = 128 if self.low_mem else cfg.complexity_encoder()
        dense_dim = 384 if self.low_mem else 512
        dense_shape = self.input_shape[0] // 16
        input_ = Input(shape=self.input_shape)

        var_x = input_
        var_x = Conv2DBlock(encoder_complexity, normalization="instance",
                            activation="leakyrelu", **kwargs)(var_x)
        var_x = Conv2DBlock(encoder_complexity * 2, normalization="instance",
                            activation="leakyrelu", **kwargs)(var_x)
        var_x = Conv2DBlock(encoder_complexity * 4, **kwargs, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(encoder_complexity * 6, **kwargs, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(encoder_complexity * 8, **kwargs, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim,
                             kernel_initializer=self.kernel_initializer)(layers.Flatten()(var_x))
        var_x = layers.Dense(dense_shape * dense_shape * dense_dim,
                             kernel_initializer=self.kernel_initializer)(var_x)
        var_x = layers.Reshape((dense_shape, dense_shape, dense_dim))(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder_a(self):
        """Decoder A: four leaky upscales with spatial dropout after the first two; with
        ``learn_mask`` a mask branch of four plain leaky upscales."""
        kwargs = {"kernel_size": 5, "kernel_initializer": self.kernel_initializer}
        decoder_complexity = 320 if self.low_mem else cfg.complexity_decoder_a()
        dense_dim = 384 if self.low_mem else 512
        decoder_shape = self.input_shape[0] // 16
        input_ = Input(shape=(decoder_shape, decoder_shape, dense_dim))

        var_x = input_
        var_x = UpscaleBlock(decoder_complexity, activation="leakyrelu", **kwargs)(var_x)
        var_x = layers.SpatialDropout2D(0.25)(var_x)
        var_x = UpscaleBlock(decoder_complexity, activation="leakyrelu", **kwargs)(var_x)
        var_x = layers.SpatialDropout2D(0.15 if self.low_mem else 0.25)(var_x)
        var_x = UpscaleBlock(decoder_complexity // 2, activation="leakyrelu", **kwargs)(var_x)
        var_x = UpscaleBlock(decoder_complexity // 4, activation="leakyrelu", **kwargs)(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out_a")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(decoder_complexity, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(decoder_complexity, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(decoder_complexity // 2, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(decoder_complexity // 4, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name="mask_out_a")(var_y))
        return KModel(input_, outputs, name="decoder_a")

    def decoder_b(self):
        """Decoder B: three upscales each followed by a residual block and a last leaky upscale
        (four plain leaky upscales with lowmem); with ``learn_mask`` a mask branch of four leaky
        upscales. Its upscales are ``complexity_decoder_b`` wide (384 with lowmem); its input
        has the encoder's 512 channels (384 with lowmem).

        ``complexity_decoder_b`` sets the width of decoder B's upscales; its input always has
        the encoder's 512 channels. (Not verified against Faceswap's file for values other than
        the default 512, where the parameter count matches Faceswap's.)
        """
        kwargs = {"kernel_size": 5, "kernel_initializer": self.kernel_initializer}
        decoder_complexity = 384 if self.low_mem else cfg.complexity_decoder_b()
        dense_dim = 384 if self.low_mem else 512
        decoder_shape = self.input_shape[0] // 16
        input_ = Input(shape=(decoder_shape, decoder_shape, dense_dim))

        var_x = input_
        if self.low_mem:
            var_x = UpscaleBlock(decoder_complexity, activation="leakyrelu", **kwargs)(var_x)
            var_x = UpscaleBlock(decoder_complexity // 2, activation="leakyrelu",
                                 **kwargs)(var_x)
            var_x = UpscaleBlock(decoder_complexity // 4, activation="leakyrelu",
                                 **kwargs)(var_x)
            var_x = UpscaleBlock(decoder_complexity // 8, activation="leakyrelu",
                                 **kwargs)(var_x)
        else:
            for filters in (decoder_complexity, decoder_complexity, decoder_complexity // 2):
                var_x = UpscaleBlock(filters, activation=None, **kwargs)(var_x)
                var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
                var_x = ResidualBlock(filters, kernel_initializer=self.kernel_initializer)(var_x)
            var_x = UpscaleBlock(decoder_complexity // 4, activation="leakyrelu",
                                 **kwargs)(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out_b")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(decoder_complexity, activation="leakyrelu")(var_y)
            if not self.low_mem:
                var_y = UpscaleBlock(decoder_complexity, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(decoder_complexity // 2, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(decoder_complexity // 4, activation="leakyrelu")(var_y)
            if self.low_mem:
                var_y = UpscaleBlock(decoder_complexity // 8, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name="mask_out_b")(var_y))
        return KModel(input_, outputs, name="decoder_b")


__all__ = get_module_objects(__name__)
