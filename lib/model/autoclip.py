"""AutoClip: clip gradients to a percentile of the history of their norms."""
from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from lib.registry import register_serializable

__all__ = ["AutoClipper"]

# The percentile's rank arithmetic, (history_size - 1) * 100, is int32 on every backend.
_MAX_HISTORY = (2**31 - 1) // 100


def _global_norm(gradients: list[Any]) -> Any:
    """The L2 norm of all the (non-``None``) gradients together, in float32."""
    squares = [ops.sum(ops.square(ops.cast(grad, "float32")))
               for grad in gradients if grad is not None]
    return ops.sqrt(ops.sum(ops.stack(squares)))


def _scaled(gradient: Any, scale: Any) -> Any:
    """``gradient * scale`` in the gradient's dtype."""
    gradient = ops.convert_to_tensor(gradient)
    return ops.multiply(gradient, ops.cast(scale, gradient.dtype))


def _percentile(history: Any, count: Any, percentile: int) -> Any:
    """The ``percentile``-th percentile of the first ``count`` entries of ``history``.

    Linear interpolation between the two nearest ranks, as ``np.percentile``'s default method.
    The index arithmetic is integer (``percentile`` is an integer), so the interpolation weight is
    exact.
    """
    size = history.shape[0]
    positions = ops.arange(size, dtype="int32")
    # Unfilled slots sort to the end, so the first `count` sorted entries are the history.
    filled = ops.where(positions < count, history, float("inf"))
    ordered = ops.sort(filled)
    last = ops.maximum(count, 1) - 1
    scaled = last * percentile
    lower = ops.floor_divide(scaled, 100)
    weight = ops.cast(scaled - lower * 100, "float32") / 100.0
    upper = ops.minimum(lower + 1, last)
    low_value = ops.take(ordered, lower)
    high_value = ops.take(ordered, upper)
    return low_value + (high_value - low_value) * weight


@register_serializable()
class AutoClipper:
    """AutoClip: clip the gradients' global norm to a percentile of its own history.

    Every training step, the global L2 norm of all gradients is recorded in a history of the last
    ``history_size`` steps, and all gradients are scaled down together so that their global norm
    is at most the ``clip_percentile``-th percentile of that history (the current step
    included). The percentile is interpolated linearly between ranks, as ``np.percentile``.

    The history is a circular buffer in two optimizer variables (the norms and a count of
    recorded norms), and the percentile is computed with ``keras.ops``, so clipping runs inside
    compiled train steps on every backend (TensorFlow, JAX's stateless optimizer variables,
    PyTorch) and the history is saved and restored with the optimizer's state. Use
    :meth:`attach` to install the clipper on an optimizer before training. The attachment is not
    part of the optimizer's config: to resume, attach a new clipper to the new optimizer before
    loading the optimizer's variables.

    Parameters
    ----------
    clip_percentile
        The percentile of the history to clip to, an integer in [0, 100]. Faceswap uses
        ``int(clipping_value * 10)`` (``10`` in Faceswap 2).
    history_size
        The number of past global norms kept. Default: ``10000``.

    Faceswap compat: gradients are clipped by their **global** norm (all tensors scaled by the
    same factor) to a linearly interpolated percentile, the intended behaviour of Faceswap 3.
    Faceswap 3's torch code clips nothing (it calls ``clip_grad_norm_`` on the gradient tensors,
    which rescales their own, empty, ``.grad``), and Faceswap 2 clipped each tensor by its own
    norm to a nearest-rank percentile. AutoClip's paper clips by the global norm.

    Faceswap compat: a non-finite global norm is not recorded (the count does not advance), so a
    single overflow cannot poison the percentile for ``history_size`` steps; Faceswap records it
    and then clips to NaN. The gradients of such a step stay non-finite, as with Keras'
    ``global_clipnorm``.

    Examples
    --------
    >>> import keras
    >>> from lib.model.autoclip import AutoClipper
    >>> optimizer = AutoClipper(10, history_size=10000).attach(keras.optimizers.Adam())
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=optimizer, loss="mse")

    References
    ----------
    Seetharaman et al., "AutoClip: Adaptive Gradient Clipping for Source Separation Networks",
    IEEE MLSP 2020. https://arxiv.org/abs/2007.14469
    """

    def __init__(self, clip_percentile: int, history_size: int = 10000) -> None:
        if (isinstance(clip_percentile, bool) or not isinstance(clip_percentile, numbers.Integral)
                or not 0 <= clip_percentile <= 100):
            raise ValueError(f"`clip_percentile` must be an integer in [0, 100]. "
                             f"Received: clip_percentile={clip_percentile!r}")
        if (isinstance(history_size, bool) or not isinstance(history_size, numbers.Integral)
                or not 1 <= history_size <= _MAX_HISTORY):
            raise ValueError(f"`history_size` must be an integer in [1, {_MAX_HISTORY}]. "
                             f"Received: history_size={history_size!r}")
        self.clip_percentile = int(clip_percentile)
        self.history_size = int(history_size)
        self._optimizer: Any = None
        self._history: keras.Variable | None = None
        self._count: keras.Variable | None = None

    @property
    def history(self) -> keras.Variable | None:
        """The circular buffer of recorded global norms (``None`` until attached)."""
        return self._history

    @property
    def count(self) -> keras.Variable | None:
        """The number of global norms recorded so far (``None`` until attached)."""
        return self._count

    def attach(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """Install this clipper as the gradient clipping of ``optimizer``.

        Creates the history variables with ``optimizer.add_variable`` (so they are part of
        ``optimizer.variables``: JAX's stateless train step carries them, and they are saved with
        the optimizer) and replaces the optimizer's gradient clipping on this instance only.
        Attach before the optimizer is used in training; a clipper attaches to one optimizer.

        Parameters
        ----------
        optimizer
            The optimizer to clip for. A ``keras.optimizers.LossScaleOptimizer`` gets the clipper
            on its inner optimizer, which receives the unscaled gradients.

        Returns
        -------
        The ``optimizer`` given, for chaining.

        Raises
        ------
        TypeError
            If ``optimizer`` is not a Keras optimizer.
        ValueError
            If this clipper is already attached, or the optimizer already clips gradients
            (``clipnorm``, ``clipvalue``, ``global_clipnorm`` or another clipper).
        """
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"`optimizer` must be a `keras.optimizers.Optimizer`. "
                            f"Received: optimizer={optimizer!r}")
        if self._optimizer is not None:
            raise ValueError(f"This AutoClipper is already attached to {self._optimizer!r}; "
                             "create one AutoClipper per optimizer.")
        target = optimizer
        if isinstance(target, keras.optimizers.LossScaleOptimizer):
            target = target.inner_optimizer
        clipping = {"clipnorm": target.clipnorm, "clipvalue": target.clipvalue,
                    "global_clipnorm": target.global_clipnorm}
        if any(value is not None for value in clipping.values()):
            raise ValueError(f"AutoClip replaces the optimizer's own gradient clipping; create "
                             f"the optimizer without it. Received: {clipping}")
        if "_clip_gradients" in vars(target):
            raise ValueError(f"{target!r} already has a custom gradient clipping "
                             f"({vars(target)['_clip_gradients']!r}).")
        # Like the optimizer's own `iterations`, the history is not per replica.
        self._history = target.add_variable(shape=(self.history_size,), initializer="zeros",
                                            dtype="float32", aggregation="only_first_replica",
                                            name="autoclip_history")
        self._count = target.add_variable(shape=(), initializer="zeros", dtype="int32",
                                          aggregation="only_first_replica",
                                          name="autoclip_count")
        # Keras 3 has no public gradient-transform hook: every backend's apply step calls the
        # private `_clip_gradients(grads)` between unscaling and the update (Faceswap 3 replaces
        # it too). It is set on this instance only; setting it on the class would make every
        # optimizer of that type clip with this clipper's history.
        target._clip_gradients = self.__call__
        self._optimizer = target
        return optimizer

    def __call__(self, gradients: list[Any]) -> list[Any]:
        """Record the global norm of ``gradients`` and return them clipped.

        Parameters
        ----------
        gradients
            The gradients of one step, one tensor (or ``None``) per variable.

        Returns
        -------
        The gradients scaled by ``min(1, clip / global_norm)``, ``None`` entries kept.

        Raises
        ------
        ValueError
            If the clipper is not attached to an optimizer.
        """
        if self._history is None or self._count is None:
            raise ValueError("AutoClipper has no history yet: call "
                             "`AutoClipper.attach(optimizer)` before clipping.")
        gradients = list(gradients)
        if not any(grad is not None for grad in gradients):
            return gradients
        norm = _global_norm(gradients)
        history = ops.convert_to_tensor(self._history)
        count = ops.convert_to_tensor(self._count)

        finite = ops.isfinite(norm)
        slot = ops.equal(ops.arange(self.history_size, dtype="int32"),
                         ops.mod(count, self.history_size))
        history = ops.where(ops.logical_and(slot, finite), norm, history)
        count = ops.where(finite, count + 1, count)
        self._history.assign(history)
        self._count.assign(count)

        clip = _percentile(history, ops.minimum(count, self.history_size), self.clip_percentile)
        too_large = norm > clip
        # Two-sided where: the division never sees the (possibly zero) norm it does not use.
        scale = ops.where(too_large, clip / ops.where(too_large, norm, 1.0), 1.0)
        return [None if grad is None else _scaled(grad, scale) for grad in gradients]

    def get_config(self) -> dict[str, Any]:
        return {"clip_percentile": self.clip_percentile, "history_size": self.history_size}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AutoClipper:
        return cls(**config)

    def __repr__(self) -> str:
        return (f"AutoClipper(clip_percentile={self.clip_percentile}, "
                f"history_size={self.history_size})")
