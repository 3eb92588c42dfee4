"""Four outputs: a face and a learned mask per side, whatever ``learn_mask`` says, from separate
heads of one decoder per side (as Faceswap's masked decoders)."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, ResidualBlock, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase


class Model(ModelBase):
    """32 px, face + mask per side."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (32, 32, 3)

    def build_model(self, inputs):
        encoder = self.encoder()
        outputs = self.decoder("a")(encoder(inputs[0])) + self.decoder("b")(encoder(inputs[1]))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = layers.Dense(4 * 4 * 32)(layers.Flatten()(var_x))
        var_x = UpscaleBlock(16, activation="leakyrelu")(layers.Reshape((4, 4, 32))(var_x))
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 16))
        var_x = UpscaleBlock(16, activation=None)(input_)
        var_x = ResidualBlock(16)(layers.LeakyReLU(negative_slope=0.2)(var_x))
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        face = Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)
        mask = Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_x)
        return KModel(input_, [face, mask], name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
