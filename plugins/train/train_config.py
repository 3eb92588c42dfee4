"""Global training options, as Faceswap 3 defines them, and the loading of the training config.

* Section ``global``: the module-level items below (``cfg.coverage()``, ``cfg.icnr_init()``...).
* Section ``global.loss``: class :class:`Loss` (``Loss.learn_mask()``).
* Section ``global.optimizer``: class :class:`Optimizer` (``Optimizer.learning_rate()``).
* Section ``model.<name>``: the items of every ``plugins/train/model/<name>_defaults.py``.

:func:`load_config` reads one ini file into these same objects, once per process.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

from lib.config import Config, ConfigItem, ConfigSection, GlobalSection, class_items, module_items
from lib.model.losses import LOSS_NAMES
from plugins.plugin_registry import MODELS
from plugins.train.trainer import trainer_config

__all__ = ["HELPTEXT", "Loss", "Optimizer", "default_config_file", "get_config", "load_config",
           "reset_config"]

logger = logging.getLogger(__name__)

HELPTEXT = ("Options that apply to every model plugin. Options marked as changeable can be "
            "edited for an existing model; the others are stored with the model when it is "
            "created.")

_MASK_TYPES = ["none", "bisenet-fp_face", "bisenet-fp_head", "components", "custom_face",
               "custom_head", "extended", "unet-dfl", "vgg-clear", "vgg-obstructed"]
_FACE_LOSSES = [name for name in LOSS_NAMES if name != "flip" and not name.startswith("lpips")]
# Faceswap compat: Faceswap offers the LPIPS losses as extra losses; their pretrained weights
# are neither shipped nor downloaded here, so building them could only fail: they are not
# offered, and a configuration naming one is refused with this reason when it is read.
_LPIPS = {name: ("the LPIPS losses need pretrained weights that Faceswap downloads at run time "
                 "and faceswap-original neither ships nor downloads.")
          for name in LOSS_NAMES if name.startswith("lpips")}
_EXTRA_LOSSES = sorted([*(name for name in LOSS_NAMES if name not in _LPIPS), "none"])

# --- section "global" ---------------------------------------------------------------------------
centering = ConfigItem(
    datatype=str, default="face", group="face", choices=["face", "head", "legacy"],
    gui_radio=True,
    info="How the training images are centred. 'face' centres on the face (adjusted for pitch "
         "and yaw), 'head' on the whole head (use a higher coverage), 'legacy' is the original, "
         "tighter Faceswap crop centred on the nose. Faces extracted by Faceswap are re-centred "
         "from their metadata; legacy-extracted faces always train at 'legacy'.")
coverage = ConfigItem(
    datatype=float, default=100.0, group="face", min_max=(62.5, 100.0), rounding=2,
    info="The percentage of the image, at the chosen centering, that is cropped out and trained "
         "on. Less coverage trains more detail on the central face. For legacy centering: 62.5% "
         "is about eyebrow to eyebrow, 75% temple to temple, 87.5% ear to ear, 100% a mugshot. "
         "Keep it above 75% for face centering and at 100% for head.")
vertical_offset = ConfigItem(
    datatype=int, default=0, group="face", min_max=(-25, 25), rounding=1,
    info="Move the face up or down in the training image, as a percentage of the face at the "
         "image's centering (the core face size, not the image size). Negative values move the "
         "face up (expose more chin and less forehead). Positive values move the face down "
         "(expose less chin and more forehead).")
icnr_init = ConfigItem(
    datatype=bool, default=False, group="initialization",
    info="Initialise the convolutions that feed a pixel shuffle with ICNR, which avoids "
         "checkerboard artefacts at the start of training.")
conv_aware_init = ConfigItem(
    datatype=bool, default=False, group="initialization",
    info="Use Convolution Aware initialisation for convolutions. Slower to build, may train "
         "faster and more stably.")
lr_finder_iterations = ConfigItem(
    datatype=int, default=1000, group="learning rate finder", min_max=(100, 10000), rounding=100,
    info="The number of iterations the learning rate finder runs.")
lr_finder_mode = ConfigItem(
    datatype=str, default="set", group="learning rate finder",
    choices=["set", "graph_and_set", "graph_and_exit"], gui_radio=True,
    info="'set' uses the learning rate found; 'graph_and_set' also saves a graph of the search; "
         "'graph_and_exit' saves the graph and stops.")
lr_finder_strength = ConfigItem(
    datatype=str, default="default", group="learning rate finder",
    choices=["default", "aggressive", "extreme"], gui_radio=True,
    info="How aggressive a learning rate the finder picks.")
reflect_padding = ConfigItem(
    datatype=bool, default=False, group="network",
    info="Pad convolutions by reflecting the image edge instead of with zeros; can reduce "
         "artefacts at the edges of the swap.")
mixed_precision = ConfigItem(
    datatype=bool, default=False, group="network", fixed=False,
    info="Train with mixed precision (float16 compute, float32 weights): faster and smaller on "
         "GPUs with tensor cores.")
mixed_precision_dtype = ConfigItem(
    datatype=str, default="auto", group="network", choices=["auto", "float16", "bfloat16"],
    gui_radio=True, fixed=False,
    info="The compute type of mixed precision, when it is on. 'auto' follows the hardware: "
         "bfloat16 on GPUs (Ampere and later), TPUs and CPUs (AVX-512 BF16, AMX, Arm BF16) "
         "with bfloat16 units, float16 on other GPUs, and float32 (mixed precision off) on "
         "CPUs without bfloat16 units, where it is slower. 'float16' (Faceswap's) uses dynamic "
         "loss scaling; 'bfloat16' has float32's range, so needs no loss scaling. The choice "
         "is logged at start. Changing it keeps the model's weights.")
nan_protection = ConfigItem(
    datatype=bool, default=True, group="network", fixed=False,
    info="Stop training when the loss becomes NaN or infinite, rather than saving a broken "
         "model.")
nan_rollbacks = ConfigItem(
    datatype=int, default=0, group="network", min_max=(0, 100), rounding=1, fixed=False,
    info="[Not in Faceswap] On a NaN or infinite loss, put the model back to its last save "
         "(weights, optimizer and iteration count), lower the learning rate by "
         "'nan_rollback_factor', skip the batch and go on training, up to this many times in a "
         "session; then 'nan_protection' decides. Each rollback is logged and recorded in the "
         "state file's session. 0 turns rollbacks off (Faceswap's behaviour). While on, the "
         "last save is also kept in memory.")
nan_rollback_factor = ConfigItem(
    datatype=float, default=0.5, group="network", min_max=(0.01, 1.0), rounding=2, fixed=False,
    info="[Not in Faceswap] What each NaN rollback multiplies the learning rate by (for the "
         "rest of the session).")
convert_batchsize = ConfigItem(
    datatype=int, default=16, group="convert", min_max=(1, 32), rounding=1, fixed=False,
    info="The number of faces fed through the model at once when converting.")


class Loss(GlobalSection):
    """Section ``global.loss``."""

    helptext = ("Loss functions and masks. Up to four face losses are summed with their "
                "weights (percent); the mask loss trains a learned mask.")

    loss_function = ConfigItem(
        datatype=str, default="ssim", group="loss", choices=_FACE_LOSSES, fixed=False,
        info="The main loss function for faces.")
    loss_function_2 = ConfigItem(
        datatype=str, default="mse", group="loss", choices=_EXTRA_LOSSES, fixed=False,
        unavailable=_LPIPS,
        info="A second loss function added to the main one ('none' for no second loss).")
    loss_weight_2 = ConfigItem(
        datatype=int, default=100, group="loss", min_max=(0, 400), rounding=1, fixed=False,
        info="The weight of the second loss in percent of the main loss (0 disables it).")
    loss_function_3 = ConfigItem(
        datatype=str, default="none", group="loss", choices=_EXTRA_LOSSES, fixed=False,
        unavailable=_LPIPS,
        info="A third loss function ('none' for no third loss).")
    loss_weight_3 = ConfigItem(
        datatype=int, default=0, group="loss", min_max=(0, 400), rounding=1, fixed=False,
        info="The weight of the third loss in percent (0 disables it).")
    loss_function_4 = ConfigItem(
        datatype=str, default="none", group="loss", choices=_EXTRA_LOSSES, fixed=False,
        unavailable=_LPIPS,
        info="A fourth loss function ('none' for no fourth loss).")
    loss_weight_4 = ConfigItem(
        datatype=int, default=0, group="loss", min_max=(0, 400), rounding=1, fixed=False,
        info="The weight of the fourth loss in percent (0 disables it).")
    mask_loss_function = ConfigItem(
        datatype=str, default="mse", group="loss", choices=["mae", "mse"], fixed=False,
        info="The loss function of a learned mask.")
    eye_multiplier = ConfigItem(
        datatype=int, default=3, group="loss", min_max=(1, 40), rounding=1, fixed=False,
        info="Extra weight of the eye area in the face loss (needs penalized_mask_loss).")
    mouth_multiplier = ConfigItem(
        datatype=int, default=2, group="loss", min_max=(1, 40), rounding=1, fixed=False,
        info="Extra weight of the mouth area in the face loss (needs penalized_mask_loss).")
    penalized_mask_loss = ConfigItem(
        datatype=bool, default=True, group="loss",
        info="Compute the face loss inside the mask only, so the background does not count.")
    mask_type = ConfigItem(
        datatype=str, default="extended", group="mask", choices=_MASK_TYPES,
        info="The mask stored with each face (by Faceswap's extract or mask tool) used for the "
             "penalized loss and the learned mask ('none' for no mask). Training stops, naming "
             "the faces and the masks they carry, if a face lacks it. Faces in the simple format "
             "use their alpha channel for any value but 'none'.")
    mask_dilation = ConfigItem(
        datatype=float, default=0.0, group="mask", min_max=(-5.0, 5.0), rounding=1, fixed=False,
        info="Grow (positive) or shrink (negative) the mask, in percent of the stored mask's "
             "size.")
    mask_blur_kernel = ConfigItem(
        datatype=int, default=3, group="mask", min_max=(0, 9), rounding=1, fixed=False,
        info="The size of the gaussian blur applied to the mask, in pixels of the stored mask "
             "(128 px for Faceswap's extract; 0 for none; even values are rounded up to odd).")
    mask_threshold = ConfigItem(
        datatype=int, default=4, group="mask", min_max=(0, 50), rounding=1, fixed=False,
        info="Mask values below this percentage become 0 and above 100 minus it become 1.")
    learn_mask = ConfigItem(
        datatype=bool, default=False, group="mask",
        info="Train a mask output beside each face output (needs a mask_type).")


class Optimizer(GlobalSection):
    """Section ``global.optimizer``."""

    helptext = "The optimizer, learning rate, gradient clipping and how the optimizer is saved."

    optimizer = ConfigItem(
        datatype=str, default="adam", group="optimizer",
        choices=["adabelief", "adam", "adamax", "adamw", "lion", "nadam", "rms-prop"],
        info="The optimizer that updates the weights.")
    learning_rate = ConfigItem(
        datatype=float, default=5e-5, group="optimizer", min_max=(1e-6, 1e-4), rounding=6,
        fixed=False, info="The learning rate.")
    epsilon_exponent = ConfigItem(
        datatype=int, default=-7, group="optimizer", min_max=(-20, 0), rounding=1, fixed=False,
        info="The optimizer's epsilon is 10 to this power (not used by lion).")
    save_optimizer = ConfigItem(
        datatype=str, default="exit", group="optimizer", choices=["never", "always", "exit"],
        gui_radio=True, fixed=False,
        info="When the optimizer state is saved with the model: never, at every save, or only "
             "when training ends. Saving it lets training resume exactly, at the cost of a "
             "larger file.")
    gradient_clipping = ConfigItem(
        datatype=str, default="none", group="clipping",
        choices=["autoclip", "global_norm", "norm", "value", "none"], fixed=False,
        info="How gradients are clipped: 'autoclip' to a percentile of their history, "
             "'global_norm', 'norm' or 'value' with clipping_value, or 'none'.")
    clipping_value = ConfigItem(
        datatype=float, default=1.0, group="clipping", min_max=(0.0, 10.0), rounding=1,
        fixed=False,
        info="The clip value for global_norm, norm and value; for autoclip, ten times it is the "
             "percentile of the gradient-norm history to clip to.")
    autoclip_history = ConfigItem(
        datatype=int, default=10000, group="clipping", min_max=(0, 100000), rounding=1000,
        fixed=False, info="How many past gradient norms autoclip remembers.")
    weight_decay = ConfigItem(
        datatype=float, default=0.0, group="updates", min_max=(0.0, 1.0), rounding=4,
        fixed=False, info="Decoupled weight decay (0 for none).")
    gradient_accumulation = ConfigItem(
        datatype=int, default=1, group="updates", min_max=(1, 100), rounding=1, fixed=False,
        info="Accumulate the gradients of this many batches before each update.")
    use_ema = ConfigItem(
        datatype=bool, default=False, group="exponential moving average",
        info="Keep an exponential moving average of the weights.")
    ema_momentum = ConfigItem(
        datatype=float, default=0.99, group="exponential moving average", min_max=(0.0, 1.0),
        rounding=4, info="The momentum of the moving average.")
    ema_frequency = ConfigItem(
        datatype=int, default=100, group="exponential moving average", min_max=(10, 10000),
        rounding=10, info="Copy the moving average into the weights every this many updates.")
    ada_beta_1 = ConfigItem(
        datatype=float, default=0.9, group="optimizer", min_max=(0.0, 1.0), rounding=4,
        info="beta_1 of adabelief, adam, adamax, adamw, lion and nadam.")
    ada_beta_2 = ConfigItem(
        datatype=float, default=0.999, group="optimizer", min_max=(0.0, 1.0), rounding=4,
        info="beta_2 of adabelief, adam, adamax, adamw, lion and nadam.")
    ada_amsgrad = ConfigItem(
        datatype=bool, default=False, group="optimizer",
        info="Use the AMSGrad variant of adabelief, adam and adamw.")


_CONFIG: Config | None = None


def default_config_file() -> Path:
    """Where the training config lives when no ``config_file`` is given:
    ``$FACESWAP_CONFIG_DIR/train.ini``, else ``$XDG_CONFIG_HOME/faceswap-original/train.ini``
    (``~/.config/...`` by default).

    Faceswap compat: Faceswap keeps it in ``config/train.ini`` inside its own source folder; an
    installed package must not write into its own folder, so ours lives in the user's
    configuration folder.
    """
    folder = os.environ.get("FACESWAP_CONFIG_DIR")
    if folder:
        return Path(folder) / "train.ini"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "faceswap-original" / "train.ini"


def _defaults_modules() -> dict[str, str]:
    """Plugin name -> defaults module, from the plugin registry: every
    ``plugins/train/model/<name>_defaults.py``, then the ``<module>_defaults`` module beside each
    installed model plugin (entry point group ``faceswap_original.models``) that has one. A
    built-in plugin wins over an entry point."""
    return MODELS.defaults_modules()


def _model_sections() -> list[ConfigSection]:
    """A ``model.<name>`` section for every model plugin's ``<name>_defaults`` module."""
    sections = []
    for name, module_name in sorted(_defaults_modules().items()):
        module = importlib.import_module(module_name)
        sections.append(ConfigSection(f"model.{name}", getattr(module, "HELPTEXT", ""),
                                      module_items(module)))
    return sections


def get_config() -> Config:
    """The process-wide training :class:`~lib.config.Config` (built on first use, not read from
    a file until :func:`load_config`)."""
    global _CONFIG  # one configuration per process, as Faceswap
    if _CONFIG is None:
        _CONFIG = Config([
            ConfigSection("global", HELPTEXT, module_items(sys.modules[__name__])),
            ConfigSection("global.loss", Loss.helptext, class_items(Loss)),
            ConfigSection("global.optimizer", Optimizer.helptext, class_items(Optimizer)),
            *_model_sections(),
            ConfigSection("trainer.augmentation", trainer_config.HELPTEXT,
                          module_items(trainer_config))],
            optional_prefixes=("model.",))  # options of a plugin that is not installed
    return _CONFIG


def load_config(config_file: str | Path | None = None) -> Config:
    """Read the training config into the option objects, once per process.

    Parameters
    ----------
    config_file
        The ini file; :func:`default_config_file` when ``None``. It is written with help text and
        defaults when missing.

    Raises
    ------
    lib.errors.ConfigError
        For an unreadable file or an invalid value (the message names the file, section, option,
        allowed values and the value found).
    """
    config = get_config()
    path = Path(config_file) if config_file else default_config_file()
    config.load_once(path, "training config")
    return config


def reset_config() -> None:
    """Put every option back to its default and forget the loaded file (for tests and
    long-lived applications). The sections are found again on next use, so plugins installed
    since then get theirs."""
    global _CONFIG
    get_config().reset()
    _CONFIG = None
