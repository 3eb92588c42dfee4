"""A 128 px input and a 64 px output (like dfaker and dlight, whose output size differs from
their input size)."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase


class Model(ModelBase):
    """128 px in, 64 px out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (128, 128, 3)

    def build_model(self, inputs):
        encoder = self.encoder()
        outputs = self.decoder("a")(encoder(inputs[0])) + self.decoder("b")(encoder(inputs[1]))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        input_ = Input(shape=self.input_shape)
        var_x = input_
        for filters in (8, 16, 32, 32):
            var_x = Conv2DBlock(filters, activation="leakyrelu")(var_x)
        var_x = layers.Dense(4 * 4 * 32)(layers.Flatten()(var_x))
        var_x = UpscaleBlock(16, activation="leakyrelu")(layers.Reshape((4, 4, 32))(var_x))
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 16))
        var_x = input_
        for filters in (16, 8, 8):
            var_x = UpscaleBlock(filters, activation="leakyrelu")(var_x)
        return KModel(input_, [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)],
                      name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
