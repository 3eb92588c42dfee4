"""Options of the RealFace model plugin (section ``model.realface``)."""
from lib.config import ConfigItem

HELPTEXT = ("An extra detailed variant of the Original model, with ideas from Bryanlyon and "
            "inspiration from the Villain model. Needs about 6 to 8 GB of VRAM (batch size 8 "
            "to 16).")

input_size = ConfigItem(
    datatype=int, default=64, group="size", rounding=16, min_max=(64, 128),
    info="Size in pixels of the square input face. Larger inputs can make predictions more "
         "accurate (the output size is set separately) but need much more memory. Must be "
         "between 64 and 128 and divisible by 16.")

output_size = ConfigItem(
    datatype=int, default=128, group="size", rounding=16, min_max=(64, 256),
    info="Size in pixels of the square output face. Larger outputs need more memory. Must be "
         "between 64 and 256 and divisible by 32.")

dense_nodes = ConfigItem(
    datatype=int, default=1536, group="network", rounding=64, min_max=(768, 2048),
    info="Width of the decoders' dense layer. It affects how well the model learns in general; "
         "lower values reduce its ability to predict details.")

complexity_encoder = ConfigItem(
    datatype=int, default=128, group="network", rounding=4, min_max=(96, 160),
    info="Filters of the encoder's first convolution (doubled at each of the next three). "
         "Sensible values lie between 128 and 150.")

complexity_decoder = ConfigItem(
    datatype=int, default=512, group="network", rounding=4, min_max=(512, 544),
    info="Filters of decoder B's first upscale (decoder A uses two thirds of it), halved at "
         "each further upscale.")
