"""Options of the mask blending plugin (section ``mask.mask_blend`` of ``convert.ini``), with
Faceswap 3's names, defaults and ranges."""
from lib.config import ConfigItem

HELPTEXT = ("Options for blending the edges between the swapped face and the background "
            "frame.")

type = ConfigItem(  # Faceswap's option name
    datatype=str, default="normalized", group="Blending type",
    choices=["gaussian", "normalized", "none"], gui_radio=True,
    info="The type of blending to use on the mask. 'gaussian' blends with a gaussian filter, "
         "'normalized' with a normalized box filter (sharper edges, faster), 'none' does not "
         "blend the mask.")
kernel_size = ConfigItem(
    datatype=int, default=3, group="settings", min_max=(1, 9), rounding=1,
    info="The size of the blur kernel in pixels at a mask size of 128: a larger kernel blends "
         "further. Even values are rounded up to the next odd number.")
passes = ConfigItem(
    datatype=int, default=4, group="settings", min_max=(1, 8), rounding=1,
    info="The number of passes of the blur. The kernel shrinks after each pass; more passes "
         "give a smoother blend.")
threshold = ConfigItem(
    datatype=int, default=4, group="settings", min_max=(0, 50), rounding=1,
    info="Mask values within this percentage of black or white become black or white, which "
         "removes noise from the mask before blending.")
erosion = ConfigItem(
    datatype=float, default=0.0, group="settings", min_max=(-100.0, 100.0), rounding=1,
    info="Erode (positive) or dilate (negative) the mask by this percentage of its radius, to "
         "shrink or grow the area of the swapped face.")
erosion_top = ConfigItem(
    datatype=float, default=0.0, group="settings", min_max=(-100.0, 100.0), rounding=1,
    info="Erode (positive) or dilate (negative) the top of the mask only, in percent of its "
         "radius.")
erosion_bottom = ConfigItem(
    datatype=float, default=0.0, group="settings", min_max=(-100.0, 100.0), rounding=1,
    info="Erode (positive) or dilate (negative) the bottom of the mask only, in percent of its "
         "radius.")
erosion_left = ConfigItem(
    datatype=float, default=0.0, group="settings", min_max=(-100.0, 100.0), rounding=1,
    info="Erode (positive) or dilate (negative) the left of the mask only, in percent of its "
         "radius.")
erosion_right = ConfigItem(
    datatype=float, default=0.0, group="settings", min_max=(-100.0, 100.0), rounding=1,
    info="Erode (positive) or dilate (negative) the right of the mask only, in percent of its "
         "radius.")
