"""Small model plugins of our own, one per pattern Faceswap's plugins use (plugin_api.md §1).

The tests install them as third-party plugins (entry point group ``faceswap_original.models``),
so they also exercise plugin discovery from installed packages.
"""
