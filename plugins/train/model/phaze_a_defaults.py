"""Options of the Phaze-A model plugin (section ``model.phaze_a``).

Phaze-A is built from five configurable parts: an encoder (Faceswap's own, a Keras Applications
network or a CLIP visual transformer), a bottleneck, the fully connected ("hidden") layers, an
optional G-Block and the decoder(s). Nearly every option changes the network's structure, so
nearly every option is fixed once a model is created; only the dropout rates and the layers to
freeze can be changed for an existing model.
"""
from lib.config import ConfigItem

HELPTEXT = (
    "Phaze-A: a highly configurable model with shared and split fully connected layers, a "
    "StyleGAN-like G-Block and any of many encoders (Faceswap's own, Keras Applications or "
    "CLIP). Read the help of each option carefully: many combinations use a lot of memory.")

_ENCODERS = [
    "clipv_farl-b-16-16", "clipv_farl-b-16-64", "clipv_vit-b-16", "clipv_vit-b-32",
    "clipv_vit-l-14", "clipv_vit-l-14-336px",
    "convnext_base", "convnext_large", "convnext_small", "convnext_tiny", "convnext_xlarge",
    "densenet121", "densenet169", "densenet201",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_b0", "efficientnet_v2_b1", "efficientnet_v2_b2", "efficientnet_v2_b3",
    "efficientnet_v2_l", "efficientnet_v2_m", "efficientnet_v2_s",
    "fs_original",
    "inception_resnet_v2", "inception_v3",
    "mobilenet", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "nasnet_large", "nasnet_mobile",
    "resnet101", "resnet101_v2", "resnet152", "resnet152_v2", "resnet50", "resnet50_v2",
    "vgg16", "vgg19",
    "xception"]

_SUB_MODELS = ["encoder", "fc_a", "fc_b", "fc_both", "fc_shared", "fc_gblock", "g_block_a",
               "g_block_b", "g_block_both", "decoder_a", "decoder_b", "decoder_both"]

# --- general ---------------------------------------------------------------------------------
output_size = ConfigItem(
    datatype=int, default=128, group="general", rounding=64, min_max=(64, 2048),
    info="Size in pixels of the square face the model outputs. Must be a multiple of 64. The "
         "decoder upscales from the fully connected layers' output up to this size, so larger "
         "sizes add upscale layers and need much more memory.")

shared_fc = ConfigItem(
    datatype=str, default="none", group="general", choices=["none", "full", "half"],
    gui_radio=True,
    info="Add fully connected layers shared by both sides, whose output is concatenated to "
         "each side's own fully connected output.\n"
         "none: no shared layers.\n"
         "full: a separate set of fully connected layers ('fc_shared') used by both sides.\n"
         "half: re-use the A side's layers (or the combined layers when 'split_fc' is off) as "
         "the shared layers.")

enable_gblock = ConfigItem(
    datatype=bool, default=True, group="general",
    info="Add the G-Block: a small network inspired by StyleGAN's adaptive instance "
         "normalization that sits between the fully connected layers and the decoder and is "
         "driven by its own fully connected layers ('fc_gblock').")

split_fc = ConfigItem(
    datatype=bool, default=True, group="general",
    info="Give each side its own fully connected layers ('fc_a' and 'fc_b'). Off: one set "
         "('fc_both') is used by both sides.")

split_gblock = ConfigItem(
    datatype=bool, default=False, group="general",
    info="Give each side its own G-Block ('g_block_a' and 'g_block_b'). Off: one G-Block "
         "('g_block_both') is used by both sides. Ignored when the G-Block is disabled.")

split_decoders = ConfigItem(
    datatype=bool, default=False, group="general",
    info="Give each side its own decoder ('decoder_a' and 'decoder_b'). Off: one decoder "
         "('decoder_both') is used by both sides, and the fully connected layers (and G-Block) "
         "carry the difference between the sides.")

# --- encoder ---------------------------------------------------------------------------------
enc_architecture = ConfigItem(
    datatype=str, default="fs_original", group="encoder", choices=_ENCODERS,
    info="The encoder network.\n"
         "fs_original: Faceswap's own configurable encoder (see the 'fs_original_*' options).\n"
         "clipv_*: the visual transformer of a CLIP model (ViT-B/16, ViT-B/32, ViT-L/14, "
         "ViT-L/14 at 336px, or FaRL).\n"
         "Any other: the network of that name from Keras Applications (ConvNeXt, DenseNet, "
         "EfficientNet, EfficientNetV2, Inception, MobileNet, NASNet, ResNet, VGG, Xception), "
         "without its classification top.")

enc_scaling = ConfigItem(
    datatype=int, default=7, group="encoder", rounding=1, min_max=(0, 200),
    info="Input size of the model as a percentage of the encoder's usual input size (224px "
         "for most Keras Applications networks, 1024px for fs_original), rounded down to a "
         "multiple of 16 and never below the encoder's minimum size. For example, 7% of 1024 "
         "gives a 64px input for fs_original, 50% of 224 a 112px input for ResNet50.")

enc_load_weights = ConfigItem(
    datatype=bool, default=True, group="encoder",
    info="Start a Keras Applications encoder from its ImageNet weights (or a CLIP encoder "
         "from its published weights). The weights are downloaded the first time, so this "
         "needs network access then. Some encoders (NASNet, CLIP) need their usual input size "
         "for these weights and then ignore 'enc_scaling'. Ignored by fs_original.")

# --- bottleneck ------------------------------------------------------------------------------
bottleneck_type = ConfigItem(
    datatype=str, default="dense", group="bottleneck",
    choices=["average_pooling", "dense", "max_pooling", "flatten"], gui_radio=True,
    info="How the encoder's output is squeezed into a vector.\n"
         "average_pooling / max_pooling: global pooling over the spatial dimensions (the "
         "vector has as many values as the encoder has output channels).\n"
         "dense: flatten, then a Dense layer of 'bottleneck_size' nodes.\n"
         "flatten: flatten only (the vector can be very large).")

bottleneck_norm = ConfigItem(
    datatype=str, default="none", group="bottleneck",
    choices=["none", "instance", "layer", "rms"], gui_radio=True,
    info="Normalization applied to the encoder output before the bottleneck: none, instance "
         "normalization, layer normalization or RMS normalization.")

bottleneck_size = ConfigItem(
    datatype=int, default=1024, group="bottleneck", rounding=128, min_max=(128, 4096),
    info="Number of nodes of the bottleneck when 'bottleneck_type' is 'dense'.")

bottleneck_in_encoder = ConfigItem(
    datatype=bool, default=True, group="bottleneck",
    info="Place the bottleneck at the end of the encoder (shared by both sides). Off: each "
         "set of fully connected layers starts with its own bottleneck.")

# --- hidden layers ---------------------------------------------------------------------------
fc_depth = ConfigItem(
    datatype=int, default=1, group="hidden layers", rounding=1, min_max=(0, 16),
    info="Number of Dense layers in each set of fully connected layers. Their widths run from "
         "'fc_min_filters' to 'fc_max_filters' (times 'fc_dimensions' squared) along the "
         "'fc_filter_slope' curve.")

fc_min_filters = ConfigItem(
    datatype=int, default=1024, group="hidden layers", rounding=16, min_max=(16, 5120),
    info="Filters of the first Dense layer of the fully connected layers; the layer has this "
         "many times 'fc_dimensions' squared nodes.")

fc_max_filters = ConfigItem(
    datatype=int, default=1024, group="hidden layers", rounding=64, min_max=(128, 5120),
    info="Filters of the last Dense layer of the fully connected layers, which is reshaped to "
         "('fc_dimensions', 'fc_dimensions', filters) for the decoder. Lowered automatically "
         "when needed to fit the output size.")

fc_dimensions = ConfigItem(
    datatype=int, default=4, group="hidden layers", rounding=1, min_max=(1, 16),
    info="Height and width of the fully connected layers' reshaped output, before "
         "'fc_upsamples' upscales it.")

fc_filter_slope = ConfigItem(
    datatype=float, default=-0.5, group="hidden layers", rounding=2, min_max=(-0.99, 0.99),
    info="Shape of the curve of Dense widths from 'fc_min_filters' to 'fc_max_filters'. "
         "Negative values change the width quickly at first, positive values slowly at first, "
         "0 linearly.")

fc_dropout = ConfigItem(
    datatype=float, default=0.0, group="hidden layers", rounding=2, min_max=(0.0, 0.99),
    fixed=False,
    info="Dropout rate before each Dense layer of the fully connected layers (0 for none). "
         "Can be changed for an existing model, e.g. raised to fight over-fitting.")

fc_upsampler = ConfigItem(
    datatype=str, default="upsample2d", group="hidden layers",
    choices=["resize_images", "subpixel", "upscale_fast", "upscale_hybrid", "upsample2d"],
    gui_radio=True,
    info="How the fully connected output is upscaled 'fc_upsamples' times.\n"
         "upsample2d: bilinear UpSampling2D followed by a leaky ReLU (no weights).\n"
         "subpixel: convolution + pixel shuffle.\n"
         "resize_images: resize + convolution added to a transposed convolution.\n"
         "upscale_fast / upscale_hybrid: pixel shuffle combined with a convolution + "
         "upsampling branch, added (fast) or concatenated (hybrid).")

fc_upsamples = ConfigItem(
    datatype=int, default=1, group="hidden layers", rounding=1, min_max=(0, 4),
    info="Number of 2x upscales at the end of the fully connected layers.")

fc_upsample_filters = ConfigItem(
    datatype=int, default=512, group="hidden layers", rounding=64, min_max=(128, 5120),
    info="Filters of each fully connected upscale layer. Ignored by upsample2d, which keeps "
         "the filters it receives.")

# --- g-block hidden layers -------------------------------------------------------------------
fc_gblock_depth = ConfigItem(
    datatype=int, default=3, group="g-block hidden layers", rounding=1, min_max=(1, 16),
    info="Number of Dense layers in the G-Block's fully connected layers ('fc_gblock').")

fc_gblock_min_nodes = ConfigItem(
    datatype=int, default=512, group="g-block hidden layers", rounding=64, min_max=(128, 5120),
    info="Nodes of the first Dense layer of the G-Block's fully connected layers.")

fc_gblock_max_nodes = ConfigItem(
    datatype=int, default=512, group="g-block hidden layers", rounding=64, min_max=(128, 5120),
    info="Nodes of the last Dense layer of the G-Block's fully connected layers.")

fc_gblock_filter_slope = ConfigItem(
    datatype=float, default=-0.5, group="g-block hidden layers", rounding=2,
    min_max=(-0.99, 0.99),
    info="Shape of the curve of the G-Block Dense widths from 'fc_gblock_min_nodes' to "
         "'fc_gblock_max_nodes' (negative: fast change first, positive: slow first, 0: "
         "linear).")

fc_gblock_dropout = ConfigItem(
    datatype=float, default=0.0, group="g-block hidden layers", rounding=2,
    min_max=(0.0, 0.99), fixed=False,
    info="Dropout rate before each Dense layer of the G-Block's fully connected layers (0 for "
         "none). Can be changed for an existing model.")

# --- decoder ---------------------------------------------------------------------------------
dec_upscale_method = ConfigItem(
    datatype=str, default="subpixel", group="decoder",
    choices=["subpixel", "resize_images", "upscale_fast", "upscale_hybrid", "upscale_dny"],
    gui_radio=True,
    info="The decoder's upscale layers.\n"
         "subpixel: convolution + pixel shuffle.\n"
         "resize_images: resize + convolution added to a transposed convolution.\n"
         "upscale_fast / upscale_hybrid: pixel shuffle combined with a convolution + "
         "upsampling branch, added (fast) or concatenated (hybrid).\n"
         "upscale_dny: upsampling followed by two convolutions (adds two entry convolutions).")

dec_upscales_in_fc = ConfigItem(
    datatype=int, default=0, group="decoder", rounding=1, min_max=(0, 6),
    info="Number of the decoder's upscales to run at the end of the fully connected layers "
         "instead of in the decoder (so they are not shared when the fully connected layers "
         "are split and the decoder is not).")

dec_norm = ConfigItem(
    datatype=str, default="none", group="decoder",
    choices=["none", "batch", "group", "instance", "layer", "rms"], gui_radio=True,
    info="Normalization after each decoder upscale: none, batch, group, instance, layer or "
         "RMS normalization.")

dec_min_filters = ConfigItem(
    datatype=int, default=64, group="decoder", rounding=16, min_max=(16, 512),
    info="Filters of the decoder's last upscale.")

dec_max_filters = ConfigItem(
    datatype=int, default=512, group="decoder", rounding=64, min_max=(256, 5120),
    info="Filters of the decoder's first upscale.")

dec_slope_mode = ConfigItem(
    datatype=str, default="full", group="decoder", choices=["full", "cap_max", "cap_min"],
    gui_radio=True,
    info="How the filters fall from 'dec_max_filters' to 'dec_min_filters'.\n"
         "full: along a curve over all the upscales, shaped by 'dec_filter_slope'.\n"
         "cap_max: at a fixed rate per upscale ('dec_filter_slope' as a fraction), the first "
         "upscales held at the maximum so that the last reaches the minimum "
         "(e.g. 512, 512, 256, 128, 64).\n"
         "cap_min: at a fixed rate from the first upscale, the last upscales held at the "
         "minimum (e.g. 512, 256, 128, 64, 64).")

dec_filter_slope = ConfigItem(
    datatype=float, default=-0.45, group="decoder", rounding=2, min_max=(-0.99, 0.99),
    info="With 'full': the curve's shape (negative: filters fall fast first, positive: slow "
         "first, 0: linear). With the cap modes: the fraction of filters dropped at each "
         "upscale (its absolute value is used; 0.5 halves them).")

dec_res_blocks = ConfigItem(
    datatype=int, default=1, group="decoder", rounding=1, min_max=(0, 8),
    info="Residual blocks after each decoder upscale (the face branch only).")

dec_output_kernel = ConfigItem(
    datatype=int, default=5, group="decoder", rounding=1, min_max=(1, 9),
    info="Kernel size of the convolutions that output the face and the mask.")

dec_gaussian = ConfigItem(
    datatype=bool, default=True, group="decoder",
    info="Add Gaussian noise (standard deviation 1, during training only) after each decoder "
         "upscale of the face branch, which can help the model generalise.")

dec_skip_last_residual = ConfigItem(
    datatype=bool, default=True, group="decoder",
    info="Leave out the residual blocks after the decoder's last upscale.")

# --- weights ---------------------------------------------------------------------------------
freeze_layers = ConfigItem(
    datatype=list, default=["keras_encoder"], group="weights",
    choices=["encoder", "keras_encoder", *_SUB_MODELS[1:]], fixed=False,
    info="Sub-models whose weights '--freeze-weights' freezes. 'keras_encoder' is the Keras "
         "Applications or CLIP network inside the encoder (so the bottleneck keeps training); "
         "it is ignored for fs_original. Sub-models that this configuration does not build are "
         "skipped with a warning.")

load_layers = ConfigItem(
    datatype=list, default=["encoder"], group="weights", choices=_SUB_MODELS,
    info="Sub-models whose weights '--load-weights' copies from another Phaze-A model file "
         "when a new model is created.")

# --- faceswap encoder configuration ----------------------------------------------------------
fs_original_depth = ConfigItem(
    datatype=int, default=4, group="faceswap encoder configuration", rounding=1,
    min_max=(2, 10),
    info="Number of downscales of the fs_original encoder (each halves the size).")

fs_original_min_filters = ConfigItem(
    datatype=int, default=128, group="faceswap encoder configuration", rounding=16,
    min_max=(16, 2048),
    info="Filters of the fs_original encoder's first downscale; they double at each "
         "downscale up to 'fs_original_max_filters'.")

fs_original_max_filters = ConfigItem(
    datatype=int, default=1024, group="faceswap encoder configuration", rounding=64,
    min_max=(256, 8192),
    info="Most filters any fs_original downscale may have.")

fs_original_use_alt = ConfigItem(
    datatype=bool, default=False, group="faceswap encoder configuration",
    info="Use the alternative fs_original encoder: stride 1 convolution pairs followed by max "
         "pooling instead of strided convolutions.")

# --- mobilenet encoder configuration ---------------------------------------------------------
mobilenet_width = ConfigItem(
    datatype=float, default=1.0, group="mobilenet encoder configuration", rounding=2,
    min_max=(0.1, 2.0),
    info="MobileNet width multiplier ('alpha'), for all MobileNet versions. With ImageNet "
         "weights only some values exist: 0.25, 0.5, 0.75, 1.0 (v1); 0.35, 0.5, 0.75, 1.0, "
         "1.3, 1.4 (v2); 0.75, 1.0 (v3).")

mobilenet_depth = ConfigItem(
    datatype=int, default=1, group="mobilenet encoder configuration", rounding=1,
    min_max=(1, 10),
    info="MobileNet v1 depth multiplier of the depthwise convolutions (must be 1 with "
         "ImageNet weights).")

mobilenet_dropout = ConfigItem(
    datatype=float, default=0.001, group="mobilenet encoder configuration", rounding=3,
    min_max=(0.001, 2.0),
    info="MobileNet v1 dropout rate.")

mobilenet_minimalistic = ConfigItem(
    datatype=bool, default=False, group="mobilenet encoder configuration",
    info="Use the minimalistic MobileNet v3 (no squeeze-and-excite, hard-swish or 5x5 "
         "convolutions): smaller and faster, for less accuracy.")
