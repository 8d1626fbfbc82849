"""DNC on copy, beside the NTM: the NTM paper's task with the NTM's sizes.

The NTM paper's copy (8-bit vectors of length 1-20; evaluations at lengths
20, 40, 80 and 120) with a DNC of the NTM's sizes: an LSTM of 100 units,
memory 128 x 20, one write head and 4 read heads; deepmind/dnc's protocol
(batches of 16, RMSProp 1e-4, global-norm clip 50). `link_sparsity=K`
(K > 0) swaps the dense N x N link for the Methods' sparse link, K entries
per row (Extended Data Fig. 4 compares K = 8 with the dense link on copy).

RMSProp with momentum 0.9 (DAM's optimiser; `--config.optimizer.momentum=0.9`)
learned it in 4,000 batches in 3 of 3 seeds, where this protocol took 32,000
(one seed), and in 2 of 3 seeds copied 6x the training length given 256
slots (experiments/dnc).

Command:
  python -m memax.main --config=configs/dnc_copy.py --workdir=runs/dnc_copy
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/dnc_copy --config.model.memory_size=256
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `link_sparsity=K`; 'runlocal' shrinks sizes and steps for smoke
  tests; `seeds=N` sizes the sweep."""
  arg = common.parse_arg(arg, link_sparsity=0, runlocal=False, seeds=0)
  config = train.get_config('model=dnc,task=copy')
  train.dnc_protocol(config, num_steps=50_000)
  train.ntm_sizes(config)
  config.model.link_sparsity = arg.link_sparsity
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
