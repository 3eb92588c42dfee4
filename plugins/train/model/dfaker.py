"""Dfaker Model, adapted from dfaker's df project (https://github.com/dfaker/df).

The Original model's encoder (shared by both sides) with Dfaker's decoders: each upscale stage is
followed by a leaky ReLU and a residual block, and the decoders output twice the input size
(64 -> 128 px by default, 128 -> 256 px with ``output_size = 256``).
"""
from __future__ import annotations

import logging

from keras import Input, initializers, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DOutput, ResidualBlock, UpscaleBlock
from lib.utils import FaceswapError, get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import dfaker_defaults as cfg
from .original import Model as OriginalModel

logger = logging.getLogger(__name__)


class Model(OriginalModel):
    """Dfaker Model.

    Inherits :meth:`~plugins.train.model.original.Model.build_model` and
    :meth:`~plugins.train.model.original.Model.encoder` from the Original model; the encoder
    therefore follows the Original model's ``lowmem`` option (section ``[model.original]``),
    which is not stored in this model's state file. Its dense width is always 1024.

    Raises
    ------
    lib.utils.FaceswapError
        If ``output_size`` in ``[model.dfaker]`` is neither 128 nor 256.
        Faceswap compat: Faceswap logs an error and calls ``sys.exit(1)``; we raise instead.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._output_size = cfg.output_size()
        if self._output_size not in (128, 256):
            raise FaceswapError(
                f"The Dfaker model's output size must be 128 or 256 px. Received: "
                f"{self._output_size}. Change 'output_size' in the [model.dfaker] section of "
                "the training configuration file to 128 or 256.")
        self.input_shape = (self._output_size // 2, self._output_size // 2, 3)
        self.encoder_dim = 1024
        self.kernel_initializer = initializers.RandomNormal(0, 0.02)

    def decoder(self, side: str) -> KModel:
        """A side's decoder: (8, 8, 512) -> an ``output_size`` face, plus a mask of the same size
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
        input_ = Input(shape=(8, 8, 512))
        widths = [1024, 512, 256, 128] if self._output_size == 256 else [512, 256, 128]

        var_x = input_
        for filters in widths:
            var_x = UpscaleBlock(filters, activation=None)(var_x)
            var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
            var_x = ResidualBlock(filters, kernel_initializer=self.kernel_initializer)(var_x)
        var_x = UpscaleBlock(64, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            for filters in widths:
                var_y = UpscaleBlock(filters, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(64, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
