"""The optimizer and the losses of a model, from the ``global.optimizer`` and ``global.loss``
options of the training configuration.

* :class:`Optimizer` builds the configured Keras optimizer.
* :class:`Loss` turns the loss options into one Keras loss per model output (face losses wrapped
  in a mask-aware :class:`~lib.model.losses.LossWrapper`) and their display names.

Both are importable from :mod:`plugins.train.model._base.settings` too, where Faceswap has them.
"""
from __future__ import annotations

import logging
from typing import Any

import keras

from lib.errors import FaceswapError
from lib.model.autoclip import AutoClipper
from lib.model.losses import LossWrapper, get_loss_function
from lib.model.optimizers import AdaBelief
from plugins.train import train_config as cfg

__all__ = ["Loss", "Optimizer"]

logger = logging.getLogger(__name__)

_OPTIMIZERS: dict[str, tuple[type[keras.optimizers.Optimizer], tuple[str, ...]]] = {
    # name: (class, which of beta_1/beta_2/amsgrad it takes)
    "adabelief": (AdaBelief, ("beta_1", "beta_2", "amsgrad")),
    "adam": (keras.optimizers.Adam, ("beta_1", "beta_2", "amsgrad")),
    "adamax": (keras.optimizers.Adamax, ("beta_1", "beta_2")),
    "adamw": (keras.optimizers.AdamW, ("beta_1", "beta_2", "amsgrad")),
    "lion": (keras.optimizers.Lion, ("beta_1", "beta_2")),
    "nadam": (keras.optimizers.Nadam, ("beta_1", "beta_2")),
    "rms-prop": (keras.optimizers.RMSprop, ()),
}


class Optimizer:
    """The optimizer that ``global.optimizer`` configures (Faceswap 3's rules).

    ``learning_rate`` always; ``epsilon = 10 ** epsilon_exponent`` for every optimizer but
    ``lion``; ``ada_beta_1``/``ada_beta_2``/``ada_amsgrad`` where the optimizer takes them;
    ``gradient_clipping`` as ``global_clipnorm``/``clipnorm``/``clipvalue`` with
    ``clipping_value``, or AutoClip at the ``clipping_value * 10`` percentile of the last
    ``autoclip_history`` global norms; ``use_ema`` (with ``ema_momentum`` and
    ``ema_overwrite_frequency = ema_frequency`` when on); ``weight_decay`` when above 0;
    ``gradient_accumulation_steps`` when ``gradient_accumulation`` is above 1.
    """

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        """A new optimizer instance each time it is read, as in Faceswap."""
        section = cfg.Optimizer
        name = section.optimizer()
        optimizer_class, betas = _OPTIMIZERS[name]
        kwargs: dict[str, Any] = {"learning_rate": section.learning_rate(),
                                  "use_ema": section.use_ema()}
        if name != "lion":
            kwargs["epsilon"] = 10 ** int(section.epsilon_exponent())
        values = {"beta_1": section.ada_beta_1(), "beta_2": section.ada_beta_2(),
                  "amsgrad": section.ada_amsgrad()}
        kwargs.update({key: values[key] for key in betas})
        if section.use_ema():
            kwargs["ema_momentum"] = section.ema_momentum()
            kwargs["ema_overwrite_frequency"] = section.ema_frequency()
        if section.weight_decay() > 0:
            kwargs["weight_decay"] = section.weight_decay()
        if section.gradient_accumulation() > 1:
            kwargs["gradient_accumulation_steps"] = section.gradient_accumulation()
        clipping, value = section.gradient_clipping(), section.clipping_value()
        clip_argument = {"global_norm": "global_clipnorm", "norm": "clipnorm",
                         "value": "clipvalue"}.get(clipping)
        if clip_argument is not None:
            kwargs[clip_argument] = value
        optimizer = optimizer_class(**kwargs)
        if clipping == "autoclip":
            logger.info("Enabling AutoClip")
            # Faceswap compat: a history of 0 (allowed by the option's range) cannot give a
            # percentile; we keep at least one norm.
            history = max(1, section.autoclip_history())
            AutoClipper(int(value * 10), history_size=history).attach(optimizer)
        logger.debug("Optimizer %s: %s, clipping %s", name, kwargs, clipping)
        return optimizer


class Loss:
    """The loss function of every model output, from the ``global.loss`` options.

    Face outputs get a :class:`~lib.model.losses.LossWrapper` holding each configured face loss
    (``loss_function`` at weight 100 %, then ``loss_function_2..4`` at their weights; a loss
    named ``none`` or weighted 0 is dropped), masked by the mask channel when
    ``penalized_mask_loss`` is on, plus extra copies weighted by ``eye_multiplier`` and
    ``mouth_multiplier`` on the eye and mouth channels. Mask outputs get ``mask_loss_function``.

    The training targets carry the mask channels after the 3 colour channels, in the order
    :meth:`mask_channels` gives (the data feeder appends them the same way).

    Parameters
    ----------
    color_order
        ``"bgr"`` or ``"rgb"``, the order of the model's colour channels (used by ``flip``).

    Faceswap compat: with ``penalized_mask_loss`` off, Faceswap warns that the eye and mouth
    multipliers are disabled but still adds *unmasked* copies of the face loss weighted by them
    (api_spec quirk Q1). We add nothing in that case, as the warning says.
    """

    def __init__(self, color_order: str = "bgr") -> None:
        if color_order not in ("bgr", "rgb"):
            raise ValueError(f"`color_order` must be 'bgr' or 'rgb'. Received: {color_order!r}")
        self.color_order = color_order
        self._names: list[str] = []
        self._functions: dict[str, keras.losses.Loss] = {}

    @staticmethod
    def mask_channels() -> list[int]:
        """Target channel of the face mask, the eye mask and the mouth mask (``-1`` = unused).

        Channels start at 3 and go, in this order, to the penalized mask, eyes (multiplier above
        1) and mouth (multiplier above 1). E.g. all on ``[3, 4, 5]``; penalized and mouth only
        ``[3, -1, 4]``; nothing ``[-1, -1, -1]``.
        """
        section = cfg.Loss
        penalized = section.penalized_mask_loss()
        eye, mouth = section.eye_multiplier(), section.mouth_multiplier()
        if not penalized and (eye > 1 or mouth > 1):
            logger.warning("The eye and mouth multipliers need penalized_mask_loss; they are "
                           "disabled.")
            eye = mouth = 1
        channels, next_channel = [], 3
        for used in (penalized, eye > 1, mouth > 1):
            channels.append(next_channel if used else -1)
            next_channel += int(used)
        return channels

    @property
    def names(self) -> list[str]:
        """``["total", <one name per output>]``, e.g. ``["total", "face_a", "face_b"]``."""
        return list(self._names)

    @property
    def functions(self) -> dict[str, keras.losses.Loss]:
        """One loss per output, keyed by its name, in output order."""
        return dict(self._functions)

    def configure(self, model: keras.Model) -> None:
        """Build the names and loss functions for ``model``'s outputs.

        The first half of the outputs is side ``a``, the second side ``b``. Within a side, an
        output with one channel is a ``mask``, otherwise a ``face``; when a type occurs more than
        once on a side, its name gets the output's position in that side (``face_a_0``).
        """
        outputs = list(model.outputs)
        if len(outputs) % 2:
            raise FaceswapError(
                f"The model '{model.name}' has {len(outputs)} outputs. A Faceswap model has the "
                "same outputs for side A and side B (decoder_a outputs, then decoder_b outputs).")
        half = len(outputs) // 2
        names = []
        for side, side_outputs in (("a", outputs[:half]), ("b", outputs[half:])):
            kinds = ["mask" if output.shape[-1] == 1 else "face" for output in side_outputs]
            for position, kind in enumerate(kinds):
                suffix = f"_{position}" if kinds.count(kind) > 1 else ""
                names.append(f"{kind}_{side}{suffix}")
        self._names = ["total", *names]
        self._functions = {name: self._mask_loss() if name.startswith("mask")
                           else self._face_loss() for name in names}
        logger.debug("Loss names: %s", self._names)

    def _mask_loss(self) -> keras.losses.Loss:
        return get_loss_function(cfg.Loss.mask_loss_function())

    def _face_losses(self) -> list[tuple[str, float]]:
        section = cfg.Loss
        configured = [(section.loss_function(), 100),
                      (section.loss_function_2(), section.loss_weight_2()),
                      (section.loss_function_3(), section.loss_weight_3()),
                      (section.loss_function_4(), section.loss_weight_4())]
        # loss_function cannot be "none" (not among its choices), so at least one loss remains
        return [(name, weight) for name, weight in configured if name != "none" and weight > 0]

    def _face_loss(self) -> LossWrapper:
        face, eye, mouth = self.mask_channels()
        multipliers = [(eye, cfg.Loss.eye_multiplier()), (mouth, cfg.Loss.mouth_multiplier())]
        wrapper = LossWrapper()
        for name, weight in self._face_losses():
            wrapper.add_loss(get_loss_function(name, self.color_order), weight / 100.0, face)
            for channel, multiplier in multipliers:
                if channel != -1 and multiplier > 1:
                    wrapper.add_loss(get_loss_function(name, self.color_order),
                                     weight / 100.0 * multiplier, channel)
        return wrapper
