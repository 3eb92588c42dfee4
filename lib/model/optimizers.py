"""Custom optimizers for Faceswap models.

The one custom optimizer is :class:`AdaBelief`. Faceswap's other choices are Keras' own
optimizers, used by name with no wrapper classes: ``keras.optimizers.Adam``, ``Nadam``,
``AdamW``, ``Adamax``, ``Lion`` and ``RMSprop``. Gradient clipping by value or by norm is the
Keras base-class arguments (``clipvalue``, ``clipnorm``, ``global_clipnorm``); AutoClip lives in
:mod:`lib.model.autoclip`. For mixed precision wrap any of them, :class:`AdaBelief` included, in
``keras.optimizers.LossScaleOptimizer``.
"""
from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from lib.registry import register_serializable

__all__ = ["AdaBelief"]


def _check_fraction(name: str, value: Any, *, closed_top: bool) -> float:
    """``value`` as a float in [0, 1) (or [0, 1] when ``closed_top``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float. Received: {name}={value!r}")
    top_ok = value <= 1.0 if closed_top else value < 1.0
    if not (value >= 0.0 and top_ok):
        allowed = "[0, 1]" if closed_top else "[0, 1)"
        raise ValueError(f"`{name}` must be in {allowed}. Received: {name}={value}")
    return float(value)


def _check_non_negative(name: str, value: Any) -> float:
    """``value`` as a float >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float. Received: {name}={value!r}")
    if not value >= 0.0:
        raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
    return float(value)


@register_serializable()
class AdaBelief(keras.optimizers.Optimizer):
    """AdaBelief: Adam with the step size adapted by the belief in the observed gradient.

    Adam scales each step by the running mean of ``g²``; AdaBelief scales it by the running
    variance of the gradient around its own moving average, ``(g - m)²``, so the step is large
    when the gradient agrees with its prediction and small when it does not. Optionally
    rectified as in RAdam, with AMSGrad, and with a built-in linear warm-up and decay of the
    learning rate.

    Per variable, with ``t = iterations + 1``::

        m = beta_1 * m + (1 - beta_1) * g;                  m_hat = m / (1 - beta_1**t)
        v = beta_2 * v + (1 - beta_2) * (g - m)**2 + epsilon
        v_hat = sqrt(v' / (1 - beta_2**t))      # v' = max(v_hat_slot, v) with amsgrad, else v
        rho_inf = 2 / (1 - beta_2) - 1;  rho_t = rho_inf - 2 t beta_2**t / (1 - beta_2**t)
        r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        step = r * m_hat / (v_hat + epsilon)    if rectify and rho_t >= sma_threshold
               m_hat                            if rectify and rho_t < sma_threshold
               m_hat / (v_hat + epsilon)        without rectify
        variable -= lr_t * step

    ``epsilon`` is added inside ``v`` as well as to ``v_hat``, as in the paper's reference code.
    With ``total_steps > 0`` the learning rate warms up linearly over the first
    ``warmup_proportion * total_steps`` steps, then decays linearly to ``min_learning_rate`` at
    ``total_steps`` and stays there.

    Parameters
    ----------
    learning_rate
        The learning rate: a float, a ``keras.optimizers.schedules.LearningRateSchedule`` or a
        callable with no arguments. Default: ``0.001``.
    beta_1
        Decay rate of the first-moment (momentum) estimate, in [0, 1). Default: ``0.9``.
    beta_2
        Decay rate of the second-moment (belief) estimate, in [0, 1). Default: ``0.999``.
    epsilon
        Small constant for numerical stability. Faceswap recommends around ``1e-16``.
        Default: ``1e-14``.
    amsgrad
        Use the running maximum of the second moment (AMSGrad). Default: ``False``.
    rectify
        Rectify the adaptive step as in RAdam. Default: ``True``.
    sma_threshold
        The length of the approximated simple moving average (``rho_t``) from which the
        rectified adaptive step is used; below it the step is the bias-corrected momentum.
        Default: ``5.0``.
    total_steps
        Total number of training steps for the built-in warm-up and decay schedule; ``0``
        disables it. Default: ``0``.
    warmup_proportion
        Fraction of ``total_steps`` spent warming up, in [0, 1]. Default: ``0.1``.
    min_learning_rate
        The learning rate at the end of the decay. Default: ``0.0``.
    name
        Name of the optimizer, the prefix of its variables. Default: ``"AdaBeliefOptimizer"``.
    **kwargs
        Passed to ``keras.optimizers.Optimizer``: ``weight_decay`` (Keras' decoupled decay,
        applied before the update), ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
        ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``, ``loss_scale_factor``,
        ``gradient_accumulation_steps``.

    Faceswap compat: the decay branch of the warm-up schedule is
    ``lr + decay_rate * min(t - warmup_steps, decay_steps)``; Faceswap's Keras 3 port computes
    ``(lr + decay_rate) * min(...)`` (a mis-placed bracket), which only matters with
    ``total_steps > 0``.

    Faceswap compat: the rectification term is computed from ``max(..., 0)``, so it stays finite
    while ``2 < rho_t < 4``; Faceswap returns NaN there, which is only reached when
    ``sma_threshold < 4``.

    Faceswap compat: as in Faceswap 3 (not Faceswap 2's ``min_lr`` and coupled
    ``weight_decay``), the minimum rate is ``min_learning_rate`` and ``weight_decay`` is Keras'
    decoupled weight decay.

    Examples
    --------
    >>> import keras
    >>> from lib.model.optimizers import AdaBelief
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=AdaBelief(learning_rate=1e-4, beta_1=0.5, beta_2=0.99,
    ...                                   epsilon=1e-16), loss="mse")

    References
    ----------
    - Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
      Gradients", NeurIPS 2020. https://arxiv.org/abs/2010.07468
    - Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond" (RAdam), ICLR 2020.
      https://arxiv.org/abs/1908.03265
    """

    def __init__(self,
                 learning_rate: Any = 0.001,
                 beta_1: float = 0.9,
                 beta_2: float = 0.999,
                 epsilon: float = 1e-14,
                 amsgrad: bool = False,
                 rectify: bool = True,
                 sma_threshold: float = 5.0,
                 total_steps: int = 0,
                 warmup_proportion: float = 0.1,
                 min_learning_rate: float = 0.0,
                 name: str = "AdaBeliefOptimizer",
                 **kwargs: Any) -> None:
        beta_1 = _check_fraction("beta_1", beta_1, closed_top=False)
        beta_2 = _check_fraction("beta_2", beta_2, closed_top=False)
        epsilon = _check_non_negative("epsilon", epsilon)
        if isinstance(sma_threshold, bool) or not isinstance(sma_threshold, numbers.Real):
            raise TypeError(f"`sma_threshold` must be a float. Received: "
                            f"sma_threshold={sma_threshold!r}")
        if (isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral)
                or total_steps < 0):
            raise ValueError(f"`total_steps` must be an integer >= 0 (0 disables the warm-up). "
                             f"Received: total_steps={total_steps!r}")
        warmup_proportion = _check_fraction("warmup_proportion", warmup_proportion,
                                            closed_top=True)
        min_learning_rate = _check_non_negative("min_learning_rate", min_learning_rate)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)
        self.rectify = bool(rectify)
        self.sma_threshold = float(sma_threshold)
        self.total_steps = int(total_steps)
        self.warmup_proportion = warmup_proportion
        self.min_learning_rate = min_learning_rate

    def build(self, var_list: list[keras.Variable]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def _scheduled_learning_rate(self, learning_rate: Any, step: Any) -> Any:
        """The learning rate after the optional built-in linear warm-up and decay."""
        if self.total_steps <= 0:
            return learning_rate
        # The schedule's shape is Python arithmetic on the config; only `step` is a tensor.
        warmup_steps = self.total_steps * self.warmup_proportion
        decay_steps = max(self.total_steps - warmup_steps, 1.0)
        decay_rate = (self.min_learning_rate - learning_rate) / decay_steps
        warming = learning_rate * step / max(warmup_steps, 1.0)  # only used while t <= warmup
        # Faceswap compat: `lr + decay_rate * ...`, not Faceswap 3's `(lr + decay_rate) * ...`.
        decaying = learning_rate + decay_rate * ops.minimum(step - warmup_steps, decay_steps)
        return ops.where(step <= warmup_steps, warming, decaying)

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        lr = self._scheduled_learning_rate(ops.cast(learning_rate, dtype), step)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        epsilon = ops.cast(self.epsilon, dtype)
        beta_1_power = ops.power(beta_1, step)
        beta_2_power = ops.power(beta_2, step)

        index = self._get_variable_index(variable)
        momentum = self._momentums[index]
        velocity = self._velocities[index]

        new_momentum = beta_1 * momentum + (1.0 - beta_1) * gradient
        self.assign(momentum, new_momentum)
        # The belief term uses the *updated* momentum; epsilon goes inside v too (AdaBelief's
        # reference code and Faceswap).
        new_velocity = (beta_2 * velocity
                        + (1.0 - beta_2) * ops.square(gradient - new_momentum)
                        + epsilon)
        self.assign(velocity, new_velocity)
        if self.amsgrad:
            velocity_hat = self._velocity_hats[index]
            new_velocity = ops.maximum(velocity_hat, new_velocity)
            self.assign(velocity_hat, new_velocity)

        momentum_hat = new_momentum / (1.0 - beta_1_power)
        velocity_hat = ops.sqrt(new_velocity / (1.0 - beta_2_power))
        adaptive = momentum_hat / (velocity_hat + epsilon)
        if self.rectify:
            rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0  # Python float from the config
            rho_t = rho_inf - 2.0 * step * beta_2_power / (1.0 - beta_2_power)
            ratio = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            # Clamped so the branch ops.where discards stays finite while 2 < rho_t < 4.
            rectifier = ops.sqrt(ops.maximum(ratio, 0.0))
            update = ops.where(rho_t >= self.sma_threshold, rectifier * adaptive, momentum_hat)
        else:
            update = adaptive
        self.assign_sub(variable, lr * update)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
                "rectify": self.rectify,
                "sma_threshold": self.sma_threshold,
                "total_steps": self.total_steps,
                "warmup_proportion": self.warmup_proportion,
                "min_learning_rate": self.min_learning_rate}
