"""Flax cells (carry-first, `(carry, x) -> (carry, y)`) that wrap the ops."""

from memax.cells.dam import DAMCell
from memax.cells.dam import DAMState
from memax.cells.dnc import DNCCell
from memax.cells.dnc import DNCState
from memax.cells.lstm import FusedLSTMCell
from memax.cells.lstm import LSTMBaseline
from memax.cells.lstm import LSTMState
from memax.cells.mann import MANNCell
from memax.cells.mann import MANNState
from memax.cells.ntm import NTMCell
from memax.cells.ntm import NTMState

__all__ = ('DAMCell', 'DAMState', 'DNCCell', 'DNCState', 'FusedLSTMCell', 'LSTMBaseline',
           'LSTMState', 'MANNCell', 'MANNState', 'NTMCell', 'NTMState')
