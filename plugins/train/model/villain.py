"""Villain Model: VillainGuy's higher-resolution Original model (128 px in and out).

The shared encoder starts with a long chain of residual blocks at half resolution, then narrows
through strided convolutions, two sub-pixel (pixel shuffle) steps and separable convolutions to a
dense bottleneck. Each side's decoder alternates upscales and residual blocks.
"""
from __future__ import annotations

from keras import Input, initializers, layers
from keras import Model as KModel

from lib.model.layers import PixelShuffler
from lib.model.nn_blocks import (
    Conv2DBlock,
    Conv2DOutput,
    ResidualBlock,
    SeparableConv2DBlock,
    UpscaleBlock,
)
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import villain_defaults as cfg
from .original import Model as OriginalModel


class Model(OriginalModel):
    """Villain Model.

    Inherits :meth:`~plugins.train.model.original.Model.build_model` from the Original model.
    Two ``lowmem`` options apply: this plugin's own (section ``[model.villain]``: 8 residual
    blocks instead of 16, no final 1024-filter separable convolution) and the Original model's
    (section ``[model.original]``, read as ``low_mem``), which sets the dense width
    ``encoder_dim`` (512 instead of 1024) and is not stored in this model's state file.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (128, 128, 3)
        self.encoder_dim = 512 if self.low_mem else 1024
        self.kernel_initializer = initializers.RandomNormal(0, 0.02)

    def encoder(self) -> KModel:
        """The encoder, shared by sides A and B: (128, 128, 3) -> (16, 16, 512)."""
        kwargs = {"kernel_initializer": self.kernel_initializer}
        input_ = Input(shape=self.input_shape)
        in_conv_filters = self.input_shape[0]
        if self.input_shape[0] > 128:
            in_conv_filters = 128 + (self.input_shape[0] - 128) // 4
        dense_shape = self.input_shape[0] // 16

        var_x = Conv2DBlock(in_conv_filters, activation=None, **kwargs)(input_)
        tmp_x = var_x

        var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
        res_cycles = 8 if cfg.lowmem() else 16
        for _ in range(res_cycles):
            var_x = ResidualBlock(in_conv_filters, **kwargs)(var_x)
        tmp_x = layers.LeakyReLU(negative_slope=0.1)(tmp_x)
        var_x = layers.add([var_x, tmp_x])
        var_x = Conv2DBlock(128, activation="leakyrelu", **kwargs)(var_x)
        var_x = PixelShuffler()(var_x)
        var_x = Conv2DBlock(128, activation="leakyrelu", **kwargs)(var_x)
        var_x = PixelShuffler()(var_x)
        var_x = Conv2DBlock(128, activation="leakyrelu", **kwargs)(var_x)
        var_x = SeparableConv2DBlock(256, **kwargs)(var_x)
        var_x = Conv2DBlock(512, activation="leakyrelu", **kwargs)(var_x)
        if not cfg.lowmem():
            var_x = SeparableConv2DBlock(1024, **kwargs)(var_x)

        var_x = layers.Dense(self.encoder_dim, **kwargs)(layers.Flatten()(var_x))
        var_x = layers.Dense(dense_shape * dense_shape * 1024, **kwargs)(var_x)
        var_x = layers.Reshape((dense_shape, dense_shape, 1024))(var_x)
        var_x = UpscaleBlock(512, activation="leakyrelu", **kwargs)(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side: str) -> KModel:
        """A side's decoder: (16, 16, 512) -> a (128, 128, 3) face, plus a (128, 128, 1) mask
        with ``learn_mask``.

        Each face stage is an upscale without activation, a leaky ReLU (0.2) and a residual
        block; the mask branch uses plain leaky upscales.

        Parameters
        ----------
        side
            ``"a"`` or ``"b"``: names the decoder (``decoder_<side>``) and its outputs.

        Returns
        -------
        keras.Model
            The decoder, whose output is a list: ``[face]`` or ``[face, mask]``.
        """
        kwargs = {"kernel_size": 3, "kernel_initializer": self.kernel_initializer}
        decoder_shape = self.input_shape[0] // 8
        input_ = Input(shape=(decoder_shape, decoder_shape, 512))

        var_x = input_
        for filters in (512, 256, self.input_shape[0]):
            var_x = UpscaleBlock(filters, activation=None, **kwargs)(var_x)
            var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
            var_x = ResidualBlock(filters, **kwargs)(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(512, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(256, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(self.input_shape[0], activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
