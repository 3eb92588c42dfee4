"""Options of the arch_names test plugin (section ``model.arch_names``)."""
from lib.config import ConfigItem

HELPTEXT = "A test plugin with two architectures."

architecture = ConfigItem(
    datatype=str, default="dense", group="network", choices=["dense", "wide"],
    info="The encoder architecture.")
