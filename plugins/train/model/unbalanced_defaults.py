"""Options of the Unbalanced model plugin (section ``model.unbalanced``)."""
from lib.config import ConfigItem

HELPTEXT = ("An unbalanced model with adjustable input size options. Decoder B is much larger "
            "than decoder A, so swapping B to A may not work well.")

input_size = ConfigItem(
    datatype=int, default=128, group="size", rounding=64, min_max=(64, 512),
    info="Size in pixels of the square input (and output) face. Larger sizes need much more "
         "memory. Use a multiple of 64 (64, 128, 256...). Your training faces should be at "
         "least 1.6 times this size (160 px at most for 256 px faces).")

lowmem = ConfigItem(
    datatype=bool, default=False, group="settings",
    info="Lower memory mode: smaller encoder and decoders. It overrides `nodes` and the "
         "complexity options. A lowmem model cannot be resumed without lowmem, nor the other "
         "way round.")

nodes = ConfigItem(
    datatype=int, default=1024, group="network", rounding=64, min_max=(512, 4096),
    info="Width of the encoder's dense bottleneck. Leave it unless you know what you are "
         "doing.")

complexity_encoder = ConfigItem(
    datatype=int, default=128, group="network", rounding=16, min_max=(64, 1024),
    info="Filters of the encoder's first convolution (the next ones use 2, 4, 6 and 8 times "
         "as many). Sensible values lie between 128 and 160.")

complexity_decoder_a = ConfigItem(
    datatype=int, default=384, group="network", rounding=16, min_max=(64, 1024),
    info="Filters of decoder A's first upscales; the later ones use half and a quarter.")

complexity_decoder_b = ConfigItem(
    datatype=int, default=512, group="network", rounding=16, min_max=(64, 1024),
    info="Filters of decoder B's first upscales; the later ones use half and a quarter.")
