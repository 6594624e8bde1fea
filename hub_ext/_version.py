"""Single source of the accelhub version."""

__version__ = "0.1.0"
