"""Convert plugins: mask blending, colour adjustment and frame writers, with their options in
``convert.ini`` (:mod:`plugins.convert.convert_config`), and the frame-convert pipeline
(:mod:`plugins.convert.frame_convert`)."""
