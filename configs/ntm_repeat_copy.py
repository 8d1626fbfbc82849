"""NTM on repeat copy (Graves et al. 2014, sec. 4.2), the paper's settings.

Sequences of 1-10 8-bit vectors, repeated 1-10 times (the count is shown as
a scalar normalised by 10). Evaluation variants include length 20 with 20
repeats, beyond the training distribution on both axes.

Command:
  python -m memax.main --config=configs/ntm_repeat_copy.py --workdir=runs/ntm_repeat_copy
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_repeat_copy --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=ntm,task=repeat_copy')
  config.train.num_steps = 100_000
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
