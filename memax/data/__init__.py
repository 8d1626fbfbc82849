"""Readers for real datasets (bAbI, Omniglot); pure Python, NumPy and
Pillow, no device code."""

from memax.data import babi
from memax.data import omniglot

__all__ = ("babi", "omniglot")
