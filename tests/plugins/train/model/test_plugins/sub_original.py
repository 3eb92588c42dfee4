"""Subclasses ``original.Model`` (as dfaker, dfl_h128, lightweight and villain do): keeps its
``__init__`` (``low_mem``, ``learn_mask``, ``encoder_dim`` from the Original options) and
``build_model``, replaces the encoder and the decoders with small ones."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model.original import Model as OriginalModel


class Model(OriginalModel):
    """A small Original: 32 px faces."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (32, 32, 3)
        self.encoder_dim = 32 if self.low_mem else 64

    def encoder(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dense(4 * 4 * 32)(var_x)
        var_x = layers.Reshape((4, 4, 32))(var_x)
        var_x = UpscaleBlock(16, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 16))
        var_x = UpscaleBlock(8, activation="leakyrelu")(input_)
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]
        if self.learn_mask:
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_x))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
