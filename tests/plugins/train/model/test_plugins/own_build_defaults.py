"""Options of the own_build test plugin (section ``model.own_build``)."""
from lib.config import ConfigItem

HELPTEXT = "A test plugin that overrides build()."

dropout = ConfigItem(
    datatype=float, default=0.0, group="network", min_max=(0.0, 0.9), rounding=2, fixed=False,
    info="Dropout rate of the encoder; changeable for an existing model.")
