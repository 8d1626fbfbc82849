"""Shared bAbI experiment settings (Weston et al. 2015 data, v1.2).

`get_config(model, arg)` builds the common part (`arg` from `parse`); the
model configs (`memn2n_babi.py`, `kvmemnn_babi.py`, `memnn_babi.py`) set the
model and its paper's training schedule. Not launched directly.

The data path: `config.task.data_dir` (the release archive
`tasks_1-20_v1-2.tar.gz` or its extracted folder); empty means the
`MEMAX_BABI_DIR` environment variable, else `../shared/data/babi`.
"""

import ml_collections

from configs import common


def task(tasks: int, set_name: str) -> ml_collections.ConfigDict:
  """The bAbI task fragment. `tasks=0` trains jointly on all 20 tasks."""
  c = ml_collections.ConfigDict()
  c.name = 'babi'
  c.data_dir = ''                # archive or folder; '' = default location.
  c.set_name = set_name          # 'en' (1k) or 'en-10k'.
  c.tasks = tasks                # 1..20, or 0 = joint (all 20 tasks).
  c.memory_size = 50             # most recent sentences kept (MemN2N 4.2).
  c.val_fraction = 0.1           # held out of train, per task (MemN2N 4.2).
  c.split_seed = 0               # the held-out split (not the model seed).
  c.allow_missing = False        # en-10k: skip task 3's missing train file.
  c.strict_counts = True         # fail on a file without the release's
                                 # question count (1000; 10k train: 10000);
                                 # False: warn and train on it.
  c.loss_reduction = 'sum'       # 'sum' over the batch, as the papers.
  return c


def parse(arg: str | None, *, tasks: int = 1,
          **extra) -> ml_collections.ConfigDict:
  """`tasks=<0..20>,set=<en|en-10k>,runlocal`; tasks=0 means joint.

  `runlocal` without `tasks=` takes task 1 (a smoke test); a value written in
  `arg` is always kept. `each_task` (task 1's config; the sweep trains one
  model per task) and `seeds=N` (the sweep's seeds) shape the config file's
  sweep (`sweep` below).

  Args:
    arg: the config argument string.
    tasks: the default of `tasks`.
    **extra: further arguments a model config accepts, with their defaults.

  Returns:
    The parsed arguments.
  """
  parsed = common.parse_arg(arg, tasks=tasks, set='en', runlocal=False,
                            each_task=False, seeds=0, **extra)
  if parsed.each_task:
    if 'tasks' in common.given(arg):
      raise ValueError(f'Config argument {arg!r}: each_task trains one model '
                       'per task (1..20); it takes no tasks=.')
    parsed.tasks = 1
  if parsed.runlocal and 'tasks' not in common.given(arg):
    parsed.tasks = 1
  return parsed


def sweep(get_config, add, arg: str | None) -> None:
  """The sweep of a bAbI config file (`memax.sweep`), as its studies ran.

  Joint or one task: seeds 0..N-1 (`seeds=N`; 10 by default). With
  `each_task`: one model per task, tasks 1..20 for each of N seeds (1 by
  default); each task's trial sets every field whose value `tasks=<t>`
  changes (the task, and what depends on it, e.g. MemNN's lookups).

  Args:
    get_config: the config file's `get_config`.
    add: the sweep's `add(**overrides)`.
    arg: the config argument.
  """
  if not common.arg_value(arg, 'each_task', False):
    common.add_seeds(add, arg, 10)
    return
  base = get_config(arg)
  rest = common.without(arg, 'each_task', 'seeds')
  per_task = [{'task.tasks': t, **common.config_diff(
      base, get_config(','.join(filter(None, [rest, f'tasks={t}']))))}
              for t in range(1, 21)]
  for seed in common.seeds(arg, 1):
    for overrides in per_task:
      add(**overrides, seed=seed)


def get_config(model: ml_collections.ConfigDict, arg: ml_collections.ConfigDict
               ) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = model
  config.task = task(arg.tasks, arg.set)
  if arg.set == 'en-10k' and arg.tasks in (0, 3):
    # The shared copy of en-10k lacks qa3's train file; the official archive
    # has it. With allow_missing, task 3 is tested but not trained.
    config.task.allow_missing = True

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'sgd'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.0
  config.optimizer.eps = 1e-8
  # Halved every 25 epochs (MemN2N, sec. 4.2); no l2.
  common.add_schedule_fields(config.optimizer, schedule='step',
                             decay_every_epochs=25)
  config.optimizer.grad_clip_value = 0.0
  config.optimizer.grad_clip_norm = 40.0
  config.optimizer.grad_clip_norm_per_param = 0.0  # each array's norm; 0 = off.
  config.optimizer.grad_clip_stacked = ''  # e.g. 'embeddings+temporal': per
                                           # leading index, clipped together.

  config.train = ml_collections.ConfigDict()
  config.train.num_epochs = 100            # > 0: count in epochs.
  config.train.num_steps = 1               # unused while num_epochs > 0.
  config.train.batch_size = 32
  config.train.steps_per_call = 1          # set to one epoch by num_epochs.
  config.train.num_devices = 1             # data-parallel over devices
                                           # (per process; batch_size is
                                           # the global batch).
  config.train.log_every = 1
  config.train.eval_every = 1
  config.train.ckpt_every = 1
  config.train.log_every_epochs = 1
  config.train.eval_every_epochs = 5
  config.train.ckpt_every_epochs = 10
  config.train.max_checkpoints = 2
  config.train.stop_metric = ''
  config.train.stop_below = 0.0
  common.add_train_checks(config.train)
  config.train.linear_start_epochs = 0    # MemN2N's linear start (sec. 4.2):
                                          # n epochs, -1 = until the
                                          # validation loss stops decreasing.

  config.evals = ml_collections.ConfigDict()
  config.evals.batch_size = 500
  config.evals.periodic_splits = ('valid',)
  config.evals.splits = 'all'              # 'train', 'valid', 'test'.
  config.evals.plot = True
  config.evals.plot_examples = (0, 1)      # test questions to plot.

  common.add_launcher_fields(config)
  return config


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Tiny settings for smoke tests: 2 epochs, small sizes.

  Only sizes and steps: the task, set and whatever else the config argument
  chose are kept (`parse` picks task 1 when `runlocal` comes without `tasks`).

  Args:
    config: a bAbI config from `get_config`.

  Returns:
    `config`, changed in place.
  """
  config.train.num_epochs = 2
  config.train.batch_size = 64
  config.train.eval_every_epochs = 1
  config.train.ckpt_every_epochs = 1
  config.evals.plot_examples = (0,)
  if 'embedding_size' in config.model:
    config.model.embedding_size = 8
  if 'feature_size' in config.model:
    config.model.feature_size = 8
  return config
