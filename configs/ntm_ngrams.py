"""NTM on dynamic N-grams (Graves et al. 2014, sec. 4.4).

6-gram tables drawn from Beta(1/2, 1/2), 200-bit sequences; the metric
`excess_cost_bits` is the cost above the optimal Bayesian estimator's.

Command:
  python -m memax.main --config=configs/ntm_ngrams.py --workdir=runs/ntm_ngrams
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_ngrams --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=ntm,task=ngrams')
  config.optimizer.learning_rate = 3e-5
  config.train.num_steps = 100_000
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 2)."""
  common.add_seeds(add, arg, 2)
