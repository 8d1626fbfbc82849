"""DAM on N-th farthest, taewonpark/DAM's run_nfar.py command.

Santoro et al. 2018's task (8 vectors of 16 dimensions; the label of the
(n+1)-th farthest from a reference; a fixed test set of 3,200 examples);
K = 6 blocks of 16 x 128, 4 read heads, an LSTM of 1,024, an output MLP of
4 ReLU layers of 256; batches of 1,600, Adam 1e-4, 300,000 iterations; the
memory refreshing loss at p_re = 0.3 on every step (squared error through
40 extra outputs). `model=dam1|dnc`, `p_re=P`: the comparison of
configs/dam.py.

`cpu`: the CPU-sized variant. The command's batch of 1,600 with a 1,024-
unit LSTM, 300,000 times, is far beyond a 2-core CPU; `cpu` keeps the
task, the memory (K, N, W, R), the MLP and the optimiser, and trains an
LSTM of 256 on batches of 64 for 50,000 iterations.

Command:
  python -m memax.main --config=configs/dam_nth_farthest.py:cpu \
      --workdir=runs/dam_nfar
"""

import ml_collections

from configs import dam
from configs import train

P_RE = 0.3


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `p_re=P`, `cpu`, `runlocal`, `seeds=N`."""
  config, arg = dam.get_config(
      'nth_farthest', arg, p_re=P_RE, num_blocks=6, controller_size=1024,
      memory_size=16, word_size=128, num_read_heads=4, batch_size=1600,
      learning_rate=1e-4, num_steps=300_000, optimizer='adam',
      readout_layers=(256, 256, 256, 256), cpu=False)
  if arg.cpu:
    config.model.controller_size = 256
    config.train.batch_size = 64
    config.train.num_steps = 50_000
  config.evals.batch_size = 400
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: p_re in {0, 0.3} x seeds 0..N-1 (3)."""
  dam.sweep(add, arg, P_RE)
