"""The version of this runner installation."""

__version__ = "0.1.0"
