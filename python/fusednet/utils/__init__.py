"""Utilities: the Keras-style :class:`Progbar`."""
from .progbar import Progbar, format_value, format_duration

__all__ = ["Progbar", "format_value", "format_duration"]
