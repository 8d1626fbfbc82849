"""DAM on representation recall, taewonpark/DAM's command (Park et al. 2021).

8 stored items of 64 bits (8 segments of 8), then 8-16 queries, each an
item with half its segments hidden, whose hidden bits the model emits
(`memax.tasks.representation_recall`); K = 8 blocks of 32 x 32, one read
head, an LSTM of 128; batches of 16, RMSProp 1e-4 (momentum 0.9), 20,000
iterations. The task has no refreshable steps, so the code trains it
without the memory refreshing loss, and so does this config.
`model=dam1|dnc`: the comparison of configs/dam.py.

Command:
  python -m memax.main --config=configs/dam_representation_recall.py \
      --workdir=runs/dam_rr
"""

import ml_collections

from configs import common
from configs import dam
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `model=dam|dam1|dnc`, `runlocal`, `seeds=N`."""
  config, arg = dam.get_config(
      'representation_recall', arg, p_re=0.0, num_blocks=8,
      controller_size=128, memory_size=32, word_size=32, num_read_heads=1,
      batch_size=16, learning_rate=1e-4, num_steps=20_000)
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (3); no refreshing loss."""
  common.add_seeds(add, arg, 3)
