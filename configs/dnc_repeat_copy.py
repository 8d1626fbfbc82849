"""DNC on repeat copy: deepmind/dnc's configuration, or the NTM paper's task.

`setting=deepmind` (the default) is deepmind/dnc's train.py: an LSTM of 64
units, memory 16 x 16, 4 read heads and 1 write head, strengths by softplus,
4-bit patterns of length 1-2 repeated 1-2 times (the count shown as
repeats / 10), batches of 16, RMSProp 1e-4, gradients clipped to a global
norm of 50, controller output and state clipped to 20, 100,000 batches.
Its encoding is memax's repeat copy: a start flag at step 0, the pattern,
the count on its own channel, then the copies and an end marker in an extra
target channel, with the loss on the copies and the marker. Its cost sums
the bits over time and averages over the batch; memax's is the same sum in
bits (a constant factor, ln 2). Evaluation goes beyond the training range:
length 2 x 2 repeats (the training maximum), 4 x 4 and 8 x 8.

`setting=ntm`: the NTM paper's repeat copy (8-bit patterns of length 1-10,
1-10 repeats, evaluations up to 20 x 20) with a DNC of the NTM's sizes
(LSTM 100, memory 128 x 20) and 4 read heads, deepmind's protocol.

The deepmind setting sets `cpu_random_unrolled=False`: with memax's
unrolled threefry (`memax.training.cpu_random`), XLA's CPU compiler takes
more than 10 minutes on its train chunk (9-step sequences sampled inside
it); with JAX's own lowering it compiles in seconds, and runs with XLA's
optimisations on (docs/benchmarks.md, "XLA CPU: a slow compile at small
sequence lengths").

Command:
  python -m memax.main --config=configs/dnc_repeat_copy.py --workdir=runs/dnc_repeat_copy
Evaluate (longer sequences, bigger memory) after training:
  python -m memax.evaluate --workdir=runs/dnc_repeat_copy --config.model.memory_size=64
"""

import ml_collections

from configs import common
from configs import train

SETTINGS = ('deepmind', 'ntm')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: `setting=deepmind|ntm`; 'runlocal' shrinks sizes and steps for
  smoke tests; `seeds=N` sizes the sweep."""
  arg = common.parse_arg(arg, setting='deepmind', runlocal=False, seeds=0)
  if arg.setting not in SETTINGS:
    raise ValueError(f'configs/dnc_repeat_copy.py: setting={arg.setting!r}; '
                     f'expected one of {SETTINGS}.')
  config = train.get_config('model=dnc,task=repeat_copy')
  train.dnc_protocol(config, num_steps=100_000)
  config.train.stop_metric = 'bit_errors'
  config.train.stop_below = 0.01
  if arg.setting == 'deepmind':
    config.model.strength = 'softplus'
    config.task.num_bits = 4
    config.task.max_length = 2
    config.task.max_repeats = 2
    config.task.repeat_normaliser = 10
    config.task.eval_settings = ((2, 2), (4, 4), (8, 8))
    # XLA's CPU compiler takes more than 10 minutes on this train chunk
    # with the unrolled threefry, seconds with JAX's lowering.
    config.cpu_random_unrolled = False
  else:
    train.ntm_sizes(config)
  return train.runlocal(config) if arg.runlocal else config


def sweep(add, arg: str | None = None) -> None:
  """`memax.sweep`'s trials: seeds 0..N-1 (`seeds=N`, default 3)."""
  common.add_seeds(add, arg, 3)
