"""NTM on copy (Graves et al. 2014, sec. 4.1), the paper's settings.

LSTM controller of 100 units, memory 128 x 20, one read and one write head,
8-bit vectors of length 1-20, one sequence per update, RMSProp 1e-4 with
momentum 0.9. Training stops once 256 fresh training-distribution sequences
cost under 0.1 bits each on average (zero bit errors in practice); the final
evaluation covers lengths 20, 40, 80 and 120 (1x, 2x, 4x and 6x the longest).

Command:
  python -m memax.main --config=configs/ntm_copy.py --workdir=runs/ntm_copy
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_copy --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=ntm,task=copy')
  config.train.num_steps = 50_000
  config.train.stop_metric = 'cost_bits'
  config.train.stop_below = 0.1
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 10)."""
  common.add_seeds(add, arg, 10)
