"""Original Faceswap Model: the reference plugin and the template for new ones.

A shared encoder turns a 64 px face into an 8 x 8 x 512 representation; one decoder per side
turns it back into a face (and, with ``learn_mask``, a mask). Training A through decoder A and B
through decoder B teaches the encoder a representation both decoders understand; the swap feeds A
through decoder B.
"""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import original_defaults as cfg
from ._base import ModelBase


class Model(ModelBase):
    """Original Faceswap Model.

    Plugins define ``input_shape`` after calling the parent's ``__init__``. Any attribute used
    only by this model is defined here too, taking care not to override a ModelBase attribute.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (64, 64, 3)
        self.low_mem = cfg.lowmem()
        self.learn_mask = cfg_loss.learn_mask()
        self.encoder_dim = 512 if self.low_mem else 1024

    def build_model(self, inputs):
        """One encoder shared by both sides, one decoder per side; a flat list of outputs, side A
        first. Every output comes from a ``Conv2DOutput`` (float32 under mixed precision)."""
        input_a, input_b = inputs
        encoder = self.encoder()
        outputs = self.decoder("a")(encoder(input_a)) + self.decoder("b")(encoder(input_b))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        """The encoder, shared by sides A and B: (64, 64, 3) -> (8, 8, 512)."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        var_x = Conv2DBlock(128, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(256, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(512, activation="leakyrelu")(var_x)
        if not self.low_mem:
            var_x = Conv2DBlock(1024, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dense(4 * 4 * 1024)(var_x)
        var_x = layers.Reshape((4, 4, 1024))(var_x)
        var_x = UpscaleBlock(512, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        """A side's decoder: (8, 8, 512) -> a (64, 64, 3) face, plus a (64, 64, 1) mask with
        ``learn_mask``. Returns a model whose output is a list."""
        input_ = Input(shape=(8, 8, 512))
        var_x = input_
        var_x = UpscaleBlock(256, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(128, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(64, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]
        if self.learn_mask:
            var_y = input_
            var_y = UpscaleBlock(256, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(128, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(64, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
