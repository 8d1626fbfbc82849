"""LSTM baseline on repeat copy: the NTM paper's 3 x 256 LSTM, batches of 16.

Command:
  python -m memax.main --config=configs/lstm_repeat_copy.py --workdir=runs/lstm_repeat_copy
Evaluate after training (all of the task's variants):
  python -m memax.evaluate --workdir=runs/lstm_repeat_copy
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=lstm,task=repeat_copy')
  train.lstm_baseline(config, num_steps=6_000)
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 1)."""
  common.add_seeds(add, arg, 1)
