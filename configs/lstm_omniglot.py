"""LSTM baseline on Omniglot one-shot classification.

One LSTM layer of 200 units: the MANN's controller alone (Santoro et al.
2016, Table 1's LSTM; the seed implementation's baseline), the same task and
training protocol as `configs/mann_omniglot.py`.

Command:
  python -m memax.main --config=configs/lstm_omniglot.py --workdir=runs/lstm
Measured results: experiments/omniglot/README.md.
"""

import ml_collections

from configs import common
from configs import omniglot


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `labels=string`, `runlocal`, `seeds=N`."""
  return omniglot.get_config('lstm', arg, hidden_size=200)


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
