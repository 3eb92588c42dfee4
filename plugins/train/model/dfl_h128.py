"""DFL-H128 Model, adapted from DeepFaceLab's H128 model (https://github.com/iperov/DeepFaceLab).

A 128 px variant of the Original model: a shared encoder down to a dense bottleneck of
``encoder_dim`` (512, or 256 with this plugin's ``lowmem``), reshaped to 8 x 8 and upscaled to
16 x 16; one decoder per side upscales back to 128 px.
"""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import dfl_h128_defaults as cfg
from .original import Model as OriginalModel


class Model(OriginalModel):
    """DFL-H128 Model.

    Inherits :meth:`~plugins.train.model.original.Model.build_model`; its own ``lowmem`` option
    (section ``[model.dfl_h128]``) sets ``encoder_dim``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (128, 128, 3)
        self.encoder_dim = 256 if cfg.lowmem() else 512

    def encoder(self) -> KModel:
        """The encoder, shared by sides A and B: (128, 128, 3) -> (16, 16, encoder_dim)."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        var_x = Conv2DBlock(128, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(256, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(512, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(1024, activation="leakyrelu")(var_x)
        var_x = layers.Dense(self.encoder_dim)(layers.Flatten()(var_x))
        var_x = layers.Dense(8 * 8 * self.encoder_dim)(var_x)
        var_x = layers.Reshape((8, 8, self.encoder_dim))(var_x)
        var_x = UpscaleBlock(self.encoder_dim, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder")

    def decoder(self, side: str) -> KModel:
        """A side's decoder: (16, 16, encoder_dim) -> a (128, 128, 3) face, plus a (128, 128, 1)
        mask with ``learn_mask``.

        Parameters
        ----------
        side
            ``"a"`` or ``"b"``: names the decoder (``decoder_<side>``) and its outputs.

        Returns
        -------
        keras.Model
            The decoder, whose output is a list: ``[face]`` or ``[face, mask]``.
        """
        input_ = Input(shape=(16, 16, self.encoder_dim))
        var_x = input_
        var_x = UpscaleBlock(self.encoder_dim, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(self.encoder_dim // 2, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(self.encoder_dim // 4, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name=f"face_out_{side}")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(self.encoder_dim, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(self.encoder_dim // 2, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(self.encoder_dim // 4, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
