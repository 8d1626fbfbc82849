"""DAM on associative recall, taewonpark/DAM's command (Park et al. 2021).

2-8 items of 3 rows of 8 bits (memax's associative recall: the same
distribution, each item opened by a delimiter row, the query between two
delimiters, the target the item after the queried one; the code's
outputs have 10 channels, 8 bits and the 2 flags, memax's the 8 bits);
K = 2 blocks of
32 x 36, one read head, an LSTM of 128; batches of 16, RMSProp 1e-4
(momentum 0.9), 10,000 iterations; the memory refreshing loss at p_re =
0.1 on the stored items' rows. Evaluations: 8 items and 12.
`model=dam1|dnc`, `p_re=P`: the comparison of configs/dam.py.

Command:
  python -m memax.main --config=configs/dam_associative_recall.py \
      --workdir=runs/dam_ar
"""

import ml_collections

from configs import dam
from configs import train

P_RE = 0.1


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `p_re=P`, `runlocal`, `seeds=N`."""
  config, arg = dam.get_config(
      'associative_recall', arg, p_re=P_RE, num_blocks=2,
      controller_size=128, memory_size=32, word_size=36, num_read_heads=1,
      batch_size=16, learning_rate=1e-4, num_steps=10_000)
  config.task.update(num_bits=8, item_length=3, min_items=2, max_items=8,
                     eval_items=(8, 12))
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: p_re in {0, 0.1} x seeds 0..N-1 (3)."""
  dam.sweep(add, arg, P_RE)
