"""Writers of converted frames (``-w/--writer``)."""
