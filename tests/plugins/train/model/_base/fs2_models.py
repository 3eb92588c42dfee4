"""Faceswap 2 model folders, written with Keras 2 (``tf-keras``) as Faceswap 2 wrote them.

The networks follow Faceswap 2's plugin code (``plugins/train/model/<name>.py`` and
``lib/model/nn_blocks.py`` at the last TensorFlow release): the same blocks, layer names, nested
sub-models and nested output lists, at reduced widths so a test builds them in seconds. Faceswap's
custom layers are written here for Keras 2 from their definitions (``PixelShuffler`` is
TensorFlow's ``depth_to_space``), independently of ``lib.model``.

Every builder returns the Keras 2 model; :func:`write_fs2_folder` saves it as ``<name>.h5``
(``model.save``, Keras 2's HDF5 format, optimizer included when compiled) with a Faceswap 2 state
file and a TensorBoard log folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# Keras 2 lives in the tf_keras package (the same TensorFlow); imported on first use, so this
# module imports where tf-keras is not installed (the tests then skip).


def _keras2() -> Any:
    import tf_keras
    return tf_keras


def _pixel_shuffler_class() -> type:
    keras2 = _keras2()
    import tensorflow as tf

    class PixelShuffler(keras2.layers.Layer):
        """Faceswap 2's PixelShuffler (square upscale, channels last)."""

        def __init__(self, size=(2, 2), data_format=None, **kwargs):
            super().__init__(**kwargs)
            self.size = tuple(size) if not isinstance(size, int) else (size, size)
            self.data_format = data_format or "channels_last"

        def call(self, inputs):
            return tf.nn.depth_to_space(inputs, self.size[0])

        def compute_output_shape(self, input_shape):
            batch, height, width, channels = input_shape
            return (batch, height * self.size[0], width * self.size[1],
                    channels // (self.size[0] * self.size[1]))

        def get_config(self):
            return {**super().get_config(), "size": self.size, "data_format": self.data_format}

    return PixelShuffler


class _Blocks:
    """Faceswap 2's nn_blocks, with its naming (``<name>_<n>`` counters per block name)."""

    def __init__(self) -> None:
        self.keras2 = _keras2()
        self.counts: dict[str, int] = {}
        self.pixel_shuffler = _pixel_shuffler_class()

    def name(self, name: str) -> str:
        self.counts[name] = self.counts.get(name, -1) + 1
        return f"{name}_{self.counts[name]}"

    def conv_block(self, inputs, filters: int, kernel_size: int = 5, strides: int = 2):
        layers = self.keras2.layers
        name = self.name(f"conv_{filters}")
        var_x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                              kernel_initializer="he_uniform", name=f"{name}_conv2d")(inputs)
        return layers.LeakyReLU(alpha=0.1, name=f"{name}_leakyrelu")(var_x)

    def upscale_block(self, inputs, filters: int, kernel_size: int = 3):
        layers = self.keras2.layers
        name = self.name(f"upscale_{filters}")
        var_x = layers.Conv2D(filters * 4, kernel_size, padding="same",
                              kernel_initializer="he_uniform", name=f"{name}_conv2d")(inputs)
        var_x = layers.LeakyReLU(alpha=0.1, name=f"{name}_leakyrelu")(var_x)
        return self.pixel_shuffler(name=f"{name}_pixelshuffler")(var_x)

    def output(self, inputs, filters: int, kernel_size: int, name: str):
        layers = self.keras2.layers
        name = self.name(name)
        var_x = layers.Conv2D(filters, kernel_size, padding="same",
                              name=f"{name}_conv2d")(inputs)
        return layers.Activation("sigmoid", dtype="float32", name=name)(var_x)


def original(learn_mask: bool = False, size: int = 32, widths: tuple[int, ...] = (8, 16, 32),
             encoder_dim: int = 32) -> Any:
    """Faceswap 2's Original: shared encoder, one decoder per side (face, and mask when
    ``learn_mask``), the decoders' output lists nested in the model's outputs."""
    blocks = _Blocks()
    models, layers = blocks.keras2.models, blocks.keras2.layers
    input_ = layers.Input(shape=(size, size, 3))
    var_x = input_
    for filters in widths:
        var_x = blocks.conv_block(var_x, filters)
    var_x = layers.Dense(encoder_dim)(layers.Flatten()(var_x))
    low = size // 2 ** (len(widths) + 1)
    var_x = layers.Dense(low * low * widths[-1])(var_x)
    var_x = layers.Reshape((low, low, widths[-1]))(var_x)
    var_x = blocks.upscale_block(var_x, widths[-1] // 2)
    encoder = models.Model(input_, var_x, name="encoder")

    def decoder(side: str):
        dec_in = layers.Input(shape=(low * 2, low * 2, widths[-1] // 2))
        var_x = dec_in
        for filters in reversed(widths):
            var_x = blocks.upscale_block(var_x, filters)
        outputs = [blocks.output(var_x, 3, 5, f"face_out_{side}")]
        if learn_mask:
            var_y = dec_in
            for filters in reversed(widths):
                var_y = blocks.upscale_block(var_y, filters)
            outputs.append(blocks.output(var_y, 1, 5, f"mask_out_{side}"))
        return models.Model(dec_in, outputs=outputs, name=f"decoder_{side}")

    inputs = [layers.Input(shape=(size, size, 3), name=f"face_in_{side}") for side in "ab"]
    outputs = [decoder("a")(encoder(inputs[0])), decoder("b")(encoder(inputs[1]))]
    return models.Model(inputs, outputs=outputs, name="original")


def iae(size: int = 32, widths: tuple[int, ...] = (8, 16, 32), dim: int = 32) -> Any:
    """Faceswap 2's IAE: one encoder, ``inter_a``/``inter_b``/``inter_both`` and one decoder, all
    shared between the sides (the decoder is called twice, the intermediate models three
    times), with the codes concatenated."""
    blocks = _Blocks()
    models, layers = blocks.keras2.models, blocks.keras2.layers
    input_ = layers.Input(shape=(size, size, 3))
    var_x = input_
    for filters in widths:
        var_x = blocks.conv_block(var_x, filters)
    encoder = models.Model(input_, layers.Flatten()(var_x), name="encoder")
    low = size // 2 ** (len(widths) + 1)
    flat = (size // 2 ** len(widths)) ** 2 * widths[-1]

    def intermediate(side: str):
        inter_in = layers.Input(shape=(flat,))
        var_x = layers.Dense(dim)(inter_in)
        var_x = layers.Dense(low * low * dim)(var_x)
        var_x = layers.Reshape((low, low, dim))(var_x)
        return models.Model(inter_in, var_x, name=f"inter_{side}")

    dec_in = layers.Input(shape=(low, low, 2 * dim))
    var_x = dec_in
    for filters in reversed(widths):
        var_x = blocks.upscale_block(var_x, filters)
    var_x = blocks.upscale_block(var_x, widths[0])
    decoder = models.Model(dec_in, [blocks.output(var_x, 3, 5, "face_out")], name="decoder")

    inputs = [layers.Input(shape=(size, size, 3), name=f"face_in_{side}") for side in "ab"]
    inter_a, inter_b, inter_both = (intermediate("a"), intermediate("b"),
                                    intermediate("both"))
    encoder_a, encoder_b = encoder(inputs[0]), encoder(inputs[1])
    code_a = layers.Concatenate()([inter_a(encoder_a), inter_both(encoder_a)])
    code_b = layers.Concatenate()([inter_b(encoder_b), inter_both(encoder_b)])
    return models.Model(inputs, outputs=[decoder(code_a), decoder(code_b)], name="iae")


def phaze_a(size: int = 32, widths: tuple[int, ...] = (8, 16), dim: int = 32) -> Any:
    """A Faceswap 2 Phaze-A layout whose encoder scales its input from [0, 1] to [-1, 1] with
    Python arithmetic on the tensor (``var_x * 2.`` then ``- 1.``, stored by Keras 2 as
    ``TFOpLambda`` layers ``tf.math.multiply`` and ``tf.math.subtract``), a shared ``fc_both``
    and one decoder per side, under mixed precision (``Policy`` dtypes in the config)."""
    blocks = _Blocks()
    keras2 = blocks.keras2
    models, layers = keras2.models, keras2.layers
    keras2.mixed_precision.set_global_policy("mixed_float16")
    try:
        input_ = layers.Input(shape=(size, size, 3))
        var_x = input_ * 2.
        var_x = var_x - 1.
        for filters in widths:
            var_x = blocks.conv_block(var_x, filters)
        encoder = models.Model(input_, layers.Flatten()(var_x), name="encoder")
        low = size // 2 ** (len(widths) + 1)
        flat = (size // 2 ** len(widths)) ** 2 * widths[-1]
        fc_in = layers.Input(shape=(flat,))
        var_x = layers.Dense(dim)(fc_in)
        var_x = layers.Dense(low * low * dim)(var_x)
        fc_both = models.Model(fc_in, layers.Reshape((low, low, dim))(var_x), name="fc_both")

        def decoder(side: str):
            dec_in = layers.Input(shape=(low, low, dim))
            var_x = dec_in
            for filters in reversed(widths):
                var_x = blocks.upscale_block(var_x, filters)
            var_x = blocks.upscale_block(var_x, widths[0])
            return models.Model(dec_in, [blocks.output(var_x, 3, 3, f"face_out_{side}")],
                                name=f"decoder_{side}")

        inputs = [layers.Input(shape=(size, size, 3), name=f"face_in_{side}") for side in "ab"]
        outputs = [decoder("a")(fc_both(encoder(inputs[0]))),
                   decoder("b")(fc_both(encoder(inputs[1])))]
        return models.Model(inputs, outputs=outputs, name="phaze_a")
    finally:
        keras2.mixed_precision.set_global_policy("float32")


def fs2_state(name: str, learn_mask: bool = False, iterations: int = 30) -> dict[str, Any]:
    """A state file as Faceswap 2 writes it: per-side lowest losses, its option names."""
    return {"name": name,
            "sessions": {"1": {"timestamp": 1700000000.0, "no_logs": False,
                               "loss_names": ["total", "face_a", "face_b"], "batchsize": 4,
                               "iterations": iterations,
                               "config": {"learning_rate": 5e-05, "autoclip": False}}},
            "lowest_avg_loss": {"a": 0.0625, "b": 0.03125},
            "iterations": iterations,
            "mixed_precision_layers": [],
            "lr_finder": -1.0,
            "config": {"centering": "face", "coverage": 87.5, "vertical_offset": 0,
                       "optimizer": "adam", "learning_rate": 5e-05, "epsilon_exponent": -7,
                       "autoclip": True, "allow_growth": False, "mixed_precision": False,
                       "nan_protection": True, "convert_batchsize": 16,
                       "loss_function": "ssim", "mask_loss_function": "mse",
                       "learn_mask": learn_mask, "mask_type": "extended",
                       "penalized_mask_loss": True}}


def write_fs2_folder(model: Any, folder: Path, name: str, learn_mask: bool = False,
                     train_steps: int = 1) -> None:
    """Save ``model`` as Faceswap 2 leaves a model folder: ``<name>.h5`` (compiled with Adam and
    trained ``train_steps`` steps, the optimizer saved, as with ``save_optimizer`` ``always``),
    ``<name>_state.json`` and ``<name>_logs/session_1``."""
    keras2 = _keras2()
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    model.compile(optimizer=keras2.optimizers.Adam(learning_rate=5e-5), loss="mae")
    rng = np.random.default_rng(5)
    size = model.inputs[0].shape[1]
    for _ in range(train_steps):
        faces = [rng.random((2, size, size, 3), dtype="float32") for _ in range(2)]
        targets = tf.nest.map_structure(  # nested as the model's outputs
            lambda out: rng.random((2, *out.shape[1:]), dtype="float32"), model.output)
        model.train_on_batch(faces, targets)
    model.save(str(folder / f"{name}.h5"))
    (folder / f"{name}_state.json").write_text(json.dumps(fs2_state(name, learn_mask),
                                                          indent=2), encoding="utf-8")
    logs = folder / f"{name}_logs" / "session_1"
    logs.mkdir(parents=True)
    (logs / "events.out.tfevents.1700000000.host").write_bytes(b"fs2 log")
