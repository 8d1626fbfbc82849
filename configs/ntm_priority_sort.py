"""NTM on priority sort (Graves et al. 2014, sec. 4.5).

20 8-bit vectors with priorities in [-1, 1]; the target is the 16 with the
highest priority, sorted. The paper's LSTM-controlled NTM used 5 heads and a
learning rate of 3e-5; here 5 read and 5 write heads. Its controller was
"2 x 100"; this config keeps one layer of 100 (our earlier runs), and
`--config.model.controller_layers=2` gives the paper's size.

`controller=feedforward` is the paper's feedforward NTM of its Table 1:
512 units and 8 heads, read here as 8 read and 8 write heads (470,504
parameters; the paper 508,305), 1,000,000 steps allowed. Its sweep
(`memax.sweep`) is seeds x learning rate (3e-5, the paper's, and 1e-4), a
population: `--executor=population`; `lr=<rate>` fixes the rate (the
sweep is then over seeds only).

Command:
  python -m memax.main --config=configs/ntm_priority_sort.py --workdir=runs/ntm_priority_sort
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/ntm_priority_sort --config.model.memory_size=256
Measured results: experiments/ntm_algorithmic/README.md.
"""

import ml_collections

from configs import common
from configs import train


CONTROLLERS = ('lstm', 'feedforward')
LEARNING_RATES = (3e-5, 1e-4)   # the feedforward sweep's.


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `controller=<lstm|feedforward>`, `lr=<rate>` (default: 3e-5),
  `runlocal` (smoke tests), `seeds=N` (the sweep's)."""
  arg = common.parse_arg(arg, controller='lstm', lr=0.0, runlocal=False,
                         seeds=0)
  if arg.controller not in CONTROLLERS:
    raise ValueError(f'Unknown config argument controller={arg.controller!r};'
                     f' expected one of {CONTROLLERS}.')
  config = train.get_config('model=ntm,task=priority_sort')
  config.model.num_read_heads = 5
  config.model.num_write_heads = 5
  config.optimizer.learning_rate = 3e-5
  config.train.num_steps = 30_000
  if arg.controller == 'feedforward':
    config.model.controller = 'feedforward'
    config.model.controller_size = 512
    config.model.num_read_heads = 8
    config.model.num_write_heads = 8
    config.train.num_steps = 1_000_000
  if arg.lr > 0:
    config.optimizer.learning_rate = arg.lr
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """Seeds 0..N-1 (`seeds=N`; 1, or 2 with the feedforward controller, each
  at both learning rates unless `lr=` fixes it)."""
  if (common.arg_value(arg, 'controller', 'lstm') == 'feedforward'
      and not common.arg_value(arg, 'lr', 0.0)):
    for seed in common.seeds(arg, 2):
      for lr in LEARNING_RATES:
        add(**{'optimizer.learning_rate': lr, 'seed': seed})
  else:
    common.add_seeds(add, arg, 1)
