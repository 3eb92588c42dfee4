"""Options of the tiny test plugin (section ``model.tiny``)."""
from lib.config import ConfigItem

HELPTEXT = "A tiny 32 px model for tests."

encoder_dim = ConfigItem(
    datatype=int, default=64, group="network", min_max=(16, 256), rounding=16,
    info="Width of the encoder's dense bottleneck.")
