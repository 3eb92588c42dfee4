"""Options of the Villain model plugin (section ``model.villain``)."""
from lib.config import ConfigItem

HELPTEXT = ("Villain Model: VillainGuy's higher-resolution take on the Original model (128 px in "
            "and out), with a deep residual encoder. It needs a lot of GPU memory.")

lowmem = ConfigItem(
    datatype=bool, default=False, group="settings",
    info="Lower memory mode: the encoder runs 8 residual blocks instead of 16 and drops its last "
         "separable convolution. It lowers the memory needed for activations, but the model gets "
         "MORE weights (the dense layer sees a larger feature map). The width of the encoder's "
         "dense layer follows the Original model's own 'lowmem' option in [model.original]. A "
         "lowmem model cannot be resumed without lowmem, nor the other way round.")
