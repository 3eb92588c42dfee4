"""Lightweight Model: a smaller Original model for GPUs with little memory (64 px in and out).

The shared encoder stops at 512 filters and a 512-wide dense layer, and hands the decoders an
8 x 8 x 256 representation; each decoder upscales it with 512/256/128 filters.
"""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from .original import Model as OriginalModel


class Model(OriginalModel):
    """Lightweight Model.

    Inherits ``input_shape`` (64, 64, 3) and
    :meth:`~plugins.train.model.original.Model.build_model` from the Original model. It has no
    options of its own; the Original model's ``lowmem`` is read (as ``low_mem``) but changes
    nothing.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.encoder_dim = 512

    def encoder(self) -> KModel:
        """The encoder, shared by sides A and B: (64, 64, 3) -> (8, 8, 256)."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        var_x = Conv2DBlock(128, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(256, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(512, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dense(4 * 4 * 512)(var_x)
        var_x = layers.Reshape((4, 4, 512))(var_x)
        var_x = UpscaleBlock(256, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side: str) -> KModel:
        """A side's decoder: (8, 8, 256) -> a (64, 64, 3) face, plus a (64, 64, 1) mask with
        ``learn_mask``.

        Parameters
        ----------
        side
            ``"a"`` or ``"b"``: names the decoder (``decoder_<side>``) and its outputs.

        Returns
        -------
        keras.Model
            The decoder, whose output is a list: ``[face]`` or ``[face, mask]``.
        """
        input_ = Input(shape=(8, 8, 256))
        var_x = input_
        var_x = UpscaleBlock(512, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(256, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(128, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, activation="sigmoid", name=f"face_out_{side}")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(512, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(256, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(128, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, activation="sigmoid",
                                        name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
