"""Overrides ``build()`` with the ``ModelBase`` members Faceswap's Phaze-A uses: an existing
model is loaded, its dropout rate is updated from the (changeable) option by cloning, then it is
compiled and summarised; anything else goes to ``ModelBase.build``."""
from __future__ import annotations

import keras
from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.model._base import ModelBase, get_all_sub_models

from . import own_build_defaults as cfg


class Model(ModelBase):
    """32 px, a dropout in the encoder."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (32, 32, 3)

    def build(self) -> None:
        is_summary = hasattr(self._args, "summary") and self._args.summary
        if not self._io.model_exists or self._is_predict or is_summary:
            super().build()
            return
        model = self.io.load()
        self._model = self._update_dropouts(model)
        self._compile_model()
        self._output_summary()

    def _update_dropouts(self, model):
        """Clone the model with the configured dropout rate, keeping every weight."""
        rate = cfg.dropout()
        for sub_model in get_all_sub_models(model):
            for layer in sub_model.layers:
                if isinstance(layer, layers.Dropout):
                    layer.rate = rate
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def build_model(self, inputs):
        encoder = self.encoder()
        outputs = self.decoder("a")(encoder(inputs[0])) + self.decoder("b")(encoder(inputs[1]))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self):
        input_ = Input(shape=self.input_shape)
        var_x = Conv2DBlock(16, activation="leakyrelu")(input_)
        var_x = Conv2DBlock(32, activation="leakyrelu")(var_x)
        var_x = layers.Dropout(cfg.dropout(), name="encoder_dropout")(layers.Flatten()(var_x))
        var_x = layers.Dense(4 * 4 * 32)(var_x)
        var_x = UpscaleBlock(16, activation="leakyrelu")(layers.Reshape((4, 4, 32))(var_x))
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side):
        input_ = Input(shape=(8, 8, 16))
        var_x = UpscaleBlock(8, activation="leakyrelu")(input_)
        var_x = UpscaleBlock(8, activation="leakyrelu")(var_x)
        return KModel(input_, [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)],
                      name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
