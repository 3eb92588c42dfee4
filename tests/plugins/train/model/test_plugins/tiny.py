"""A small plugin written only from Faceswap's documentation of ``original.Model``: 32 px faces,
a shared encoder, one decoder per side and a learned mask when ``learn_mask`` is on."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase
from plugins.train.train_config import Loss as cfg_loss

from . import tiny_defaults as cfg


class Model(ModelBase):
    """32 px in, 32 px out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (32, 32, 3)
        self.learn_mask = cfg_loss.learn_mask()
        self.encoder_dim = cfg.encoder_dim()

    def build_model(self, inputs):
        encoder = self.encoder()
        outputs = self.decoder("a")(encoder(inputs[0])) + self.decoder("b")(encoder(inputs[1]))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dense(4 * 4 * 64)(var_x)
        var_x = layers.Reshape((4, 4, 64))(var_x)
        var_x = UpscaleBlock(32, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 32))
        var_x = UpscaleBlock(16, activation="leakyrelu")(input_)
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]
        if self.learn_mask:
            var_y = UpscaleBlock(8, activation="leakyrelu")(input_)
            var_y = UpscaleBlock(8, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
