"""Intermediate Auto Encoder (IAE) Model.

One encoder and one decoder, both shared by the two sides. Between them sit three intermediate
dense models: ``inter_a`` (side A only), ``inter_b`` (side B only) and ``inter_both`` (both
sides). A side's decoder input is its own intermediate's output concatenated with
``inter_both``'s, so the swap feeds A's encoding through ``inter_b`` and ``inter_both``.
"""
from __future__ import annotations

from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from ._base import ModelBase


class Model(ModelBase):
    """Intermediate Auto Encoder Model: 64 px in and out. It has no options of its own."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (64, 64, 3)
        self.encoder_dim = 1024

    def build_model(self, inputs: list) -> KModel:
        """The shared encoder and decoder with the three intermediate models between them; a
        flat list of outputs, side A first. Both sides' outputs come from the one ``decoder``.

        Parameters
        ----------
        inputs
            ``[face_in_a, face_in_b]``.

        Returns
        -------
        keras.Model
            The model, named :attr:`model_name`.
        """
        encoder = self.encoder()
        decoder = self.decoder()
        inter_a = self.intermediate("a")
        inter_b = self.intermediate("b")
        inter_both = self.intermediate("both")

        encoder_a = encoder(inputs[0])
        encoder_b = encoder(inputs[1])

        outputs = (decoder(layers.Concatenate()([inter_a(encoder_a), inter_both(encoder_a)]))
                   + decoder(layers.Concatenate()([inter_b(encoder_b), inter_both(encoder_b)])))
        return KModel(inputs, outputs, name=self.model_name)

    def encoder(self) -> KModel:
        """The encoder, shared by sides A and B: (64, 64, 3) -> a flat vector of 4 * 4 * 1024."""
        input_ = Input(shape=self.input_shape)
        var_x = input_
        var_x = Conv2DBlock(128, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(256, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(512, activation="leakyrelu")(var_x)
        var_x = Conv2DBlock(1024, activation="leakyrelu")(var_x)
        var_x = layers.Flatten()(var_x)
        return KModel(input_, var_x, name="encoder")

    def intermediate(self, side: str) -> KModel:
        """An intermediate model: the flat encoding -> dense ``encoder_dim`` -> (4, 4,
        encoder_dim / 2).

        Parameters
        ----------
        side
            ``"a"``, ``"b"`` or ``"both"``: names the model ``inter_<side>``.

        Returns
        -------
        keras.Model
            The intermediate model.
        """
        input_ = Input(shape=(4 * 4 * 1024,))
        var_x = layers.Dense(self.encoder_dim)(input_)
        var_x = layers.Dense(4 * 4 * int(self.encoder_dim / 2))(var_x)
        var_x = layers.Reshape((4, 4, int(self.encoder_dim / 2)))(var_x)
        return KModel(input_, var_x, name=f"inter_{side}")

    def decoder(self) -> KModel:
        """The decoder, shared by sides A and B: (4, 4, encoder_dim) -> a (64, 64, 3) face, plus a
        (64, 64, 1) mask with ``learn_mask``. Its output is a list: ``[face]`` or
        ``[face, mask]``."""
        input_ = Input(shape=(4, 4, self.encoder_dim))
        var_x = input_
        var_x = UpscaleBlock(512, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(256, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(128, activation="leakyrelu")(var_x)
        var_x = UpscaleBlock(64, activation="leakyrelu")(var_x)
        outputs = [Conv2DOutput(3, 5, name="face_out")(var_x)]

        if cfg_loss.learn_mask():
            var_y = input_
            var_y = UpscaleBlock(512, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(256, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(128, activation="leakyrelu")(var_y)
            var_y = UpscaleBlock(64, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name="mask_out")(var_y))
        return KModel(input_, outputs, name="decoder")


__all__ = get_module_objects(__name__)
