"""Readers for real datasets (bAbI); pure Python and NumPy, no device code."""

from memax.data import babi

__all__ = ("babi",)
