"""Options of the DFL-H128 model plugin (section ``model.dfl_h128``)."""
from lib.config import ConfigItem

HELPTEXT = ("DFL-H128 Model, adapted from DeepFaceLab's H128 model "
            "(https://github.com/iperov/DeepFaceLab): 128 px in, 128 px out.")

lowmem = ConfigItem(
    datatype=bool, default=False, group="settings",
    info="Lower memory mode: halves the encoder's dense width (256 instead of 512), which also "
         "halves the widths of the decoders. Use it if training runs out of GPU memory. A lowmem "
         "model cannot be resumed without lowmem, nor the other way round.")
