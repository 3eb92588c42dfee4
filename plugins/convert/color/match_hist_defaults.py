"""Options of the histogram-matching colour adjustment (section ``color.match_hist``)."""
from lib.config import ConfigItem

HELPTEXT = ("Options for matching the histograms of the swapped face to those of the original "
            "face, channel by channel.")

threshold = ConfigItem(
    datatype=float, default=99.0, group="settings", min_max=(90.0, 100.0), rounding=1,
    info="Adjust the threshold for histogram matching. Can reduce extreme colors leaking in by "
         "filtering out colors at the extreme ends of the histogram spectrum.")
