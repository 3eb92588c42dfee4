"""RealFace model plugin: an extra detailed variant of the Original model, with ideas from
Bryanlyon and inspiration from the Villain model.

A face of 64 to 128 px goes through four downscales (three of them followed by residual blocks)
to a shared representation. Each decoder has its own dense bottleneck, which sets the width it
starts upscaling from; decoder A (the original face) is lighter than decoder B (the new face).
The output is 64 to 256 px.
"""
from __future__ import annotations

import logging

from keras import Input, initializers, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, ResidualBlock, UpscaleBlock
from lib.utils import FaceswapError, get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import realface_defaults as cfg
from ._base import ModelBase

logger = logging.getLogger(__name__)


class Model(ModelBase):
    """RealFace autoencoder.

    Attributes set here: ``input_shape`` (``(input_size, input_size, 3)``), ``dense_width``
    and ``upscalers_no`` (from :meth:`get_dense_width_upscalers_numbers`) and
    ``kernel_initializer`` (``RandomNormal(0, 0.02)``, kept for compatibility: no layer uses
    it).

    Raises
    ------
    lib.errors.FaceswapError
        From :meth:`check_input_output`, for sizes the network cannot be built with.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (cfg.input_size(), cfg.input_size(), 3)
        self.check_input_output()
        self.dense_width, self.upscalers_no = self.get_dense_width_upscalers_numbers()
        self.kernel_initializer = initializers.RandomNormal(0, 0.02)

    @property
    def downscalers_no(self) -> int:
        """The number of downscales in the encoder (fixed at 4)."""
        return 4

    @property
    def _downscale_ratio(self) -> int:
        """How much the encoder shrinks the face: ``2 ** downscalers_no``."""
        return 2 ** self.downscalers_no

    @property
    def dense_filters(self) -> int:
        """Channels of decoder B's reshaped dense output: fewer for wider dense outputs, rounded
        down to a multiple of 16."""
        return (int(1024 - (self.dense_width - 4) * 64) // 16) * 16

    def check_input_output(self) -> None:
        """Check that ``input_size`` and ``output_size`` can be built.

        Raises
        ------
        lib.errors.FaceswapError
            Unless ``input_size`` is between 64 and 128 and divisible by 16, and
            ``output_size`` is between 64 and 256 and divisible by 32.

        Faceswap compat: Faceswap logs an error and calls ``sys.exit(1)``; we raise
        ``FaceswapError`` with the same condition, naming the option to change.
        """
        input_size = cfg.input_size()
        output_size = cfg.output_size()
        if not 64 <= input_size <= 128 or input_size % 16 != 0:
            raise FaceswapError(
                f"RealFace cannot take input faces of {input_size} px: `input_size` must be "
                "between 64 and 128 and divisible by 16 (64, 80, 96, 112 or 128). Change "
                "`input_size` in the [model.realface] section of your train configuration file.")
        if not 64 <= output_size <= 256 or output_size % 32 != 0:
            raise FaceswapError(
                f"RealFace cannot output faces of {output_size} px: `output_size` must be "
                "between 64 and 256 and divisible by 32 (64, 96, 128, 160, 192, 224 or 256). "
                "Change `output_size` in the [model.realface] section of your train "
                "configuration file.")
        logger.debug("Input and output sizes are valid")

    def get_dense_width_upscalers_numbers(self) -> tuple[int, int]:
        """The width of the decoders' reshaped dense output and the number of upscales.

        The output is reached from a width of ``output_size / 2**n`` with ``n`` upscales, for
        ``n`` of 4 or 5 where that width is below 10; of those, the one whose width times
        :attr:`_downscale_ratio` is closest to ``input_size`` wins.

        Returns
        -------
        ``(dense_width, upscalers_no)``
        """
        output_size = cfg.output_size()
        sides = [(output_size // 2 ** n, n) for n in (4, 5) if (output_size // 2 ** n) < 10]
        closest = min((width * self._downscale_ratio for width, _ in sides),
                      key=lambda size: abs(size - cfg.input_size()))
        dense_width, upscalers_no = [(width, number) for width, number in sides
                                     if width * self._downscale_ratio == closest][0]
        logger.debug("dense_width: %s, upscalers_no: %s", dense_width, upscalers_no)
        return dense_width, upscalers_no

    def build_model(self, inputs):
        """One shared encoder, one decoder per side."""
        encoder = self.encoder()
        encoder_a = encoder(inputs[0])
        encoder_b = encoder(inputs[1])
        outputs = self.decoder_a()(encoder_a) + self.decoder_b()(encoder_b)
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        """The encoder: three downscales each followed by two residual blocks, then a fourth
        downscale: (s, s, 3) -> (s/16, s/16, 8 * complexity_encoder)."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        encoder_complexity = cfg.complexity_encoder()
        for idx in range(self.downscalers_no - 1):
            filters = encoder_complexity * 2 ** idx
            var_x = Conv2DBlock(filters, activation=None)(var_x)
            var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
            var_x = ResidualBlock(filters, use_bias=True)(var_x)
            var_x = ResidualBlock(filters, use_bias=True)(var_x)
        var_x = Conv2DBlock(encoder_complexity * 2 ** (self.downscalers_no - 1),
                            activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def _decoder_input(self):
        """The input of a decoder: the encoder's output shape."""
        input_filters = cfg.complexity_encoder() * 2 ** (self.downscalers_no - 1)
        input_width = cfg.input_size() // self._downscale_ratio
        return Input(shape=(input_width, input_width, input_filters))

    def _mask_branch(self, inputs, side: str):
        """``upscalers_no - 1`` leaky upscales (384 filters, halved each time) and the mask."""
        mask_complexity = 384
        var_y = inputs
        for idx in range(self.upscalers_no - 1):
            var_y = UpscaleBlock(mask_complexity // 2 ** idx, activation="leakyrelu")(var_y)
        return Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y)

    def decoder_b(self):
        """Decoder B: the dense bottleneck (``dense_nodes``), an upscale and a residual block,
        then upscales each followed by two residual blocks, and a last leaky upscale to the
        face; with ``learn_mask`` a mask branch from the first upscale."""
        input_ = self._decoder_input()
        var_xy = layers.Dense(cfg.dense_nodes())(layers.Flatten()(input_))
        var_xy = layers.Dense(self.dense_width * self.dense_width * self.dense_filters)(var_xy)
        var_xy = layers.Reshape((self.dense_width, self.dense_width, self.dense_filters))(var_xy)
        var_xy = UpscaleBlock(self.dense_filters, activation=None)(var_xy)

        var_x = layers.LeakyReLU(negative_slope=0.2)(var_xy)
        var_x = ResidualBlock(self.dense_filters, use_bias=False)(var_x)

        decoder_b_complexity = cfg.complexity_decoder()
        for idx in range(self.upscalers_no - 2):
            filters = decoder_b_complexity // 2 ** idx
            var_x = UpscaleBlock(filters, activation=None)(var_x)
            var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
            var_x = ResidualBlock(filters, use_bias=False)(var_x)
            var_x = ResidualBlock(filters, use_bias=True)(var_x)
        var_x = UpscaleBlock(decoder_b_complexity // 2 ** (self.upscalers_no - 2),
                             activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out_b")(var_x)]
        if cfg_loss.learn_mask():
            outputs.append(self._mask_branch(var_xy, "b"))
        return KModel(input_, outputs, name="decoder_b")

    def decoder_a(self):
        """Decoder A, two thirds the width of decoder B: the dense bottleneck, an upscale and a
        residual block, then leaky upscales to the face; with ``learn_mask`` a mask branch from
        the first upscale."""
        input_ = self._decoder_input()
        dense_nodes = int(cfg.dense_nodes() / 1.5)
        dense_filters = int(self.dense_filters / 1.5)
        var_xy = layers.Dense(dense_nodes)(layers.Flatten()(input_))
        var_xy = layers.Dense(self.dense_width * self.dense_width * dense_filters)(var_xy)
        var_xy = layers.Reshape((self.dense_width, self.dense_width, dense_filters))(var_xy)
        var_xy = UpscaleBlock(dense_filters, activation=None)(var_xy)

        var_x = layers.LeakyReLU(negative_slope=0.2)(var_xy)
        var_x = ResidualBlock(dense_filters, use_bias=False)(var_x)

        decoder_a_complexity = int(cfg.complexity_decoder() / 1.5)
        for idx in range(self.upscalers_no - 1):
            var_x = UpscaleBlock(decoder_a_complexity // 2 ** idx, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out_a")(var_x)]
        if cfg_loss.learn_mask():
            outputs.append(self._mask_branch(var_xy, "a"))
        return KModel(input_, outputs, name="decoder_a")


__all__ = get_module_objects(__name__)
