"""``python -m faceswap_original``: the same as the ``faceswap-original`` command."""
import sys

from faceswap_original.cli import main

sys.exit(main())
