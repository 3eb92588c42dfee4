"""Options of the Original model plugin (section ``model.original``)."""
from lib.config import ConfigItem

HELPTEXT = "Original Faceswap Model."

lowmem = ConfigItem(
    datatype=bool, default=False, group="settings",
    info="Lower memory mode: the encoder drops its last convolution and halves its dense layer. "
         "A lowmem model cannot be resumed without lowmem, nor the other way round.")
