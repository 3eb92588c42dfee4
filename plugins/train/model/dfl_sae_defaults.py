"""Options of the DFL-SAE model plugin (section ``model.dfl_sae``)."""
from lib.config import ConfigItem

HELPTEXT = "DFL SAE Model (adapted from https://github.com/iperov/DeepFaceLab)."

input_size = ConfigItem(
    datatype=int, default=128, group="size", rounding=16, min_max=(64, 256),
    info="Size in pixels of the square input face. Larger sizes need much more memory. Must be "
         "divisible by 16.")

architecture = ConfigItem(
    datatype=str, default="df", group="network", choices=["df", "liae"], gui_radio=True,
    info="The network layout.\n"
         "df: one encoder, one decoder per side; tends to keep faces more natural.\n"
         "liae: one encoder, a shared and a B-only intermediate layer and one shared decoder; "
         "can help when the two face shapes differ a lot.")

autoencoder_dims = ConfigItem(
    datatype=int, default=0, group="network", rounding=32, min_max=(0, 1024),
    info="Width of the bottleneck (dense) layer that holds the face information. More "
         "dimensions can capture more facial features but need more memory. 0 uses the "
         "architecture's default: 256 for liae, 512 for df.")

encoder_dims = ConfigItem(
    datatype=int, default=42, group="network", rounding=1, min_max=(21, 85),
    info="Encoder filters per input channel. Higher values let the encoder pick up more facial "
         "features, at the cost of memory.")

decoder_dims = ConfigItem(
    datatype=int, default=21, group="network", rounding=1, min_max=(10, 85),
    info="Decoder filters per output channel. Higher values help the decoder render finer "
         "detail, at the cost of memory.")

multiscale_decoder = ConfigItem(
    datatype=bool, default=False, group="network",
    info="Add face outputs at 1/4 and 1/2 of the output size, which are trained too and can help "
         "the decoder learn better detail.")
