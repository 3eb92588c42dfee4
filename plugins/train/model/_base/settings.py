"""Settings around a model: devices, precision policy and distribution strategy.

This is the one module where backend-specific code may live (distribution strategies).
:class:`Settings` hides excluded GPUs, joins a multi-process (JAX) job, sets the precision policy
and gives the distribution strategy scope; :func:`choose_policy` picks the mixed precision policy
for the hardware.

The optimizer and the losses, which Faceswap keeps in this module too, live in
:mod:`plugins.train.model._base.loss_optimizer`; :class:`Loss` and :class:`Optimizer` are
re-exported here, so ``from plugins.train.model._base.settings import Loss`` works as in Faceswap.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras

from lib.errors import FaceswapError
from lib.hardware import CpuInfo, cpu_info
from plugins.train.model._base.loss_optimizer import Loss, Optimizer

__all__ = ["JIT_ENVIRONMENT", "PRECISIONS", "PROCESS_ENVIRONMENT", "STRATEGIES", "Loss",
           "Optimizer", "Settings", "choose_policy", "visible_gpu_ids"]

logger = logging.getLogger(__name__)


_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
PRECISIONS = ("auto", *_POLICIES)
"""The values of the ``mixed_precision_dtype`` option."""
STRATEGIES = ("default", "mirrored", "central-storage")
"""The values of the ``distribution_strategy`` argument (``-D``)."""
PROCESS_ENVIRONMENT = {"coordinator_address": "FACESWAP_COORDINATOR_ADDRESS",
                       "num_processes": "FACESWAP_NUM_PROCESSES",
                       "process_id": "FACESWAP_PROCESS_ID"}
"""The environment variable read for each multi-process argument that is not given."""
JIT_ENVIRONMENT = "FACESWAP_JIT_COMPILE"
"""The environment variable that overrides :attr:`Settings.jit_compile`."""
_processes_started: list[tuple[str, int, int]] = []  # jax.distributed starts once per process


def visible_gpu_ids(exclude: Sequence[int], visible: str | None, count: int) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` entries left once the GPU indices ``exclude`` are hidden.

    Parameters
    ----------
    exclude
        Indices into the list of GPUs the process can see (``0`` is the first visible GPU).
    visible
        The current ``CUDA_VISIBLE_DEVICES`` value, or ``None`` when it is not set.
    count
        The number of GPUs in the machine (used when ``visible`` is ``None``).

    Returns
    -------
    The device entries to keep, in order (``["0", "2"]``).
    """
    bad = [index for index in exclude
           if isinstance(index, bool) or not isinstance(index, int) or index < 0]
    if bad:
        raise ValueError(f"`exclude_gpus` must hold GPU indices (whole numbers from 0). "
                         f"Received: {list(exclude)}")
    entries = ([entry.strip() for entry in visible.split(",") if entry.strip()]
               if visible is not None else [str(index) for index in range(count)])
    return [entry for index, entry in enumerate(entries) if index not in set(exclude)]


def _nvidia_gpu_count() -> int:
    """The NVIDIA GPUs the driver lists, counted without starting any backend's GPU runtime."""
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _process_options(arguments: Any) -> tuple[str | None, int, int]:
    """Coordinator address, process count and process id from the arguments, else from the
    environment (:data:`PROCESS_ENVIRONMENT`); ``(None, 1, 0)`` for one process."""
    values: dict[str, Any] = {}
    for key, variable in PROCESS_ENVIRONMENT.items():
        value = getattr(arguments, key, None)
        values[key] = os.environ.get(variable) if value is None else value
    address = values["coordinator_address"] or None
    try:
        count = int(values["num_processes"] or 1)
        process_id = int(values["process_id"] or 0)
    except ValueError:
        raise FaceswapError(
            f"The process count ({values['num_processes']!r}) and process id "
            f"({values['process_id']!r}) must be whole numbers (from --num-processes / "
            f"--process-id or {PROCESS_ENVIRONMENT['num_processes']} / "
            f"{PROCESS_ENVIRONMENT['process_id']}).") from None
    if count < 1 or not 0 <= process_id < count:
        raise FaceswapError(f"The process id must be from 0 to the process count - 1 and the "
                            f"count at least 1. Found: id {process_id}, count {count}.")
    if count > 1 and address is None:
        raise FaceswapError(
            f"Training in {count} processes needs the coordinator's address (host:port of "
            f"process 0): give --coordinator-address or set "
            f"{PROCESS_ENVIRONMENT['coordinator_address']}.")
    return address, count, process_id


def choose_policy(mixed_precision: bool, dtype: str, gpu_bfloat16: bool | None,
                  cpu: CpuInfo) -> tuple[str, str]:
    """The Keras dtype policy for the precision options, and why it was chosen.

    Parameters
    ----------
    mixed_precision
        Faceswap's ``mixed_precision`` option: ``False`` always trains in ``float32``.
    dtype
        ``mixed_precision_dtype``: ``"float16"`` or ``"bfloat16"`` are taken as they are;
        ``"auto"`` follows the hardware.
    gpu_bfloat16
        ``None`` when training runs on the CPU; otherwise whether the GPU computes bfloat16 in
        hardware (NVIDIA compute capability 8.0 and later, TPUs).
    cpu
        The CPU, for training without a GPU.

    Returns
    -------
    The policy (``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``) and one line for the
    log.

    ``auto`` picks ``mixed_bfloat16`` on a GPU or CPU with bfloat16 units, ``mixed_float16`` on a
    GPU without them (Faceswap's mixed precision) and ``float32`` on a CPU without them: there a
    bfloat16 product is emulated through float32 and measured slower than float32 itself
    (docs/performance.md), and float16 has no CPU kernels worth using.
    """
    if dtype not in PRECISIONS:
        raise ValueError(f"`mixed_precision_dtype` must be one of {list(PRECISIONS)}. "
                         f"Received: {dtype!r}")
    if not mixed_precision:
        return "float32", "Mixed precision is off: training in float32."
    if dtype != "auto":
        return _POLICIES[dtype], f"Mixed precision in {dtype} (mixed_precision_dtype = {dtype})."
    if gpu_bfloat16 is not None:
        dtype = "bfloat16" if gpu_bfloat16 else "float16"
        units = "has" if gpu_bfloat16 else "has no"
        return _POLICIES[dtype], (f"Mixed precision 'auto': the GPU {units} bfloat16 units, "
                                  f"training in mixed {dtype}.")
    if cpu.has_bfloat16:
        return "mixed_bfloat16", (f"Mixed precision 'auto': the CPU has bfloat16 units, "
                                  f"training in mixed bfloat16. CPU: {cpu.describe()}.")
    return "float32", (f"Mixed precision 'auto': the CPU has no bfloat16 units, where mixed "
                       f"precision is slower than float32; training in float32. CPU: "
                       f"{cpu.describe()}.")


class Settings:
    """Devices, precision policy and distribution strategy for building and training a model.

    Parameters
    ----------
    arguments
        The command line arguments. Read when present: ``distribution_strategy`` (``"default"``
        otherwise; see :data:`STRATEGIES`), ``exclude_gpus`` (GPU indices to hide),
        ``coordinator_address``, ``num_processes`` and ``process_id`` (several processes, JAX
        only; each falls back to its :data:`PROCESS_ENVIRONMENT` variable).
    mixed_precision
        Whether mixed precision is configured.
    is_predict
        Inference never uses mixed precision.
    mixed_precision_dtype
        The compute type of mixed precision: ``"auto"`` (the hardware decides, see
        :func:`choose_policy`), ``"float16"`` (policy ``mixed_float16``, with dynamic loss
        scaling) or ``"bfloat16"`` (policy ``mixed_bfloat16``, no loss scaling needed).

    Faceswap compat: Faceswap only has ``mixed_float16``, TensorFlow strategies and TensorFlow GPU
    hiding. Here ``bfloat16`` is a choice, ``mirrored`` is ``keras.distribution.DataParallel`` on
    JAX, several processes (machines) train together on JAX, and ``exclude_gpus`` works on every
    backend. Faceswap's ``allow_growth`` is not an argument.
    """

    def __init__(self, arguments: Any, mixed_precision: bool, is_predict: bool,
                 mixed_precision_dtype: str = "auto") -> None:
        if mixed_precision_dtype not in PRECISIONS:
            raise ValueError(f"`mixed_precision_dtype` must be one of {list(PRECISIONS)}. "
                             f"Received: {mixed_precision_dtype!r}")
        self._backend = keras.backend.backend()
        self._exclude_gpus(list(getattr(arguments, "exclude_gpus", None) or []))
        self._start_processes(*_process_options(arguments))
        wanted = bool(mixed_precision) and not is_predict
        gpu = (self._gpu_bfloat16() if wanted and mixed_precision_dtype == "auto" else None)
        self.policy, reason = choose_policy(wanted, mixed_precision_dtype, gpu, cpu_info())
        self.use_mixed_precision = self.policy != "float32"
        keras.config.set_dtype_policy(self.policy)
        if wanted:
            logger.info(reason)
        if self.use_mixed_precision:
            logger.info("Enabling Mixed Precision Training (%s).", self.policy)
        self.strategy_name = getattr(arguments, "distribution_strategy", None) or "default"
        self._strategy = self._get_strategy(self.strategy_name)
        self._distributed_steps = 0
        self._scopes: list[Any] = []  # the strategy scopes strategy_scope() has open

    # --- precision -----------------------------------------------------------------------------
    @property
    def use_loss_scaling(self) -> bool:
        """``True`` for ``mixed_float16``: float16 gradients need dynamic loss scaling
        (bfloat16 has float32's range and does not)."""
        return self.policy == "mixed_float16"

    def _gpu_bfloat16(self) -> bool | None:
        """Whether the backend's first accelerator computes bfloat16 in hardware; ``None``
        when training runs on the CPU."""
        if self._backend == "torch":
            import torch  # backend-specific, only here

            if not torch.cuda.is_available():
                return None
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        if self._backend == "jax":
            import jax  # backend-specific, only here

            device = jax.devices()[0]
            if device.platform == "tpu":
                return True
            if device.platform != "gpu":
                return None
            capability = str(getattr(device, "compute_capability", "0"))
            return int(capability.split(".")[0] or 0) >= 8
        if self._backend == "tensorflow":
            import tensorflow as tf  # backend-specific, only here

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return None
            details = tf.config.experimental.get_device_details(gpus[0])
            return tuple(details.get("compute_capability", (0, 0)))[0] >= 8
        return None

    @staticmethod
    def loss_scale_optimizer(optimizer: keras.optimizers.Optimizer
                             ) -> keras.optimizers.LossScaleOptimizer:
        """Wrap an optimizer for mixed precision (dynamic loss scaling). A step whose scaled
        gradients overflow is skipped and the scale halved; the loss it reports stays finite."""
        return keras.optimizers.LossScaleOptimizer(optimizer)

    # --- compilation ---------------------------------------------------------------------------
    @property
    def jit_compile(self) -> bool | str:
        """The ``jit_compile`` argument of ``model.compile``: the faster choice for the backend,
        measured with ``benchmarks/train_speed.py`` (docs/performance.md).

        * TensorFlow: ``"auto"``: Keras compiles with XLA on a GPU and not on a CPU, where the
          XLA training step of the Original model was 9x slower than TensorFlow's own graph.
        * JAX: ``True``: a JAX step is always compiled (uncompiled, it runs op by op).
        * PyTorch: ``True`` (``torch.compile``): 1.3-1.5x faster per step on a CPU, after about
          a minute of compilation on the first step of a session.

        The environment variable ``FACESWAP_JIT_COMPILE`` (``auto``, ``true``/``1``,
        ``false``/``0``) overrides the choice, e.g. to skip PyTorch's compilation for a short
        run. Faceswap compat: Faceswap has no such choice (its PyTorch step is not compiled).
        """
        forced = os.environ.get(JIT_ENVIRONMENT, "").strip().lower()
        if forced:
            choices = {"auto": "auto", "true": True, "1": True, "false": False, "0": False}
            if forced not in choices:
                raise FaceswapError(
                    f"The environment variable {JIT_ENVIRONMENT} is {forced!r}. Expected "
                    "'auto', 'true' (or 1) or 'false' (or 0). Change or unset it.")
            return choices[forced]
        return {"tensorflow": "auto", "jax": True, "torch": True}.get(self._backend, "auto")

    # --- devices -------------------------------------------------------------------------------
    def _exclude_gpus(self, exclude: list[int]) -> None:
        """Hide the GPUs at the indices ``exclude`` before the backend starts its GPU runtime."""
        if not exclude:
            return
        if self._backend == "tensorflow":
            import tensorflow as tf  # backend-specific, only here

            gpus = tf.config.list_physical_devices("GPU")
            keep = [gpu for index, gpu in enumerate(gpus) if index not in exclude]
            self._warn_missing_gpus(exclude, len(gpus))
            if len(keep) == len(gpus):
                return
            try:
                tf.config.set_visible_devices(keep, "GPU")
            except RuntimeError as err:
                raise FaceswapError(
                    "Cannot hide GPUs: TensorFlow has already started its devices. Give "
                    "--exclude-gpus before anything runs on TensorFlow.") from err
        else:
            total = _nvidia_gpu_count()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            count = len([e for e in visible.split(",") if e.strip()]) if visible else total
            self._warn_missing_gpus(exclude, count)
            keep = visible_gpu_ids(exclude, visible, total)
            if len(keep) == count:
                return
            self._check_gpu_runtime_not_started()
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(keep)
        logger.info("Excluding GPUs %s", sorted(exclude))

    @staticmethod
    def _warn_missing_gpus(exclude: list[int], count: int) -> None:
        missing = sorted(index for index in exclude if index >= count)
        if missing:
            logger.warning("Cannot exclude GPU(s) %s: only %s GPU(s) are visible (indices 0 to "
                           "%s).", missing, count, count - 1)

    def _check_gpu_runtime_not_started(self) -> None:
        """Hiding through ``CUDA_VISIBLE_DEVICES`` needs a GPU runtime that has not started."""
        started = False
        if self._backend == "torch":
            import torch  # backend-specific, only here

            started = torch.cuda.is_initialized()
        elif self._backend == "jax":
            import jax  # backend-specific, only here

            started = any(device.platform == "gpu" for device in jax.live_arrays())
        if started:
            raise FaceswapError(
                f"Cannot hide GPUs: {self._backend} has already started its GPU runtime. Give "
                "--exclude-gpus (or set CUDA_VISIBLE_DEVICES) before the model is created.")

    # --- processes -----------------------------------------------------------------------------
    def _start_processes(self, address: str | None, count: int, process_id: int) -> None:
        """Join a multi-process (multi-machine) JAX job through ``jax.distributed``, once."""
        self.num_processes, self.process_id = count, process_id
        if count == 1:
            return
        if self._backend != "jax":
            raise FaceswapError(
                f"Training in several processes ({count}) needs the JAX backend "
                f"(KERAS_BACKEND=jax); the {self._backend} backend runs in one process.")
        wanted = (str(address), count, process_id)
        if _processes_started:
            if _processes_started[0] != wanted:
                raise FaceswapError(f"This process already joined the job {_processes_started[0]}"
                                    f" (address, count, id); it cannot join {wanted}.")
            return
        logger.info("Joining %s processes through the coordinator %s as process %s", count,
                    address, process_id)
        try:
            keras.distribution.initialize(job_addresses=address, num_processes=count,
                                          process_id=process_id)
        except RuntimeError as err:
            raise FaceswapError(f"Could not join the {count}-process job at {address} as process "
                                f"{process_id}: {err}") from err
        _processes_started.append(wanted)

    # --- strategies ----------------------------------------------------------------------------
    def _get_strategy(self, name: str) -> Any:
        """The backend's strategy (TensorFlow) or distribution (JAX) for ``name``; ``None`` for
        the default (one device)."""
        if name not in STRATEGIES:
            raise ValueError(f"`distribution_strategy` must be one of {list(STRATEGIES)}. "
                             f"Received: {name!r}")
        if self._backend == "jax":
            return self._get_jax_distribution(name)
        if name == "default":
            return None
        if self._backend == "tensorflow":
            return self._get_tf_strategy(name)
        raise FaceswapError(
            f"The distribution strategy '{name}' is not available on the {self._backend} "
            "backend, which trains on one device. Use '-D default', or the TensorFlow or JAX "
            "backend (KERAS_BACKEND) to train on several devices.")

    def _get_jax_distribution(self, name: str) -> keras.distribution.Distribution | None:
        if name == "central-storage":
            raise FaceswapError(
                "The distribution strategy 'central-storage' is not available on the jax "
                "backend (it is a TensorFlow strategy). Use '-D mirrored' (data parallel over "
                "every device).")
        if name == "default" and self.num_processes > 1:
            raise FaceswapError(
                f"Training in {self.num_processes} processes shares each batch over every "
                "process's devices: use '-D mirrored'.")
        distribution = keras.distribution.DataParallel() if name == "mirrored" else None
        keras.distribution.set_distribution(distribution)
        if distribution is not None:
            logger.info("Data parallel over %s device(s) in %s process(es)",
                        len(keras.distribution.list_devices()), self.num_processes)
        return distribution

    def _get_tf_strategy(self, name: str) -> Any:
        import tensorflow as tf  # backend-specific, only here

        devices = ([device.name for device in tf.config.list_logical_devices("GPU")]
                   or [device.name for device in tf.config.list_logical_devices("CPU")])
        if name == "mirrored":
            strategy = tf.distribute.MirroredStrategy(devices=devices)
        else:
            if self.use_loss_scaling:
                raise FaceswapError(
                    "The distribution strategy 'central-storage' cannot train with float16 mixed "
                    "precision in Keras 3: its loss scale optimizer updates the scale inside the "
                    "replicas, which CentralStorageStrategy's aggregated variables refuse ('You "
                    "must specify an aggregation method to update a AggregatingVariable in "
                    "Replica Context'). Use '-D mirrored', or mixed_precision_dtype = bfloat16, "
                    "or full precision.")
            strategy = tf.distribute.experimental.CentralStorageStrategy(
                compute_devices=devices, parameter_device="/cpu:0")
        logger.info("Using the '%s' strategy over %s", name, ", ".join(devices))
        return strategy

    @property
    def replicas(self) -> int:
        """The number of devices each batch is split over (1 for the default strategy)."""
        if self._strategy is None:
            return 1
        if self._backend == "jax":
            return len(keras.distribution.list_devices())
        return int(self._strategy.num_replicas_in_sync)

    @contextlib.contextmanager
    def strategy_scope(self) -> Iterator[None]:
        """The scope to build, load and compile the model in: its variables are then mirrored
        (TensorFlow) or replicated (JAX) over the strategy's devices."""
        if self._strategy is None:
            yield
            return
        scope = self._strategy.scope()
        scope.__enter__()
        self._scopes.append(scope)
        try:
            yield
        finally:
            self._scopes.pop().__exit__(None, None, None)

    def clear_session(self) -> None:
        """``keras.backend.clear_session`` (fresh layer names) that keeps the strategy: on
        TensorFlow the strategy stack lives on the graph that clearing replaces, so the open
        scopes are left first and entered again after; on JAX clearing forgets the global
        distribution, so it is set again."""
        if self._backend == "jax" and self._strategy is not None:
            keras.backend.clear_session(free_memory=False)
            keras.distribution.set_distribution(self._strategy)
            return
        if not self._scopes or self._backend != "tensorflow":
            keras.backend.clear_session(free_memory=False)
            return
        for scope in reversed(self._scopes):
            scope.__exit__(None, None, None)
        keras.backend.clear_session(free_memory=False)
        self._scopes[:] = [self._strategy.scope() for _ in self._scopes]
        for scope in self._scopes:
            scope.__enter__()

    def distribute_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """Split a batch over the replicas of a TensorFlow strategy for ``train_on_batch``.

        JAX's ``DataParallel`` shards the batch itself and one device needs nothing, so the
        batch comes back unchanged there. On TensorFlow each replica gets an equal slice of every
        array (the batch must divide by :attr:`replicas`). The first step of a session is given
        whole: Keras builds its compiled loss from a plain batch (every replica then computes the
        whole batch, with the same gradients as the split).
        """
        if self._strategy is None:
            return inputs, targets
        count = self.replicas // self.num_processes  # this process's devices
        size = len(keras.tree.flatten(inputs)[0])
        if size % count:
            raise FaceswapError(f"The batch of {size} cannot be split evenly over {count} "
                                f"devices: choose a batch size that is a multiple of {count}.")
        self._distributed_steps += 1
        if self._backend != "tensorflow" or self._distributed_steps == 1:
            return inputs, targets

        def replica_slice(context: Any) -> tuple[Any, Any]:
            start = context.replica_id_in_sync_group * size // count
            return keras.tree.map_structure(lambda array: array[start:start + size // count],
                                             (inputs, targets))

        return self._strategy.experimental_distribute_values_from_function(replica_slice)
