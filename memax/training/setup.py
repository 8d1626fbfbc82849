"""One setup path: config -> model, task, optimiser, state, step, evaluator.

`setup(config)` resolves the config (epochs into steps: the config that runs
is the config that is saved), checks every field it can before anything is
compiled or written, and returns a `Setup` that training, `memax.evaluate`,
the benchmarks and the tests all use:

  s = setup.setup(config)
  state = s.init_state()
  chunk = s.chunk()                        # jitted steps_per_call steps
  key, data = s.chunk_inputs()             # on the run's devices
  state, metrics, losses = chunk(state, key, data)
  s.evaluator.periodic(state)
"""

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from memax import models
from memax import tasks
from memax.tasks import refresh
from memax.training import compiler
from memax.training import cpu_random
from memax.training import distributed
from memax.training import evaluate as evaluate_lib
from memax.training import optim
from memax.training import population
from memax.training import sharding
from memax.training import step as step_lib
from memax.training import workdir as workdir_lib
from memax.types import PRNGKey

EPOCH_FIELDS = ('log_every', 'eval_every', 'ckpt_every')
DIVERGENCE_FACTOR = 100.0


class RunKeys(NamedTuple):
  """The keys of a run with `config.seed`: initialisation, data, evaluation."""

  init: PRNGKey
  train: PRNGKey
  eval: PRNGKey


def run_keys(seed: int) -> RunKeys:
  """`RunKeys` of a run with `config.seed = seed`.

  `memax.evaluate` derives its evaluation key here too, so that the run's
  own seed reproduces training's final evaluation.
  """
  return RunKeys(*jax.random.split(jax.random.key(seed), 3))


def steps_per_epoch(task: Any, batch_size: int) -> int | None:
  """Train steps per pass over a finite dataset; None for a generator."""
  if task.num_examples is None:
    return None
  return task.steps_per_epoch(batch_size)


def resolve(config: ml_collections.ConfigDict, task: Any
            ) -> ml_collections.ConfigDict:
  """The config that runs: `config.train.num_epochs` turned into steps.

  With `num_epochs > 0` (finite datasets), one jitted call runs one epoch
  (`steps_per_call = steps_per_epoch`), `num_steps = num_epochs *
  steps_per_epoch`, and `log_every`, `eval_every` and `ckpt_every` are read
  as epochs (`<field>_epochs`, default 1). Returns a new config; the input is
  unchanged. Without `num_epochs` the step fields are used as they are.
  """
  resolved = ml_collections.ConfigDict(config.to_dict())
  epochs = config.train.get('num_epochs', 0)
  if not epochs:
    return resolved
  spe = steps_per_epoch(task, config.train.batch_size)
  if spe is None:
    raise ValueError('config.train.num_epochs is only for finite datasets; '
                     f'the task {task.name!r} is generated on the fly: set '
                     'config.train.num_epochs=0 and use num_steps.')
  if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
    raise ValueError('config.train.num_epochs must be a positive integer (or '
                     f'0 to count steps), got {epochs!r}.')
  train = resolved.train
  train.steps_per_call = spe
  train.num_steps = epochs * spe
  for field in EPOCH_FIELDS:
    every = train.get(f'{field}_epochs', 1)
    if not isinstance(every, int) or every < 1:
      raise ValueError(f'config.train.{field}_epochs must be a positive '
                       f'integer, got {every!r}.')
    train[field] = every * spe
  return resolved


def check_train_config(config: ml_collections.ConfigDict) -> None:
  """Checks the step fields of `config.train`; errors name the field."""
  train = config.train
  for field in ('num_steps', 'batch_size', 'log_every', 'eval_every',
                'ckpt_every', 'steps_per_call'):
    value = train[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f'config.train.{field} must be a positive integer, got '
                       f'{value!r}.')
  for field in ('num_steps', 'log_every', 'eval_every', 'ckpt_every'):
    if train[field] % train.steps_per_call:
      raise ValueError(
          f'config.train.{field} ({train[field]}) must be a multiple of '
          f'config.train.steps_per_call ({train.steps_per_call}).')
  keep = train.get('max_checkpoints', 3)
  if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
    raise ValueError('config.train.max_checkpoints must be a positive '
                     f'integer, got {keep!r}.')
  factor = train.get('divergence_factor', DIVERGENCE_FACTOR)
  if not optim.is_number(factor) or factor < 0 or 0 < factor <= 1:
    raise ValueError('config.train.divergence_factor must be a finite number '
                     f'> 1 (or 0 to turn the check off), got {factor!r}.')
  mode = train.get('best_mode', 'min')
  if mode not in ('min', 'max'):
    raise ValueError("config.train.best_mode must be 'min' or 'max', got "
                     f'{mode!r}.')
  epochs = train.get('linear_start_epochs', 0)
  if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < -1:
    raise ValueError('config.train.linear_start_epochs must be a '
                     'non-negative integer, or -1 for "until the validation '
                     f'loss stops decreasing", got {epochs!r}.')


def build_model(config: ml_collections.ConfigDict, task: Any, *,
                return_aux: bool = False) -> Any:
  """The model of `config.model` for `task` (its output and input sizes)."""
  return models.build(config.model, task.output_size, return_aux=return_aux,
                      input_size=getattr(task, 'input_size', None))


def loss_weights(config: ml_collections.ConfigDict) -> dict[str, float]:
  """`{term: weight}` from `config.train.loss_weights` and the l2 factor.

  'task' (the task's loss) defaults to 1; a model's named loss without a
  weight counts once; 'l2' is `config.optimizer.l2` (present when non-zero).
  """
  given = config.train.get('loss_weights', ml_collections.ConfigDict())
  weights = {'task': 1.0}
  for name, value in dict(given).items():
    if not optim.is_number(value):
      raise ValueError(f'config.train.loss_weights.{name} must be a finite '
                       f'number, got {value!r}.')
    weights[name] = float(value)
  l2 = config.optimizer.get('l2', 0.0)
  if l2:
    weights['l2'] = float(l2)
  return weights


def linear_until(config: ml_collections.ConfigDict, spe: int | None) -> int:
  """`LinearStart.until` for `config.train.linear_start_epochs`."""
  epochs = config.train.get('linear_start_epochs', 0)
  if epochs == -1:
    return step_lib.UNTIL_PLATEAU
  return epochs * (spe or 1)


@dataclasses.dataclass
class Setup:
  """What a run is built from, checked before any file is written.

  Attributes:
    config: the config that runs (epochs resolved into steps); it is the
      one `config.json` records.
    model: the flax model.
    task: the task.
    optimizer: the optax transformation (hyper-parameters injected).
    steps_per_epoch: train steps per epoch (None for generated tasks).
    keys: the run's `RunKeys`.
    data: the task's device data (None for generated tasks), the argument
      of every jitted step and evaluation.
    init: the traced initialisation, `init.lower().compile()(keys.init,
      data)` (see `init_state`).
    abstract_state: the `TrainState`'s shapes and dtypes.
    train_step: the pure `train_step(state, key, data)`.
    evaluator: the periodic `Evaluator`.
    best: `(split, metric)` that picks the best checkpoint, or None.
    linear_start: the model runs linear start (`train.linear_start_epochs`).
    replicated: the sharding that replicates over the run's devices (data
      parallel, or a population split over devices), or None.
    members: a population's members (`{field: value}` each, with 'seed'),
      or None for a single run. The state, the keys and the metrics then
      have a leading member axis.
    member_configs: the single-run config of each member.
    member_sharding: a population's states and keys split over devices on
      their member axis (`config.train.num_devices` > 1), or None.
  """

  config: ml_collections.ConfigDict
  model: Any
  task: Any
  optimizer: optax.GradientTransformation
  steps_per_epoch: int | None
  keys: RunKeys
  data: Any
  init: Any
  abstract_state: step_lib.TrainState
  train_step: Callable
  evaluator: evaluate_lib.Evaluator
  best: tuple[str, str] | None
  linear_start: bool
  replicated: Any = None
  members: list[dict[str, Any]] | None = None
  member_configs: list[ml_collections.ConfigDict] | None = None
  member_sharding: Any = None

  def init_state(self) -> step_lib.TrainState:
    """A fresh train state (compiles the traced initialisation)."""
    state = self.init.lower().compile()(self.keys.init, self.data)
    return self.place(state)

  @property
  def state_sharding(self) -> Any:
    """Where the train state lives: split on the member axis (a population
    over devices), replicated (data parallel), or this process's first
    device."""
    where = self.member_sharding or self.replicated
    if where is None:
      where = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return where

  def place(self, state: step_lib.TrainState) -> step_lib.TrainState:
    """`state` on the run's devices (`state_sharding`), of every process.

    Always committed to them: a restored checkpoint's arrays are, and the
    programs lowered with a fresh state and with a resumed one must be the
    same for the persistent compilation cache to serve a resume.
    """
    return distributed.put(state, self.state_sharding)

  def chunk_inputs(self) -> tuple[Any, Any]:
    """The train key and the task data, on the run's devices for `chunk`.

    Replicated when data parallel; a population split over devices gets
    each member's key on its member's device and the data replicated.
    """
    key, data = self.keys.train, self.data
    if self.member_sharding is not None:
      return (distributed.put(key, self.member_sharding),
              distributed.put(data, self.replicated))
    if self.replicated is not None:
      key, data = distributed.put((key, data), self.replicated)
    return key, data

  def chunk(self, steps: int | None = None) -> Callable:
    """The jitted `chunk(state, key, data) -> (state, metrics, losses)`."""
    return step_lib.make_train_chunk(
        self.train_step, steps or self.config.train.steps_per_call,
        members=self.members is not None,
        vmap_size=self.config.get('population', {}).get('vmap_size', 0))


def _takes_linear(model: Any) -> bool:
  import inspect  # pylint: disable=g-import-not-at-top
  return 'linear' in inspect.signature(type(model).__call__).parameters


def build_task(config: ml_collections.ConfigDict) -> Any:
  """The task of `config.task`, with the memory refreshing loss
  (`memax.tasks.refresh`) when `config.train.refresh_probability` > 0."""
  return refresh.wrap(tasks.build(config.task),
                      config.train.get('refresh_probability', 0.0))


def build(config: ml_collections.ConfigDict) -> tuple[Any, Any]:
  """`(model, task)` of `config`; errors name the bad field."""
  task = build_task(config)
  return build_model(config, task), task


def abstract_state(config: ml_collections.ConfigDict, task: Any = None
                   ) -> step_lib.TrainState:
  """The train state's shapes for `config` (traced; nothing compiled).

  `task`: the task of `config.task`, if already built (bAbI reads files).
  """
  task = task if task is not None else build_task(config)
  config = resolve(config, task)
  init = _init_parts(config, task, build_model(config, task), [config])[-1]
  return jax.eval_shape(init, jax.random.key(0), task.device_data())


def _init_parts(config: ml_collections.ConfigDict, task: Any, model: Any,
                runs: list[ml_collections.ConfigDict]):
  """`(steps per epoch, optimiser, each run's loss weights, init)`.

  `runs`: `[config]`, or a population's member configs; the optimiser and
  the state hold every member's hyper-parameters and loss terms.
  """
  spe = steps_per_epoch(task, config.train.batch_size)
  optimizer = optim.make_optimizer(
      runs[0].optimizer, spe or 1, members=[c.optimizer for c in runs])
  all_weights = [loss_weights(c) for c in runs]
  weights = {}
  for w in all_weights:
    weights.update({k: v for k, v in w.items() if k not in weights})
  init = step_lib.init_program(model, task, optimizer, loss_weights=weights,
                               linear_until=linear_until(config, spe))
  return spe, optimizer, all_weights, init


def setup(config: ml_collections.ConfigDict, *, task: Any = None) -> Setup:
  """Builds and checks everything a run needs; writes and compiles nothing.

  Every check that can run before compiling runs here, so a bad field is an
  error (naming it) within seconds, before a workdir is created.

  Args:
    config: the experiment config (see `configs/train.py`).
    task: the task of `config.task`, if already built.

  Returns:
    The `Setup`.
  """
  cpu_random.apply(config)  # config.cpu_random_unrolled
  compiler.apply(config)  # config.xla_cpu_optimize
  task = task if task is not None else build_task(config)
  model = build_model(config, task)
  config = resolve(config, task)
  check_train_config(config)
  members = member_configs = None
  if population.is_population(config):
    members = population.member_overrides(config)
    member_configs = [population.member_config(config, m) for m in members]
    population.check_members(member_configs)
  runs = member_configs or [config]
  tc = config.train
  spe, optimizer, all_weights, init_fn = _init_parts(config, task, model,
                                                     runs)
  member_sharding = batch_sharding = None
  if members is None:
    replicated, batch_sharding = sharding.data_parallel(
        tc.get('num_devices', 1), tc.batch_size)
  else:
    # A population splits its members over the devices, not its batches.
    replicated, member_sharding = sharding.member_parallel(
        tc.get('num_devices', 1), len(members))
    if member_sharding is not None and config.population.get('vmap_size', 0):
      raise ValueError(
          f'config.population.vmap_size={config.population.vmap_size} with '
          f'config.train.num_devices={tc.num_devices}: a population split '
          'over devices runs each device\'s members in one vmap; set '
          'config.population.vmap_size=0.')
  evaluate_lib.check_evals(config.evals, task)
  linear = bool(tc.get('linear_start_epochs', 0))
  if linear and not _takes_linear(model):
    raise ValueError(
        f'config.train.linear_start_epochs={tc.linear_start_epochs} needs a '
        f'model with linear start (memn2n), not {config.model.name!r}.')
  if tc.get('linear_start_epochs', 0) == -1:
    _check_plateau(task, config)
  data = task.device_data()
  if members is None:
    keys = run_keys(config.seed)
    program = init_fn
  else:
    member_keys = [run_keys(c.seed) for c in runs]
    keys = RunKeys(*(jnp.stack(k) for k in zip(*member_keys)))
    hyper, member_weights = population.member_values(runs, all_weights)

    def program(rngs, data):
      states = jax.vmap(init_fn, in_axes=(0, None))(rngs, data)
      return population.set_member_values(states, hyper, member_weights)
  # Tracing checks the model's fields; the trace is compiled only if the
  # run starts from scratch.
  init = jax.jit(program).trace(keys.init, data)
  abstract = init.out_info
  single = abstract if members is None else jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), abstract)
  if members is not None:
    held = set(abstract.opt_state.hyperparams)
    for field in sorted({f for m in members for f in m}):
      leaf = field.split('.', 1)[1] if field.startswith('optimizer.') else ''
      if leaf and leaf != 'l2' and leaf not in held:
        raise ValueError(
            f'config.population.sweep: config.{field} has no effect in this '
            f'optimiser (its hyper-parameters are {sorted(held)}; e.g. '
            "decay_factor needs schedule='step').")
  _check_loss_weights(config, model, task, single, data,
                      set().union(*all_weights))
  train_step = step_lib.make_train_step(
      model, task, optimizer, tc.batch_size, batch_sharding=batch_sharding,
      length_buckets=tc.get('length_buckets', 0), linear_start=linear)
  eval_key = keys.eval if members is None else member_keys[0].eval
  evaluator = evaluate_lib.Evaluator(model, task, config.evals, eval_key,
                                     linear_start=linear)
  names = evaluator.metric_names(single.params, data)
  _check_stop_metric(config, names)
  best = _best_metric(config, names)
  return Setup(config, model, task, optimizer, spe, keys, data, init,
               abstract, train_step, evaluator, best, linear, replicated,
               members, member_configs, member_sharding)


def _check_loss_weights(config, model, task, abstract, data, weighted) -> None:
  """Every weighted term (`weighted`: their names) exists: the model's losses
  are traced.

  Nothing to trace when the weights name only the task's loss and l2.
  """
  if set(weighted) <= {'task', 'l2'}:
    return

  def forward(params, key):
    batch = task.sample(key, 1, data)
    return model.apply(params, batch.inputs, train=True,
                       rngs=step_lib.model_rngs(model, key)).losses
  names = set(jax.eval_shape(forward, abstract.params, jax.random.key(0)))
  names |= set(getattr(task, 'loss_term_names', ()))
  known = names | {'task', 'l2'}
  unknown = sorted(set(weighted) - known)
  if unknown:
    raise ValueError(
        f'config.train.loss_weights.{unknown[0]}: the model '
        f'{config.model.name!r} has no loss {unknown[0]!r}; its loss terms '
        f'are {sorted(names | {"task"})}.')


def _check_stop_metric(config: ml_collections.ConfigDict,
                       names: dict[str, set[str] | None]) -> None:
  metric = config.train.get('stop_metric', '')
  if not metric:
    return
  if 'train' not in names:
    raise ValueError(
        f'config.train.stop_metric={metric!r} is read from the periodic '
        "evaluation of the 'train' split, which this task does not have "
        f'(it evaluates {sorted(names)} during training).')
  known = names['train']
  if known is not None and metric not in known:
    raise ValueError(f'config.train.stop_metric={metric!r} is not a metric of '
                     f'this task; expected one of {sorted(known)}.')


def _best_metric(config: ml_collections.ConfigDict,
                 names: dict[str, set[str] | None]) -> tuple[str, str] | None:
  """`(split, metric)` named by `config.train.best_metric`, checked."""
  spec = config.train.get('best_metric', 'auto')
  if spec in ('', 'off', 'none', None):
    return None
  if spec == 'auto':
    if not names:
      return None
    split = 'valid' if 'valid' in names else next(iter(names))
    known = names[split]
    preferred = [config.train.get('stop_metric', '') if split == 'train'
                 else '', 'error', 'cost_bits', 'loss']
    if known is None:
      return split, 'error'
    for metric in preferred:
      if metric and metric in known:
        return split, metric
    return (split, sorted(known)[0]) if known else None
  split, sep, metric = str(spec).partition('/')
  if not sep or split not in names:
    raise ValueError(
        f"config.train.best_metric={spec!r} must be '<split>/<metric>' with "
        f'a split evaluated during training ({sorted(names)}), or "auto" or '
        '"off".')
  known = names[split]
  if known is not None and metric not in known:
    raise ValueError(f'config.train.best_metric={spec!r}: {split!r} has no '
                     f'metric {metric!r}; expected one of {sorted(known)}.')
  return split, metric


def _check_plateau(task: Any, config: ml_collections.ConfigDict) -> None:
  if 'valid' not in task.evals() or 'valid' not in evaluate_lib.periodic_names(
      config.evals):
    raise ValueError(
        'config.train.linear_start_epochs=-1 (until the validation loss stops '
        'decreasing) needs a validation split (config.task.val_fraction > 0) '
        "evaluated during training ('valid' in config.evals.periodic_splits).")


# ---- which config fields change shapes ------------------------------------


def _config_shapes(config: ml_collections.ConfigDict,
                   compare: Callable[[str], bool]) -> dict[str, tuple]:
  from memax.training import checkpoint  # pylint: disable=g-import-not-at-top
  return {k: v for k, v in checkpoint.flat_shapes(
      abstract_state(config)).items() if compare(k)}


def shape_changing_fields(old: ml_collections.ConfigDict,
                          new: ml_collections.ConfigDict,
                          compare: Callable[[str], bool] = lambda k: True
                          ) -> list[str]:
  """The fields of `new` that, changed alone from `old`, change shapes.

  Only the state leaves `compare` selects count (e.g. only the parameters).
  """
  changed = [f for f in workdir_lib.changed_fields(old, new)
             if f.split('.')[0] in ('model', 'task', 'optimizer', 'train')]
  try:
    base = _config_shapes(old, compare)
  except Exception:  # pylint: disable=broad-except
    return []  # the old config no longer builds: nothing to attribute.
  new_values = dict(workdir_lib.flatten(new.to_dict()))
  culprits = []
  for field in changed:
    if field not in new_values:
      continue
    trial = ml_collections.ConfigDict(old.to_dict(), type_safe=False)
    *parents, leaf = field.split('.')
    node = trial
    for p in parents:
      node = node[p]
    node[leaf] = new_values[field]
    try:
      if _config_shapes(trial, compare) != base:
        culprits.append(field)
    except Exception:  # pylint: disable=broad-except
      continue
  return culprits


def describe_fields(fields: list[str], old: ml_collections.ConfigDict,
                    new: ml_collections.ConfigDict) -> str:
  """`config.a.b (x in the run, y now)`, joined."""
  a = dict(workdir_lib.flatten(old.to_dict()))
  b = dict(workdir_lib.flatten(new.to_dict()))
  return ', '.join(f'config.{f} ({a.get(f)!r} in the run, {b.get(f)!r} now)'
                   for f in fields)

