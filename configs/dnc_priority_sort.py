"""DNC on priority sort, beside the NTM: the NTM paper's task.

20 eight-bit vectors with priorities in [-1, 1]; the 16 of highest priority
are wanted, sorted. A DNC with a 2 x 100 deep LSTM (the NTM paper's
controller for this task), memory 128 x 20, one write head and 4 read
heads, and deepmind/dnc's protocol (batches of 16, RMSProp 1e-4,
global-norm clip 50). The DNC has one write head where the NTM paper's
has 5: it must write each vector where its priority says, by content.

Command:
  python -m memax.main --config=configs/dnc_priority_sort.py --workdir=runs/dnc_priority_sort
Evaluate (bigger memory) after training:
  python -m memax.evaluate --workdir=runs/dnc_priority_sort --config.model.memory_size=256
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=dnc,task=priority_sort')
  train.dnc_protocol(config, num_steps=50_000)
  train.ntm_sizes(config)
  config.model.controller_layers = 2
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 1)."""
  common.add_seeds(add, arg, 1)
