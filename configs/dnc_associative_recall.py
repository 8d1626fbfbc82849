"""DNC on associative recall, beside the NTM: the NTM paper's task.

Items of 3 six-bit vectors, 2-6 items per sequence (evaluations with 6, 12
and 20 items), with a DNC of the NTM's sizes (an LSTM of 100 units, memory
128 x 20, one write head and 4 read heads) and deepmind/dnc's protocol
(batches of 16, RMSProp 1e-4, global-norm clip 50).

RMSProp with momentum 0.9 (DAM's optimiser; `--config.optimizer.momentum=0.9`)
solved it in 6,000 batches in 3 of 3 seeds; this protocol did not in 50,000
(one seed; experiments/dnc).

Command:
  python -m memax.main --config=configs/dnc_associative_recall.py --workdir=runs/dnc_associative_recall
Evaluate (more items, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/dnc_associative_recall --config.model.memory_size=256
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=dnc,task=associative_recall')
  train.dnc_protocol(config, num_steps=50_000)
  train.ntm_sizes(config)
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
