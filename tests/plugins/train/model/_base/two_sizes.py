"""A test plugin with a different input size per side (A 32 px, B 48 px), one encoder per side and
one decoder shared by both sides (all outputs come from ``decoder_both``), with a learned mask."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase


class Model(ModelBase):
    """Side A 32 px, side B 48 px; 32 px faces and masks out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = [(32, 32, 3), (48, 48, 3)]

    def build_model(self, inputs):
        decoder = self.decoder()
        outputs = (decoder(self.encoder("a", 32)(inputs[0]))
                   + decoder(self.encoder("b", 48)(inputs[1])))
        return KModel(inputs, outputs, name=self.model_name)

    @staticmethod
    def encoder(side, size):
        input_ = Input(shape=(size, size, 3))
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = layers.Dense(4 * 4 * 32)(layers.Flatten()(var_x))
        return KModel(input_, layers.Reshape((4, 4, 32))(var_x), name=f"encoder_{side}")

    @staticmethod
    def decoder():
        input_ = Input(shape=(4, 4, 32))
        var_x = UpscaleBlock(16, activation="leakyrelu")(input_)
        var_x = UpscaleBlock(16, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        face = Conv2DOutput(3, 5, name="face_out")(var_x)
        mask = Conv2DOutput(1, 5, name="mask_out")(var_x)
        return KModel(input_, [face, mask], name="decoder_both")


__all__ = get_module_objects(__name__)
