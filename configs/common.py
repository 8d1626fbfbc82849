"""Parsing of the `get_config(arg)` string, after big_vision's `parse_arg`,
and the config fields every launcher's config shares.

`get_config('model=ntm,task=copy,runlocal')` -> a ConfigDict with `model='ntm'`,
`task='copy'`, `runlocal=True`. Values take the type of their default.
"""

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses `k1=v1,k2,k3=v3` with types taken from `defaults`.

  A bare key means `True`. Unknown keys raise ValueError naming them.
  """
  result = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    key = key.strip()
    if key not in defaults:
      raise ValueError(f'Unknown config argument {key!r} in {arg!r}; expected '
                       f'one of {sorted(defaults)}.')
    default = defaults[key]
    if isinstance(default, bool):
      result[key] = (not value) or value.lower() in ('1', 'true', 'yes')
    elif isinstance(default, int):
      result[key] = int(value)
    elif isinstance(default, float):
      result[key] = float(value)
    else:
      result[key] = value
  return result


def _items(arg: str | None) -> list[tuple[str, str]]:
  """`[(key, item)]` of the argument string, e.g. `('tasks', 'tasks=0')`."""
  return [(item.partition('=')[0].strip(), item)
          for item in filter(None, (arg or '').split(','))]


def given(arg: str | None) -> frozenset[str]:
  """The keys written in the argument string, e.g. {'tasks', 'runlocal'}."""
  return frozenset(key for key, _ in _items(arg))


def arg_value(arg: str | None, key: str, default):
  """One key of the argument string, typed as `default` (absent: it)."""
  return parse_arg(','.join(item for k, item in _items(arg) if k == key),
                   **{key: default})[key]


def without(arg: str | None, *keys: str) -> str:
  """The argument string less the items of `keys`."""
  return ','.join(item for k, item in _items(arg) if k not in keys)


def seeds(arg: str | None, default: int) -> range:
  """A sweep's seeds: 0..N-1, N = the argument's `seeds=N` or `default`."""
  return range(arg_value(arg, 'seeds', 0) or default)


def add_seeds(add, arg: str | None, default: int) -> None:
  """A sweep over seeds alone: `add(seed=s)` for each of `seeds`."""
  for seed in seeds(arg, default):
    add(seed=seed)


def config_diff(base: ml_collections.ConfigDict,
                other: ml_collections.ConfigDict) -> dict[str, object]:
  """`{'a.b': value}`: the leaves of `other` that differ from `base`'s."""
  out = {}

  def walk(a, b, prefix):
    for key in b:
      value = b[key]
      if isinstance(value, ml_collections.ConfigDict):
        walk(a[key], value, f'{prefix}{key}.')
      elif a[key] != value:
        out[f'{prefix}{key}'] = value

  walk(base, other, '')
  return out


def add_train_checks(train: ml_collections.ConfigDict) -> None:
  """The training fields of every recipe: the best checkpoint, the
  divergence check and the loss terms' weights (added to `train`)."""
  # The best checkpoint by '<split>/<metric>' of the periodic evaluation is
  # kept in checkpoint_best/; 'auto' is valid/error for datasets, else
  # train/<stop_metric> or train/cost_bits; 'off' keeps none.
  train.best_metric = 'auto'
  train.best_mode = 'min'                 # 'min' or 'max' is best.
  # Stop when a step's loss exceeds this times the larger of the first loss
  # and the running median of the losses; 0 turns the check off.
  train.divergence_factor = 100.0
  # Weight of each loss term: 'task' (the task's loss) and the model's named
  # losses (e.g. MemNN's 'margin'); a term without a weight counts once.
  train.loss_weights = ml_collections.ConfigDict({'task': 1.0})


def add_schedule_fields(optimizer: ml_collections.ConfigDict, *,
                        schedule: str = 'constant',
                        decay_every_epochs: int = 0,
                        decay_start_epochs: int = 0,
                        decay_factor: float = 0.5,
                        l2: float = 0.0) -> None:
  """The rate schedule and weight decay of every recipe (added to
  `optimizer`), so that any config takes them from the command line.

  `schedule` is 'constant' or 'step': the rate times `decay_factor` every
  `decay_every_epochs` epochs, counted from `decay_start_epochs` (the rate is
  held until then); a synthetic task's epoch is one step. `l2` is the
  coefficient of the loss term 0.5 ||params||^2. The defaults are those
  `memax.training.optim` assumes for a config without the fields.
  """
  optimizer.schedule = schedule
  optimizer.decay_every_epochs = decay_every_epochs
  optimizer.decay_start_epochs = decay_start_epochs
  optimizer.decay_factor = decay_factor
  optimizer.l2 = l2


def add_launcher_fields(config: ml_collections.ConfigDict) -> None:
  """The fields of every recipe past the model, task, optimiser, training
  and evaluations: the population and the launcher's switches."""
  # A population: K models trained by one compiled, vmapped step; members
  # are the product of the seeds (e.g. '0,1,2,3' or '0:16'; '' = seed) and
  # of each 'field=v1,v2' entry of the sweep (';'-separated), over the
  # optimiser's hyper-parameters and train.loss_weights.*.
  config.population = ml_collections.ConfigDict()
  config.population.seeds = ''
  config.population.sweep = ''
  config.population.plot_member = 0       # whose plots the run writes.
  # Members vmapped together: 0 = all in one vmap; k > 0 = k at a time
  # under a lax.map (the same numbers; for steps already compute-bound).
  config.population.vmap_size = 0

  config.tensorboard = True
  # The launchers' persistent XLA compilation cache: 'auto' (the
  # MEMAX_COMPILATION_CACHE variable, else ~/.cache/memax/jax), a
  # directory, or 'off'.
  config.compilation_cache = 'auto'
  # False: XLA's CPU backend compiles without its (LLVM) optimisations, a
  # workaround for compiles of more than 10 minutes on some programs
  # (memax.training.compiler); GPU and TPU runs are left alone.
  config.xla_cpu_optimize = True
  # True: random numbers drawn on the CPU without JAX's loop (the same
  # numbers, sooner; memax.training.cpu_random); False: JAX's lowering, for
  # programs that compile slowly with it.
  config.cpu_random_unrolled = True
