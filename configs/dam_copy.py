"""DAM on copy, taewonpark/DAM's copy command (Park, Choi & Lee 2021).

Copy of 8-bit vectors of lengths 8-32 (memax's copy: the same distribution;
the code's encoding has 10 input and 10 output channels, an input-flag
row before the sequence and a delimiter row after it, and sums its losses
over all 10 channels, the flags' included; memax's has 9 inputs, the
delimiter alone, and 8 outputs); K = 2 blocks of 64 x 36, one read
head, an LSTM of 128; batches of 16, RMSProp 1e-4 (momentum 0.9), 10,000
iterations; the memory refreshing loss at p_re = 0.1 on the data rows.
Evaluations: the training lengths and lengths 64 (twice the longest).
`model=dam1` (one block) or `model=dnc`, `p_re=0` (the loss off): the
comparison of configs/dam.py.

Command:
  python -m memax.main --config=configs/dam_copy.py --workdir=runs/dam_copy
The comparison (p_re 0 and 0.1, three seeds each), one study per model:
  python -m memax.sweep --config=configs/dam_copy.py:model=dam1 \
      --workdir=runs/dam1_copy
"""

import ml_collections

from configs import dam
from configs import train

P_RE = 0.1


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `p_re=P`, `runlocal`, `seeds=N`."""
  config, arg = dam.get_config(
      'copy', arg, p_re=P_RE, num_blocks=2, controller_size=128,
      memory_size=64, word_size=36, num_read_heads=1, batch_size=16,
      learning_rate=1e-4, num_steps=10_000)
  config.task.update(num_bits=8, min_length=8, max_length=32,
                     eval_lengths=(32, 64))
  if arg.runlocal:
    train.runlocal(config)
    config.task.min_length = 1
  return config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: p_re in {0, 0.1} x seeds 0..N-1 (3)."""
  dam.sweep(add, arg, P_RE)
