"""MANN (LRUA memory) on Omniglot one-shot classification.

Santoro et al. 2016, sec. 4.1 and Table 1: an LSTM controller of 200
units, memory 128 x 40, 4 read heads (and 4 write heads), episodes of 5
classes and 50 images with the previous label as input. Training protocol
of the seed implementation (`configs/omniglot.py`), and its MANN's
memory access (snowkylin/ntm): the heads share the least-used indicator
(`model.least_used='shared'`) and address the memory before the step's
write (`model.read_addressing='previous'`). The paper's order, as
tristandeleu/ntm-one-shot: `--config.model.read_addressing=written
--config.model.least_used=per_head` (the MANNCell's defaults), which
learned far more slowly here (experiments/omniglot/README.md).

Command:
  python -m memax.main --config=configs/mann_omniglot.py --workdir=runs/mann
Seeds (the sweep runner):
  python -m memax.sweep --config=configs/mann_omniglot.py:seeds=3 \
      --workdir=runs/mann_omniglot
15 classes with string labels (the paper's Table 2):
  python -m memax.main --config=configs/mann_omniglot.py:labels=string \
      --workdir=runs/mann_string
A larger memory at evaluation:
  python -m memax.evaluate --workdir=runs/mann --config.model.memory_size=256
Measured results: experiments/omniglot/README.md.
"""

import ml_collections

from configs import common
from configs import omniglot


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `labels=string`, `runlocal`, `seeds=N`."""
  return omniglot.get_config('mann', arg, least_used='shared',
                             read_addressing='previous')


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
