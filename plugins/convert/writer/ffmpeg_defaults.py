"""Options of the video writer (section ``writer.ffmpeg``)."""
from lib.config import ConfigItem

HELPTEXT = ("Options for writing the converted frames as a video (FFmpeg's encoders, through "
            "PyAV), with the audio of the source or reference video.")

# Faceswap compat: Faceswap also offers 'webm', which holds only VP8, VP9 or AV1 video: with
# either codec below, writing it could only fail, so it is not offered (and refused with the
# reason when a convert.ini names it).
container = ConfigItem(
    datatype=str, default="mp4", group="codec",
    choices=["avi", "flv", "mkv", "mov", "mp4", "mpeg"], gui_radio=True,
    unavailable={"webm": "a WebM file holds only VP8, VP9 or AV1 video, and the codecs here are "
                         "H.264 (libx264) and H.265 (libx265)."},
    info="The video container (file type) of the output.")
codec = ConfigItem(
    datatype=str, default="libx264", group="codec", choices=["libx264", "libx265"],
    gui_radio=True,
    info="The video codec: 'libx264' (H.264, plays everywhere) or 'libx265' (H.265, smaller "
         "files).")
crf = ConfigItem(
    datatype=int, default=23, group="quality", min_max=(0, 51), rounding=1,
    info="Constant rate factor: lower is better quality and larger files; 0 is lossless.")
preset = ConfigItem(
    datatype=str, default="medium", group="quality",
    choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
             "slower", "veryslow"], gui_radio=True,
    info="Encoding speed against compression: slower presets give smaller files at the same "
         "quality.")
tune = ConfigItem(
    datatype=str, default="none", group="settings",
    choices=["none", "film", "animation", "grain", "stillimage", "fastdecode", "zerolatency"],
    info="Tune the encoder for a kind of content ('none' for no tuning).")
profile = ConfigItem(
    datatype=str, default="auto", group="settings",
    choices=["auto", "main", "high", "high10", "high422", "high444"],
    info="The codec profile ('auto' lets the encoder choose).")
level = ConfigItem(
    datatype=str, default="auto", group="settings",
    choices=["auto", "1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4",
             "4.1", "4.2", "5", "5.1", "5.2", "6", "6.1", "6.2"],
    info="The codec level ('auto' lets the encoder choose).")
skip_mux = ConfigItem(
    datatype=bool, default=False, group="settings",
    info="Do not copy the audio of the source (or reference) video into the output.")
