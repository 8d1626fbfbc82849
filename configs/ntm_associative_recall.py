"""NTM on associative recall (Graves et al. 2014, sec. 4.3), the paper's settings.

Items of three 6-bit vectors, 2-6 items per episode; evaluation at 12 and 20
items (the paper generalises to 12).

Command:
  python -m memax.main --config=configs/ntm_associative_recall.py --workdir=runs/ntm_associative_recall
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_associative_recall --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=ntm,task=associative_recall')
  config.train.num_steps = 100_000
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
