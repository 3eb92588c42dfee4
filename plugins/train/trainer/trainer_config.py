"""Options of the trainer: preview and data augmentation (section ``trainer.augmentation`` of the
training config). They are read by the trainer and the data feeder only, never stored with a
model, so they can change at any time."""
from __future__ import annotations

from lib.config import COLOR_CHOOSER, ConfigItem

HELPTEXT = ("Data augmentation and preview options of the trainer. They apply to every model and "
            "can be changed at any time.")

# --- preview ---
preview_images = ConfigItem(
    datatype=int, default=14, group="evaluation", min_max=(2, 16), rounding=2, fixed=False,
    info="Number of faces per side shown in the preview.")
mask_opacity = ConfigItem(
    datatype=int, default=30, group="evaluation", min_max=(0, 100), rounding=1, fixed=False,
    info="Opacity (percent) of the mask overlay in the preview; 0 hides it.")
mask_color = ConfigItem(
    datatype=str, default="#ff0000", group="evaluation", choices=COLOR_CHOOSER, fixed=False,
    info="Colour of the mask overlay in the preview.")
# --- image augmentation ---
zoom_amount = ConfigItem(
    datatype=int, default=5, group="image augmentation", min_max=(0, 25), rounding=1,
    fixed=False, info="Randomly zoom each training image in or out by up to this percentage.")
rotation_range = ConfigItem(
    datatype=int, default=10, group="image augmentation", min_max=(0, 25), rounding=1,
    fixed=False, info="Randomly rotate each training image by up to this many degrees.")
shift_range = ConfigItem(
    datatype=int, default=5, group="image augmentation", min_max=(0, 25), rounding=1,
    fixed=False,
    info="Randomly shift each training image by up to this percentage of its size.")
flip_chance = ConfigItem(
    datatype=int, default=50, group="image augmentation", min_max=(0, 75), rounding=1,
    fixed=False, info="The chance (percent) that a training image is flipped horizontally.")
# --- color augmentation ---
color_lightness = ConfigItem(
    datatype=int, default=30, group="color augmentation", min_max=(0, 75), rounding=1,
    fixed=False,
    info="Randomly change the lightness of each training image by up to this percentage.")
color_ab = ConfigItem(
    datatype=int, default=8, group="color augmentation", min_max=(0, 50), rounding=1,
    fixed=False, info="Randomly shift the A and B colour channels (L*a*b*) by up to this "
                      "percentage.")
color_clahe_chance = ConfigItem(
    datatype=int, default=50, group="color augmentation", min_max=(0, 75), rounding=1,
    fixed=False, info="The chance (percent) that Contrast Limited Adaptive Histogram "
                      "Equalization is applied to a training image.")
color_clahe_max_size = ConfigItem(
    datatype=int, default=4, group="color augmentation", min_max=(1, 8), rounding=1,
    fixed=False, info="The largest grid size of the histogram equalization (a higher value "
                      "gives a stronger effect).")
