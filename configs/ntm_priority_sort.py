"""NTM on priority sort (Graves et al. 2014, sec. 4.5).

20 8-bit vectors with priorities in [-1, 1]; the target is the 16 with the
highest priority, sorted. The paper's LSTM-controlled NTM used 5 heads and a
learning rate of 3e-5; here 5 read and 5 write heads. Its controller was
"2 x 100"; this config keeps one layer of 100 (our earlier runs), and
`--config.model.controller_layers=2` gives the paper's size.

Command:
  python -m memax.main --config=configs/ntm_priority_sort.py --workdir=runs/ntm_priority_sort
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_priority_sort --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests."""
  arg = common.parse_arg(arg, runlocal=False)
  config = train.get_config('model=ntm,task=priority_sort')
  config.model.num_read_heads = 5
  config.model.num_write_heads = 5
  config.optimizer.learning_rate = 3e-5
  config.train.num_steps = 30_000
  return train.runlocal(config) if arg.runlocal else config
