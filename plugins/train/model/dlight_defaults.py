"""Options of the DLight model plugin (section ``model.dlight``)."""
from lib.config import ConfigItem

HELPTEXT = ("A lightweight, high resolution Dfaker variant "
            "(adapted from https://github.com/dfaker/df).")

features = ConfigItem(
    datatype=str, default="best", group="settings", choices=["lowmem", "fair", "best"],
    gui_radio=True,
    info="How many features the encoder can learn (tattoos, piercings, wrinkles...). Higher "
         "settings learn more and use much more memory.")

details = ConfigItem(
    datatype=str, default="good", group="settings", choices=["fast", "good"], gui_radio=True,
    info="Detail quality of decoder B. 'fast' uses a lighter decoder whose output can look "
         "rough; 'good' uses residual blocks and takes longer to train.")

output_size = ConfigItem(
    datatype=int, default=256, group="settings", rounding=128, min_max=(128, 384),
    info="Size in pixels of the square output face. Must be 128, 256 or 384. Larger sizes need "
         "more memory.")
