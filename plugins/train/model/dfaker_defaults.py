"""Options of the Dfaker model plugin (section ``model.dfaker``)."""
from lib.config import ConfigItem

HELPTEXT = ("Dfaker Model, adapted from dfaker's df project (https://github.com/dfaker/df): the "
            "Original encoder with residual decoders that output twice the input resolution.")

output_size = ConfigItem(
    datatype=int, default=128, group="size", rounding=128, min_max=(128, 256),
    info="Width and height, in pixels, of the face the model generates: 128 or 256. The model "
         "takes faces of half this size as input. A 256 px output needs far more GPU memory and "
         "adds an upscale stage (with its residual block) to each decoder.")
