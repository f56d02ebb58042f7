from fragment_bulk._version import __version__
