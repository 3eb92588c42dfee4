"""Overrides ``model_name``, ``freeze_layers`` and ``load_layers`` (as dfl_sae does): the Keras
model is ``arch_names_<arch>`` and its encoder ``encoder_<arch>``; the files keep the plugin name
(``arch_names.keras``)."""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase

from . import arch_names_defaults as cfg


class Model(ModelBase):
    """Two architectures, chosen by a fixed option."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (32, 32, 3)
        self.architecture = cfg.architecture()

    @property
    def model_name(self) -> str:
        return f"{self.name}_{self.architecture}"

    @property
    def freeze_layers(self) -> list[str]:
        return [f"encoder_{self.architecture}"]

    @property
    def load_layers(self) -> list[str]:
        return [f"encoder_{self.architecture}"]

    def build_model(self, inputs):
        encoder = getattr(self, f"encoder_{self.architecture}")()
        outputs = self.decoder("a")(encoder(inputs[0])) + self.decoder("b")(encoder(inputs[1]))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder_wide(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(32, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(16, activation="leakyrelu")(Conv2DBlock(32)(var_x))
        return KModel(input_, var_x, name="encoder_wide")

    def encoder_dense(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = layers.Dense(4 * 4 * 32)(layers.Flatten()(var_x))
        var_x = UpscaleBlock(16, activation="leakyrelu")(layers.Reshape((4, 4, 32))(var_x))
        return KModel(input_, var_x, name="encoder_dense")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 16))
        var_x = UpscaleBlock(8, activation="leakyrelu")(input_)
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        return KModel(input_, [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)],
                      name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
