"""DFL-SAE model plugin, adapted from DeepFaceLab's SAE model
(https://github.com/iperov/DeepFaceLab).

Two architectures share the same encoder convolutions and decoder:

* ``df``: the encoder ends in the dense bottleneck and an upscale; each side has its own decoder
  (sub-models ``encoder_df``, ``decoder_a``, ``decoder_b``).
* ``liae``: the encoder only flattens its features; an intermediate network shared by both sides
  (``intermediate_both``) and one for side B only (``intermediate_b``) hold the bottleneck, and
  one decoder (``decoder_both``) renders both sides from the concatenated intermediate outputs.

The Keras model is named ``dfl_sae_<architecture>`` (see :attr:`Model.model_name`), while the
plugin name, and so the model file, stays ``dfl_sae``.
"""
from __future__ import annotations

import logging

import numpy as np
from keras import Input, layers
from keras import Model as KModel

from lib.model.nn_blocks import Conv2DBlock, Conv2DOutput, ResidualBlock, UpscaleBlock
from lib.utils import get_module_objects
from plugins.train.train_config import Loss as cfg_loss

from . import dfl_sae_defaults as cfg
from ._base import ModelBase

logger = logging.getLogger(__name__)


class Model(ModelBase):
    """DFL-SAE model, in its ``df`` or ``liae`` architecture.

    Attributes set here (all read from ``[model.dfl_sae]`` and ``[global.loss]``):
    ``input_shape`` (``(input_size, input_size, 3)``), ``architecture`` (``"df"`` or
    ``"liae"``), ``use_mask`` (``learn_mask``), ``multiscale_count`` (3 with
    ``multiscale_decoder``, else 1), ``encoder_dim`` and ``decoder_dim`` (the per-channel
    filter counts).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shape = (cfg.input_size(), cfg.input_size(), 3)
        self.architecture = cfg.architecture().lower()
        self.use_mask = cfg_loss.learn_mask()
        self.multiscale_count = 3 if cfg.multiscale_decoder() else 1
        self.encoder_dim = cfg.encoder_dims()
        self.decoder_dim = cfg.decoder_dims()
        logger.debug("Initialized %s: architecture=%s, ae_dims=%s, multiscale_count=%s",
                     type(self).__name__, self.architecture, self.ae_dims,
                     self.multiscale_count)

    @property
    def model_name(self) -> str:
        """The Keras model's name, which includes the architecture (``"dfl_sae_df"``)."""
        return f"{self.name}_{self.architecture}"

    @property
    def freeze_layers(self) -> list[str]:
        """The architecture's encoder (``["encoder_df"]`` or ``["encoder_liae"]``)."""
        return [f"encoder_{self.architecture}"]

    @property
    def load_layers(self) -> list[str]:
        """The architecture's encoder (``["encoder_df"]`` or ``["encoder_liae"]``)."""
        return [f"encoder_{self.architecture}"]

    @property
    def ae_dims(self) -> int:
        """The bottleneck width: ``autoencoder_dims``, or when that is 0 the architecture's
        default (256 for liae, 512 for df)."""
        retval = cfg.autoencoder_dims()
        if retval == 0:
            retval = 256 if self.architecture == "liae" else 512
        return retval

    def build_model(self, inputs):
        """Build the df or liae network; the outputs are all side-A outputs then all side-B
        outputs: the faces (smallest first with ``multiscale_decoder``) then the mask."""
        encoder = getattr(self, f"encoder_{self.architecture}")()
        enc_output_shape = encoder.output_shape[1:]
        encoder_a = encoder(inputs[0])
        encoder_b = encoder(inputs[1])

        if self.architecture == "liae":
            inter_both = self.inter_liae("both", enc_output_shape)
            int_output_shape = (np.array(inter_both.output_shape[1:]) * (1, 1, 2)).tolist()
            # As DeepFaceLab: side A has no own intermediate, it repeats the shared one.
            inter_a = layers.Concatenate()([inter_both(encoder_a), inter_both(encoder_a)])
            inter_b = layers.Concatenate()([self.inter_liae("b", enc_output_shape)(encoder_b),
                                            inter_both(encoder_b)])
            decoder = self.decoder("both", int_output_shape)
            outputs = decoder(inter_a) + decoder(inter_b)
        else:
            outputs = (self.decoder("a", enc_output_shape)(encoder_a)
                       + self.decoder("b", enc_output_shape)(encoder_b))
        return KModel(inputs, outputs, name=self.model_name)

    def _encoder_convolutions(self, inputs):
        """The four stride-2 convolutions both encoders start with."""
        dims = self.input_shape[-1] * self.encoder_dim
        var_x = inputs
        for multiplier in (1, 2, 4, 8):
            var_x = Conv2DBlock(dims * multiplier, activation="leakyrelu")(var_x)
        return var_x

    def encoder_df(self):
        """The df encoder: four convolutions, the dense bottleneck (:attr:`ae_dims`), then an
        upscale: (s, s, 3) -> (s/8, s/8, ae_dims)."""
        input_ = Input(shape=self.input_shape)
        lowest_dense_res = self.input_shape[0] // 16
        var_x = self._encoder_convolutions(input_)
        var_x = layers.Dense(self.ae_dims)(layers.Flatten()(var_x))
        var_x = layers.Dense(lowest_dense_res * lowest_dense_res * self.ae_dims)(var_x)
        var_x = layers.Reshape((lowest_dense_res, lowest_dense_res, self.ae_dims))(var_x)
        var_x = UpscaleBlock(self.ae_dims, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name="encoder_df")

    def encoder_liae(self):
        """The liae encoder: four convolutions, flattened."""
        input_ = Input(shape=self.input_shape)
        var_x = layers.Flatten()(self._encoder_convolutions(input_))
        return KModel(input_, var_x, name="encoder_liae")

    def inter_liae(self, side: str, input_shape):
        """A liae intermediate network (``intermediate_{side}``): the dense bottleneck
        (:attr:`ae_dims`) then an upscale to (s/8, s/8, 2 * ae_dims).

        Parameters
        ----------
        side
            ``"both"`` or ``"b"``.
        input_shape
            The encoder's output shape, without the batch axis.
        """
        input_ = Input(shape=input_shape)
        lowest_dense_res = self.input_shape[0] // 16
        var_x = layers.Dense(self.ae_dims)(input_)
        var_x = layers.Dense(lowest_dense_res * lowest_dense_res * self.ae_dims * 2)(var_x)
        var_x = layers.Reshape((lowest_dense_res, lowest_dense_res, self.ae_dims * 2))(var_x)
        var_x = UpscaleBlock(self.ae_dims * 2, activation="leakyrelu")(var_x)
        return KModel(input_, var_x, name=f"intermediate_{side}")

    def decoder(self, side: str, input_shape):
        """A decoder (``decoder_{side}``): three upscales, each followed by two residual blocks,
        to the face; with ``learn_mask`` a separate branch of three upscales to the mask.

        Parameters
        ----------
        side
            ``"a"`` or ``"b"`` (df) or ``"both"`` (liae).
        input_shape
            The shape of the decoder's input, without the batch axis.

        Returns
        -------
        A model whose output is a list: with ``multiscale_decoder`` the faces at 1/4 and 1/2 of
        the output size, then the full-size face, then the mask with ``learn_mask``.
        """
        input_ = Input(shape=input_shape)
        outputs = []
        dims = self.input_shape[-1] * self.decoder_dim
        var_x = input_
        for multiplier, size, min_count in ((8, 32, 3), (4, 64, 2), (2, 128, 1)):
            var_x = UpscaleBlock(dims * multiplier, activation=None)(var_x)
            var_x = layers.LeakyReLU(negative_slope=0.2)(var_x)
            var_x = ResidualBlock(dims * multiplier)(var_x)
            var_x = ResidualBlock(dims * multiplier)(var_x)
            if self.multiscale_count >= min_count:
                outputs.append(Conv2DOutput(3, 5, name=f"face_out_{size}_{side}")(var_x))

        if self.use_mask:
            var_y = input_
            for multiplier in (8, 4, 2):
                var_y = UpscaleBlock(self.decoder_dim * multiplier, activation="leakyrelu")(var_y)
            outputs.append(Conv2DOutput(1, 5, name=f"mask_out_{side}")(var_y))
        return KModel(input_, outputs, name=f"decoder_{side}")


__all__ = get_module_objects(__name__)
