"""DAM's comparison (Park, Choi & Lee 2021): the shared setup.

`configs/dam_<task>.py` build on it, one file per command of
taewonpark/DAM's README, with the values of that command. Each trains one
of three models under the task's recipe (`model=`):

- `dam`: DAM with the command's K blocks (the default);
- `dam1`: DAM with one block, the DNC's content-based memory unit ("DNC
  without link"), the baseline that isolates the blocks;
- `dnc`: the DNC (temporal link and read modes) with one block's memory,
  as the code's `--dam=False` builds it: softplus strengths, controller
  and output clipped to 20, a linear output (no layer norm, dropout or
  output layers, which are DAM's).

and the memory refreshing loss at the task's `p_re` or another (`p_re=0`
turns it off). The sweep of each file (`memax.sweep`) is p_re in {0, the
task's} x seeds, one study per model. Shared training settings of the
code's train.py: TensorFlow 1's RMSProp with momentum 0.9 (decay 0.9,
epsilon 1e-10, its mean square starting at 1: `optimizer.initial_scale`),
gradients clipped to a global norm of 50.

Where memax differs from the code (read in its source):
- the losses' scale: memax's task losses are normalised by their own count
  (`bit_loss` per sequence, in bits; the categorical losses per target
  step), the code's by the batch's `B x T` steps (in nats), so memax's are
  larger by about T / ln 2 (copy, associative recall), 8 (N-th farthest),
  5 (convex hull) or 100 (bAbI). RMSProp and Adam cancel a constant scale
  but the global-norm clip at 50 does not: it binds more often here. The
  ratio of the task and refresh terms is the code's (memax.tasks.refresh);
- initialisers: flax's defaults (LeCun normal) where the code has Xavier
  (interface, output MLP, bAbI embedding) or sonnet's truncated normal
  (LSTM, output layer);
- the content addressing's floors: norms `sqrt(|x|^2 + eps^2)` (the code
  `sqrt(|x|^2 + 1e-6)`), and no usage floor in the allocation (the code
  `1e-6 + (1 - 1e-6) u`);
- dropout only in training: the code's N-th farthest and convex hull
  evaluate with dropout still on (its bAbI evaluation does not);
- the tasks' encodings: see each config file.
"""

import ml_collections

from configs import common
from configs import train

MODELS = ('dam', 'dam1', 'dnc')


def get_config(task: str, arg: str | None, *, p_re: float, num_blocks: int,
               controller_size: int, memory_size: int, word_size: int,
               num_read_heads: int, batch_size: int, learning_rate: float,
               num_steps: int, optimizer: str = 'rmsprop',
               readout_layers: tuple[int, ...] = (), **extra_args
               ) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
  """`(config, arg)` of `configs/dam_<task>.py` (its values as arguments).

  `arg`: `model=dam|dam1|dnc`, `p_re=P`, `runlocal`, `seeds=N`, and the
  file's own keys (`extra_args`, with their defaults), parsed and returned
  for the file to apply. `runlocal` is left to the file (last).
  """
  arg = common.parse_arg(arg, model='dam', p_re=-1.0, runlocal=False,
                         seeds=0, **extra_args)
  if arg.model not in MODELS:
    raise ValueError(f'The config argument model must be one of {MODELS}, '
                     f'got {arg.model!r}.')
  name = 'dnc' if arg.model == 'dnc' else 'dam'
  config = train.get_config(f'model={name},task={task}')
  if name == 'dam':
    config.model.num_blocks = 1 if arg.model == 'dam1' else num_blocks
    config.model.readout_layers = tuple(readout_layers)
  else:
    config.model.strength = 'softplus'
    config.model.output_clip = 20.0
  config.model.update(controller_size=controller_size,
                      memory_size=memory_size, word_size=word_size,
                      num_read_heads=num_read_heads, controller_clip=20.0)
  config.train.refresh_probability = p_re if arg.p_re < 0 else arg.p_re
  config.optimizer.name = optimizer
  config.optimizer.learning_rate = learning_rate
  if optimizer == 'rmsprop':  # TensorFlow 1's RMSProp, as the code's.
    config.optimizer.momentum = 0.9
    config.optimizer.decay = 0.9
    config.optimizer.eps = 1e-10
    with config.unlocked():
      config.optimizer.initial_scale = 1.0
  else:  # TensorFlow 1's Adam: epsilon 1e-8.
    config.optimizer.eps = 1e-8
  config.optimizer.grad_clip_value = 0.0
  config.optimizer.grad_clip_norm = 50.0
  config.train.batch_size = batch_size
  config.train.num_steps = num_steps
  config.train.steps_per_call = 50
  config.train.log_every = 500
  config.train.eval_every = 1000
  config.train.ckpt_every = 1000
  return config, arg


def sweep(add, arg: str | None, p_re: float) -> None:
  """p_re in {0, the task's} (or the argument's), x seeds 0..N-1."""
  given = common.arg_value(arg, 'p_re', -1.0)
  for seed in common.seeds(arg, 3):
    for p in (0.0, p_re if given < 0 else given):
      add(**{'train.refresh_probability': p}, seed=seed)
