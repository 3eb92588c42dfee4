"""Options of the OpenCV image writer (section ``writer.opencv``)."""
from lib.config import ConfigItem

HELPTEXT = "Options for writing the converted frames as image files with OpenCV."

format = ConfigItem(  # Faceswap's option name
    datatype=str, default="png", group="format", choices=["bmp", "jpg", "jp2", "png", "ppm"],
    gui_radio=True,
    info="The image format of the frames. 'png' is lossless; 'jpg' is smaller and lossy.")
draw_transparent = ConfigItem(
    datatype=bool, default=False, group="format",
    info="Write the swapped face on a transparent background (no frame) instead of the whole "
         "frame. Forces the format to 'png'.")
separate_mask = ConfigItem(
    datatype=bool, default=False, group="format",
    info="With draw_transparent, write the mask to a 'masks' sub-folder instead of the alpha "
         "channel.")
jpg_quality = ConfigItem(
    datatype=int, default=75, group="compression", min_max=(1, 95), rounding=1,
    info="JPEG quality: higher is better and larger.")
png_compress_level = ConfigItem(
    datatype=int, default=3, group="compression", min_max=(0, 9), rounding=1,
    info="PNG compression level: higher is smaller and slower (lossless at every level).")
