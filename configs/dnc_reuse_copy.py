"""DNC freeing and reusing memory: the DNC paper's Extended Data Fig. 1.

"A series of 10 random sequences was presented as input. After each input
sequence was presented, it was recreated as output. [...] We used a DNC with
a feedforward controller and a memory of 10 locations, too few to store all
50 input vectors with no overwriting." (Graves et al. 2016.) The copy task
with `num_sequences=10`: each sequence of 8-bit vectors (length 1-5; the
figure's 50 vectors are 10 of length 5), its delimiter, its copy, then the
next sequence. The paper gives no other size; ours: a feed-forward
controller of 64 tanh units, memory 10 x 16, 2 read heads, deepmind/dnc's
protocol (batches of 16, RMSProp 1e-4, global-norm clip 50).

Evaluations: series of 10 sequences of length 5 (the figure) and series of
20 (100 vectors in 10 slots, twice the training series).

Command:
  python -m memax.main --config=configs/dnc_reuse_copy.py --workdir=runs/dnc_reuse_copy
"""

import ml_collections

from configs import common
from configs import train


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'runlocal' shrinks sizes and steps for smoke tests; `seeds=N`
  sizes the sweep."""
  arg = common.parse_arg(arg, runlocal=False, seeds=0)
  config = train.get_config('model=dnc,task=copy')
  train.dnc_protocol(config, num_steps=100_000)
  config.model.controller = 'feedforward'
  config.model.controller_size = 64
  config.model.memory_size = 10
  config.model.word_size = 16
  config.model.num_read_heads = 2
  config.task.num_sequences = 10
  config.task.max_length = 5
  config.task.eval_lengths = (5,)
  config.task.eval_sequences = (20,)
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  if arg.runlocal:
    train.runlocal(config)
    config.task.num_sequences = 2
    config.task.eval_sequences = (3,)
  return config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
