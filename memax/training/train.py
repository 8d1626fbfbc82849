"""Training: one pure, jitted train step and the loop around it.

`train_step(state, key) -> (state, metrics)` samples its batch on the device
from `fold_in(key, state.step)`, so it is pure: resuming from a checkpoint
gives the same numbers as not stopping, and a population of seeds is one
`jax.vmap` away. The loop calls a jitted chunk of `steps_per_call` steps (a
`lax.scan` of the step) and syncs with the host only at logging intervals.
"""

import json
import math
import os
import time
from typing import Any, Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memax import tasks
from memax.tasks import base as tasks_base
from memax.tasks import dataset
from memax.training import checkpoint
from memax.training import evaluate as evaluate_lib
from memax.training import linear_start
from memax.training import guards
from memax.training import workdir as workdir_lib
from memax.training import writers
from memax.types import Array, Batch, PRNGKey, PyTree

BATCH_AXIS = 'batch'


class TrainState(NamedTuple):
  """Everything that changes during training; a checkpoint saves all of it.

  Attributes:
    step: `[]` int32, number of updates applied.
    params: model parameters.
    opt_state: optimiser state.
    first_nonfinite_step: `[]` int32, the first step whose loss or gradient
      was not finite (its update was skipped), or -1.
  """

  step: Array
  params: PyTree
  opt_state: PyTree
  first_nonfinite_step: Array


OPTIMIZERS = ('rmsprop', 'adam', 'sgd')


SCHEDULES = ('constant', 'step')


def _is_number(value: Any) -> bool:
  """Whether `value` is a finite int or float (a bool is not)."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def learning_rate_schedule(config: ml_collections.ConfigDict,
                           steps_per_epoch: int = 1) -> optax.Schedule | float:
  """The learning rate of `config.optimizer`, constant or stepped.

  `schedule='step'` multiplies the rate by `decay_factor` every
  `decay_every_epochs` epochs (MemN2N, sec. 4.2: halved every 25 epochs),
  counted from `decay_start_epochs` (default 0; the rate is held until then,
  e.g. through a fixed-length linear start, as in the MemN2N authors' code);
  an epoch is `steps_per_epoch` train steps (1 for synthetic tasks, so the
  fields then count steps).
  """
  lr = config.learning_rate
  if not _is_number(lr) or lr <= 0:
    raise ValueError('config.optimizer.learning_rate must be a finite number '
                     f'> 0, got {lr!r}.')
  schedule = config.get('schedule', 'constant')
  if schedule == 'constant':
    return lr
  if schedule != 'step':
    raise ValueError(f'Unknown config.optimizer.schedule={schedule!r}; '
                     f'expected one of {SCHEDULES}.')
  every = config.get('decay_every_epochs', 0)
  if not isinstance(every, int) or every < 1:
    raise ValueError('config.optimizer.decay_every_epochs must be a positive '
                     f'integer with schedule="step", got {every!r}.')
  factor = config.get('decay_factor', 0.5)
  if not _is_number(factor) or factor <= 0:
    raise ValueError('config.optimizer.decay_factor must be a finite number '
                     f'> 0, got {factor!r}.')
  start = config.get('decay_start_epochs', 0)
  if not isinstance(start, int) or start < 0:
    raise ValueError('config.optimizer.decay_start_epochs must be a '
                     f'non-negative integer, got {start!r}.')
  return optax.exponential_decay(
      lr, transition_steps=every * steps_per_epoch,
      decay_rate=factor, staircase=True,
      transition_begin=start * steps_per_epoch)


def make_optimizer(config: ml_collections.ConfigDict,
                   steps_per_epoch: int = 1) -> optax.GradientTransformation:
  """Builds the optimiser from `config.optimizer`.

  Fields: `name` ('rmsprop' with momentum as in the NTM paper, 'adam',
  'sgd'), `learning_rate` (with `schedule`, see `learning_rate_schedule`),
  `momentum`, `decay` (RMSProp), `eps`, `grad_clip_value` (element-wise,
  0 = off), `grad_clip_norm` (global norm, 0 = off) and
  `grad_clip_norm_per_param` (each parameter array's norm, 0 = off; with
  `grad_clip_stacked`, see `clip_by_norm_per_param`). (`l2` is a loss term,
  added by the train step.)
  """
  name = config.name
  lr = learning_rate_schedule(config, steps_per_epoch)
  if name == 'rmsprop':
    opt = optax.rmsprop(lr, decay=config.get('decay', 0.95),
                        eps=config.get('eps', 1e-10),
                        momentum=config.get('momentum', 0.9) or None,
                        centered=config.get('centered', False))
  elif name == 'adam':
    opt = optax.adam(lr, eps=config.get('eps', 1e-8))
  elif name == 'sgd':
    opt = optax.sgd(lr, momentum=config.get('momentum', 0.0) or None)
  else:
    raise ValueError(f'Unknown optimiser config.optimizer.name={name!r}; '
                     f'expected one of {OPTIMIZERS}.')
  chain = []
  if config.get('grad_clip_value', 0.0):
    chain.append(optax.clip(config.grad_clip_value))
  if config.get('grad_clip_norm', 0.0):
    chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if config.get('grad_clip_norm_per_param', 0.0):
    stacked = tuple(n for n in config.get('grad_clip_stacked', '').split('+')
                    if n)
    chain.append(clip_by_norm_per_param(config.grad_clip_norm_per_param,
                                        stacked=stacked))
  elif config.get('grad_clip_stacked', ''):
    raise ValueError('config.optimizer.grad_clip_stacked='
                     f'{config.grad_clip_stacked!r} needs '
                     'config.optimizer.grad_clip_norm_per_param > 0.')
  return optax.chain(*chain, opt)


def clip_by_norm_per_param(max_norm: float, *, stacked: tuple[str, ...] = ()
                           ) -> optax.GradientTransformation:
  """Rescales each parameter array's gradient to norm <= `max_norm`.

  The per-variable clipping of TensorFlow code (`tf.clip_by_norm` on each
  gradient) and of the MemN2N authors' Matlab code (each weight matrix on
  its own), as opposed to `optax.clip_by_global_norm` over all of them.

  `stacked` names parameters (by their last path key, e.g. `('embeddings',
  'temporal')`) that hold one matrix per index of their leading axis and
  share that axis: matrix `i` of all of them is clipped as one, i.e. the
  norm of the concatenation of their slices `i`. This is the authors'
  MemN2N, whose hop `i` has one look-up table holding both the word rows
  (`embeddings[i]`) and the time-word rows (`temporal[i]`).
  """

  def scale(sq_norm):
    return jnp.minimum(1.0, max_norm / jnp.maximum(jnp.sqrt(sq_norm), 1e-12))

  def update_fn(updates, state, params=None):
    del params
    leaves, treedef = jax.tree_util.tree_flatten_with_path(updates)
    names = [getattr(path[-1], 'key', getattr(path[-1], 'name', None))
             if path else None for path, _ in leaves]
    group = [i for i, n in enumerate(names) if n in stacked]
    out = [None if i in group else g * scale(jnp.sum(jnp.square(g)))
           for i, (_, g) in enumerate(leaves)]
    if group:
      sizes = {leaves[i][1].shape[0] if leaves[i][1].ndim else None
               for i in group}
      if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f'config.optimizer.grad_clip_stacked: the parameters {stacked} '
            'must share their leading (stack) axis, got shapes '
            f'{[leaves[i][1].shape for i in group]}.')
      sq = sum(jnp.sum(jnp.square(leaves[i][1]),
                       axis=tuple(range(1, leaves[i][1].ndim)))
               for i in group)  # [S]
      for i in group:
        g = leaves[i][1]
        out[i] = g * scale(sq).reshape((-1,) + (1,) * (g.ndim - 1))
    return jax.tree_util.tree_unflatten(treedef, out), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(),
                                      update_fn)


def init_program(model: Any, task: tasks_base.Task,
                 optimizer: optax.GradientTransformation) -> Callable:
  """The jitted `init(rng) -> TrainState` (see `init_state`)."""
  example = (task.example_batch(1) if dataset.is_finite(task) else None)

  @jax.jit
  def init(rng):
    batch = example if example is not None else task.sample(rng, 1)
    params = model.init(rng, batch.inputs)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params),
                      first_nonfinite_step=jnp.full((), -1, jnp.int32))

  return init


def init_state(model: Any, task: tasks_base.Task,
               optimizer: optax.GradientTransformation,
               rng: PRNGKey) -> TrainState:
  """Initialises parameters on a one-example batch; no batch size is baked."""
  return init_program(model, task, optimizer)(rng)


def make_train_step(model: Any, task: tasks_base.Task,
                    optimizer: optax.GradientTransformation,
                    batch_size: int, *, l2: float = 0.0,
                    batch_sharding: Any = None, length_buckets: int = 0
                    ) -> Callable[..., tuple[TrainState, dict[str, Array]]]:
  """Returns the pure `train_step(state, key, data=None) -> (state, metrics)`.

  The step samples the batch, runs forward and backward, and applies the
  update, all on the device. A synthetic task generates its batch from
  `fold_in(key, step)`; a finite dataset gathers it from `data` (its
  device arrays, an argument so they are not compiled in) in the epoch order
  keyed by `key`. The model is called with `train=True` and the step (for
  schedules such as MemN2N's linear start); a model that returns
  `aux['loss']` (its own objective, e.g. MemNN's margin ranking loss) is
  trained on that instead of the task's loss. `l2` adds
  `l2 * 0.5 * ||params||^2` to the loss (TensorFlow's `l2_loss` convention). A non-finite loss or
  gradient leaves the state unchanged and records the step in
  `first_nonfinite_step`. A batch with `num_steps` (one length for the whole
  batch) passes it to the model, which may skip the padded steps.
  `batch_sharding` (from `data_parallel`) splits
  the sampled batch over devices along its leading axis; the step is the
  same function of its inputs with or without it.

  `length_buckets` > 0 (for batches with `num_steps`) splits the padded
  length `T` into that many buckets (`bucket_edges`) and computes the
  forward and backward pass only up to the end of the batch's bucket: one
  `lax.switch` over whole gradient computations, each a scan of its own
  static length. The steps cut off are padding for every sequence (a causal
  model's earlier outputs do not depend on them, and the mask excludes
  them), so loss, gradients and metrics are those of the full batch; the
  logits past the cut are zero. Unlike the model's per-step skipping
  (`num_steps` passed to the model, which this then does not do) it needs no
  conditional inside the scan and no `remat`, at the cost of compiling one
  gradient per bucket. Under `jax.vmap` (e.g. over seeds) the bucket index
  is batched and `lax.switch` then computes every branch: leave it off there.
  """
  if not isinstance(length_buckets, int) or length_buckets < 0:
    raise ValueError('config.train.length_buckets must be a non-negative '
                     f'integer, got {length_buckets!r}.')
  from_data = dataset.is_finite(task)

  def train_step(state: TrainState, key: PRNGKey, data: Any = None
                 ) -> tuple[TrainState, dict[str, Array]]:
    data_key, carry_key = jax.random.split(jax.random.fold_in(key, state.step))
    if from_data:
      batch = task.sample_from(task.data if data is None else data, key,
                               state.step, batch_size)
    else:
      batch = task.sample(data_key, batch_size)
    if batch_sharding is not None:
      batch = jax.tree.map(
          lambda x: (jax.lax.with_sharding_constraint(x, batch_sharding)
                     if jnp.ndim(x) else x), batch)
    rngs = {'carry': carry_key, 'noise': jax.random.fold_in(carry_key, 1)}
    bucketed = bool(length_buckets) and batch.num_steps is not None
    extra = ({} if batch.num_steps is None or bucketed
             else {'num_steps': batch.num_steps})

    def loss_fn(params, batch):
      logits, aux = model.apply(params, batch.inputs, train=True,
                                step=state.step, rngs=rngs, **extra)
      if isinstance(aux, dict) and 'loss' in aux:
        loss = aux['loss']
      else:
        loss = task.loss(logits, batch)
      if l2:
        penalty = sum(jnp.sum(jnp.square(p))
                      for p in jax.tree.leaves(params))
        loss = loss + l2 * 0.5 * penalty
      return loss, logits

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if bucketed:
      (loss, logits), grads = _bucketed(grad_fn, state.params, batch,
                                        length_buckets)
    else:
      (loss, logits), grads = grad_fn(state.params, batch)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree.map(
        lambda n, o: jnp.where(finite, n, o), new, old)
    first_bad = jnp.where((state.first_nonfinite_step < 0) & ~finite,
                          state.step, state.first_nonfinite_step)
    new_state = TrainState(step=state.step + 1,
                           params=keep(params, state.params),
                           opt_state=keep(opt_state, state.opt_state),
                           first_nonfinite_step=first_bad)
    metrics = dict(task.metrics(logits, batch), loss=loss,
                   grad_norm=grad_norm)
    return new_state, metrics

  return train_step


def make_train_step_for(config: ml_collections.ConfigDict, model: Any,
                        task: tasks_base.Task,
                        optimizer: optax.GradientTransformation, *,
                        batch_sharding: Any = None) -> Callable:
  """`make_train_step` with the options that `config` sets (batch size, l2,
  length buckets), as both training and the benchmarks build it."""
  return make_train_step(model, task, optimizer, config.train.batch_size,
                         l2=config.optimizer.get('l2', 0.0),
                         batch_sharding=batch_sharding,
                         length_buckets=config.train.get('length_buckets', 0))


def bucket_edges(max_steps: int, num_buckets: int) -> tuple[int, ...]:
  """Upper ends of `num_buckets` near-equal buckets of lengths `1..max_steps`.

  Bucket `i` ends at `ceil(max_steps * (i + 1) / num_buckets)`; duplicates
  (more buckets than lengths) are dropped. For the copy task's 41 steps, 20
  buckets end at 3, 5, ..., 41: one per sequence length `2L + 1`.
  """
  n = min(num_buckets, max_steps)
  return tuple(sorted({-(-max_steps * (i + 1) // n) for i in range(n)}))


def _bucketed(grad_fn: Callable, params: Any, batch: Batch,
              num_buckets: int) -> Any:
  """`grad_fn(params, batch)` on the batch cut to the end of its bucket."""
  max_steps = batch.inputs.shape[1]
  edges = bucket_edges(max_steps, num_buckets)

  def cut(x, t):
    return x[:, :t] if jnp.ndim(x) >= 2 and x.shape[1] == max_steps else x

  def branch(t):
    def run(params, batch):
      (loss, logits), grads = grad_fn(
          params, jax.tree.map(lambda x: cut(x, t), batch))
      pad = [(0, 0), (0, max_steps - t)] + [(0, 0)] * (logits.ndim - 2)
      return (loss, jnp.pad(logits, pad)), grads
    return run

  index = jnp.searchsorted(jnp.asarray(edges), batch.num_steps)
  index = jnp.clip(index, 0, len(edges) - 1)
  return jax.lax.switch(index, [branch(t) for t in edges], params, batch)


def make_train_chunk(train_step: Callable, num_steps: int, *,
                     return_losses: bool = False) -> Callable:
  """Jits `num_steps` train steps as one `lax.scan`; metrics are averaged.

  Returns `chunk(state, key, data=None) -> (state, metrics)`; `data` is a
  finite task's device arrays (passed through to every step). With
  `return_losses`, `chunk` also returns the loss of every step, `[num_steps]`
  (for the divergence guard), as a third output.
  """

  def chunk(state: TrainState, key: PRNGKey, data: Any = None):
    def body(s, _):
      return train_step(s, key, data)
    state, metrics = jax.lax.scan(body, state, None, length=num_steps)
    means = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
    if return_losses:
      return state, means, metrics['loss']
    return state, means

  return jax.jit(chunk, donate_argnums=0)


def use_cpu_devices(num_devices: int) -> None:
  """Makes the CPU backend expose `num_devices` host devices.

  Data parallelism on a CPU (`config.train.num_devices > 1`) needs this
  before JAX first touches a device (the launcher calls it).
  """
  if num_devices <= 1 or jax.config.jax_platforms not in (None, '', 'cpu'):
    return
  try:
    jax.config.update('jax_num_cpu_devices', num_devices)
  except RuntimeError as e:  # the backend already exists.
    if len(jax.devices()) < num_devices:
      raise ValueError(
          f'config.train.num_devices={num_devices} but JAX already started '
          f'with {len(jax.devices())} device(s); call '
          'memax.training.train.use_cpu_devices before using JAX.') from e


def data_parallel(num_devices: int, batch_size: int
                  ) -> tuple[Any, Any]:
  """Shardings `(replicated, batch)` to split batches over devices.

  `(None, None)` for one device. Otherwise the parameters and optimiser
  state are replicated over the first `num_devices` devices, each of which
  takes `batch_size / num_devices` examples; XLA sums the gradients.

  Raises:
    ValueError: naming `config.train.num_devices` when there are fewer
      devices, or when it does not divide `config.train.batch_size`.
  """
  if not isinstance(num_devices, int) or num_devices < 1:
    raise ValueError('config.train.num_devices must be a positive integer, '
                     f'got {num_devices!r}.')
  if num_devices == 1:
    return None, None
  devices = jax.devices()
  if len(devices) < num_devices:
    raise ValueError(
        f'config.train.num_devices={num_devices} but JAX has '
        f'{len(devices)} device(s): {devices}. On a CPU, launch through '
        'memax.main (or call memax.training.train.use_cpu_devices first).')
  if batch_size % num_devices:
    raise ValueError(
        f'config.train.num_devices={num_devices} must divide '
        f'config.train.batch_size={batch_size}.')
  mesh = jax.sharding.Mesh(np.array(devices[:num_devices]), (BATCH_AXIS,))
  spec = jax.sharding.PartitionSpec
  return (jax.sharding.NamedSharding(mesh, spec()),
          jax.sharding.NamedSharding(mesh, spec(BATCH_AXIS)))


def _check_train_config(config: ml_collections.ConfigDict) -> None:
  train = config.train
  for field in ('num_steps', 'batch_size', 'log_every', 'eval_every',
                'ckpt_every', 'steps_per_call'):
    value = train[field]
    if not isinstance(value, int) or value < 1:
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
  if not _is_number(factor) or factor < 0 or 0 < factor <= 1:
    raise ValueError('config.train.divergence_factor must be a finite number '
                     f'> 1 (or 0 to turn the check off), got {factor!r}.')
  mode = train.get('best_mode', 'min')
  if mode not in ('min', 'max'):
    raise ValueError("config.train.best_mode must be 'min' or 'max', got "
                     f'{mode!r}.')


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def build(config: ml_collections.ConfigDict, *, return_aux: bool = False):
  """Builds `(model, task)` from a config; errors name the bad field."""
  task = tasks.build(config.task)
  return evaluate_lib.build_model(config, task, return_aux=return_aux), task


EPOCH_FIELDS = ('log_every', 'eval_every', 'ckpt_every')


def resolve_epochs(config: ml_collections.ConfigDict, task: Any
                   ) -> ml_collections.ConfigDict:
  """Turns `config.train.num_epochs` (finite datasets) into step counts.

  With `num_epochs > 0`, one jitted call runs one epoch
  (`steps_per_call = steps_per_epoch`), `num_steps = num_epochs *
  steps_per_epoch`, and `log_every`, `eval_every` and `ckpt_every` are read
  as epochs (`<field>_epochs`, default 1). Returns a new config; the input is
  unchanged. Without `num_epochs` the step fields are used as they are.
  """
  epochs = config.train.get('num_epochs', 0)
  if not epochs:
    return config
  if not dataset.is_finite(task):
    raise ValueError('config.train.num_epochs is only for finite datasets; '
                     f'the task {task.name!r} is generated on the fly: set '
                     'config.train.num_epochs=0 and use num_steps.')
  if not isinstance(epochs, int) or epochs < 1:
    raise ValueError('config.train.num_epochs must be a positive integer (or '
                     f'0 to count steps), got {epochs!r}.')
  resolved = ml_collections.ConfigDict(config.to_dict())
  train = resolved.train
  spe = task.steps_per_epoch(train.batch_size)
  train.steps_per_call = spe
  train.num_steps = epochs * spe
  for field in EPOCH_FIELDS:
    every = train.get(f'{field}_epochs', 1)
    if not isinstance(every, int) or every < 1:
      raise ValueError(f'config.train.{field}_epochs must be a positive '
                       f'integer, got {every!r}.')
    train[field] = every * spe
  return resolved


DIVERGENCE_FACTOR = 100.0


class Setup(NamedTuple):
  """What a training run is built from, checked before any file is written.

  Attributes:
    config: the config that runs (epochs resolved into steps).
    model: the flax model.
    task: the task.
    optimizer: the optax transformation.
    steps_per_epoch: train steps per epoch (1 for synthetic tasks).
    abstract_state: the `TrainState`'s shapes and dtypes (nothing computed).
    init: the traced initialisation, `init.lower().compile()(init_key)`.
    evaluator: the periodic `Evaluator`.
    best: `(split, metric)` that picks the best checkpoint, or None.
  """

  config: ml_collections.ConfigDict
  model: Any
  task: Any
  optimizer: optax.GradientTransformation
  steps_per_epoch: int
  abstract_state: TrainState
  init: Any
  evaluator: evaluate_lib.Evaluator
  best: tuple[str, str] | None


def run_keys(seed: int) -> tuple[PRNGKey, PRNGKey, PRNGKey]:
  """`(init, train, eval)` keys of a run with `config.seed = seed`.

  `memax.evaluate` derives its evaluation key here too, so that the run's
  own seed reproduces training's final evaluation.
  """
  init_key, train_key, eval_key = jax.random.split(jax.random.key(seed), 3)
  return init_key, train_key, eval_key


def abstract_state(model: Any, task: Any,
                   optimizer: optax.GradientTransformation) -> TrainState:
  """The train state's structure, traced (nothing is compiled or run)."""
  return jax.eval_shape(
      lambda: init_state(model, task, optimizer, jax.random.key(0)))


def config_abstract_state(config: ml_collections.ConfigDict,
                          task: Any = None) -> TrainState:
  """`abstract_state` of the model, task and optimiser `config` builds.

  `task`: the task of `config.task`, if already built (bAbI reads files).
  """
  task = task if task is not None else tasks.build(config.task)
  model = evaluate_lib.build_model(config, task)
  spe = (task.steps_per_epoch(config.train.batch_size)
         if dataset.is_finite(task) else 1)
  return abstract_state(model, task, make_optimizer(config.optimizer, spe))


def prepare(config: ml_collections.ConfigDict) -> Setup:
  """Builds and checks everything a run needs; writes and compiles nothing.

  Every check that can run before compiling runs here, so a bad field is an
  error (naming it) within seconds, before the workdir is created.
  """
  model, task = build(config)
  resolved = resolve_epochs(config, task)
  _check_train_config(resolved)
  finite = dataset.is_finite(task)
  spe = task.steps_per_epoch(resolved.train.batch_size) if finite else 1
  optimizer = make_optimizer(resolved.optimizer, spe)
  data_parallel(resolved.train.get('num_devices', 1),
                resolved.train.batch_size)
  evaluate_lib.check_evals(resolved.evals, task)
  if linear_start.is_until_plateau(model):
    _check_plateau(task, resolved)
  init_key, _, eval_key = run_keys(resolved.seed)
  # Tracing checks the model's fields; the trace is compiled only if the
  # run starts from scratch.
  init = init_program(model, task, optimizer).trace(init_key)
  abstract = init.out_info
  evaluator = evaluate_lib.Evaluator(model, task, resolved.evals, eval_key)
  names = evaluator.metric_names(abstract.params)
  _check_stop_metric(resolved, names)
  best = _best_metric(resolved, names)
  return Setup(resolved, model, task, optimizer, spe, abstract, init,
               evaluator, best)


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
  periodic = config.evals.get('periodic_splits', ())
  if (not dataset.is_finite(task) or 'valid' not in task.eval_splits()
      or 'valid' not in periodic):
    raise ValueError(
        'config.model.linear_start_epochs=-1 (until the validation loss stops '
        'decreasing) needs a validation split (config.task.val_fraction > 0) '
        "evaluated during training ('valid' in config.evals.periodic_splits).")


# ---- resuming -----------------------------------------------------------------


def _config_shapes(config: ml_collections.ConfigDict,
                   compare: Callable[[str], bool]) -> dict[str, tuple]:
  return {k: v for k, v in checkpoint.flat_shapes(
      config_abstract_state(config)).items() if compare(k)}


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


def _resume(setup: Setup, config: ml_collections.ConfigDict,
            workdir: str) -> tuple[TrainState | None, int | None]:
  """Restores the newest readable checkpoint of `workdir`, or `(None, None)`.

  A checkpoint whose shapes differ from the config's is an error naming the
  config field that changed them; nothing in the workdir changes. Newer
  checkpoints that cannot be read are reported and moved to
  `checkpoints_unreadable/` (never deleted), so the run can save those
  steps again.
  """
  steps = checkpoint.all_steps(workdir)
  if not steps:
    return None, None
  mngr = checkpoint.manager(workdir, read_only=True)
  try:
    state, step, skipped = checkpoint.restore_newest(
        mngr, setup.abstract_state, steps=steps)
  except checkpoint.ShapeMismatch as e:
    old = workdir_lib.load_config(workdir)
    fields = [] if old is None else shape_changing_fields(old, config)
    what = (describe_fields(fields, old, config) + ' changes' if fields
            else 'the config changes')
    raise ValueError(
        f'Cannot resume {workdir}: {what} the shapes of the saved train '
        f'state ({"; ".join(e.differences)}; checkpoint {e.step}). Nothing in '
        'the workdir was changed. Resume with the values in its config.json, '
        'or train in a new --workdir.') from None
  except FileNotFoundError as e:
    raise FileNotFoundError(
        f'{e}. Nothing was changed; move the checkpoints away to train '
        'from scratch.') from None
  finally:
    mngr.close()
  for bad in skipped:
    where = checkpoint.move_aside(workdir, bad.step)
    logging.warning('Checkpoint %d of %s could not be read (%s); resuming '
                    'from step %d instead. The unreadable checkpoint was '
                    'moved to %s.', bad.step, workdir, bad.reason, step,
                    where)
  return state, step


# ---- the loop -----------------------------------------------------------------


class _Clock:
  """Time spent training, apart from compiling, evaluating and saving."""

  def __init__(self):
    self.busy_since = None
    self.window = 0.0

  def start(self):
    self.busy_since = time.time()

  def stop(self):
    if self.busy_since is not None:
      self.window += time.time() - self.busy_since
      self.busy_since = None

  def take(self) -> float:
    window, self.window = self.window, 0.0
    return window


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains from `config` in `workdir` (resuming if it holds a checkpoint).

  Every check runs before the workdir is created or changed. The workdir is
  locked while the run lives (a second process on it is refused). Writes
  `config.json`, `metrics.jsonl`, TensorBoard events, `checkpoints/`, the
  best checkpoint by the evaluation metric in `checkpoint_best/`, and at the
  end `eval/*.json` and `plots/*.png`. A re-launch of a finished run
  returns its recorded results and changes nothing.

  Args:
    config: the experiment config (see `configs/train.py`).
    workdir: output directory.

  Returns:
    The final evaluation metrics, `{variant: {metric: value}}` (`'train'` is
    the training distribution), plus `'last_train_log'` (the last logged
    training metrics), `'stopped_at'`, `'step'` and `'wall_seconds'`.

  Raises:
    ValueError: naming a bad config field, or a config field whose change
      would alter the shapes of the checkpointed state.
    workdir.WorkdirLocked: another live process trains in `workdir`.
    FloatingPointError: naming the step at which the loss or gradient became
      non-finite, or (`guards.Diverged`) the loss blew up; the checkpoints
      written before stay on disk.
  """
  start = time.time()
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f'--workdir={workdir} is a file, not a directory.')
  setup = prepare(config)
  with workdir_lib.lock(workdir):
    state, step = _resume(setup, config, workdir)
    return _run(setup, config, workdir, state, step, start)


def _run(setup: Setup, user_config: ml_collections.ConfigDict, workdir: str,
         state: TrainState | None, resumed_at: int | None,
         start: float) -> dict[str, Any]:
  config, model, task = setup.config, setup.model, setup.task
  tc = config.train
  finite = dataset.is_finite(task)
  init_key, train_key, eval_key = run_keys(config.seed)
  step = resumed_at or 0

  num_steps = tc.num_steps
  stopped_path = os.path.join(workdir, 'stopped.json')
  stopped_at = None
  if os.path.exists(stopped_path):
    with open(stopped_path) as f:
      stopped = json.load(f)
    if stopped['step'] == step:
      # A run that stopped because it was solved stays stopped on re-launch.
      logging.info('%s stopped at step %d (%s); not training further. '
                   'Delete it to continue.', stopped_path, step,
                   stopped['reason'])
      num_steps = step
      stopped_at = step
  if resumed_at is not None and step >= num_steps:
    done = evaluate_lib.load_final(config, task, workdir, step)
    if done is not None:
      logging.info('%s already finished at step %d; its results (eval/*.json) '
                   'are returned unchanged. Use memax.evaluate for other '
                   'settings.', workdir, step)
      records = [r for r in _read_metrics(workdir) if r['split'] == 'train']
      done.update(last_train_log=({k: v for k, v in records[-1].items()
                                   if k not in ('step', 'split')}
                                  if records else {}),
                  stopped_at=stopped_at, step=step,
                  wall_seconds=time.time() - start)
      return done

  workdir_lib.save_config(user_config, workdir)
  history = []
  if resumed_at is not None:
    logging.info('Resumed from %s at step %d.', workdir, step)
    dropped = workdir_lib.truncate_metrics(workdir, step)
    if dropped:
      logging.info('Dropped %d lines of metrics.jsonl logged after step %d by '
                   'the interrupted run; those steps are logged again.',
                   dropped, step)
    history = [r for r in _read_metrics(workdir) if r['split'] == 'train'
               and isinstance(r.get('loss'), (int, float))]
  writer = writers.MetricWriter(
      workdir, tensorboard=config.get('tensorboard', True),
      purge_step=None if resumed_at is None else step + 1)
  writer.write_hparams(dict(workdir_lib.flatten(config.to_dict())))
  guard = guards.DivergenceGuard(
      tc.get('divergence_factor', DIVERGENCE_FACTOR),
      initial=next((r['loss'] for r in history if r['step'] == 0), None),
      history=[r['loss'] for r in history])
  best = checkpoint.best_record(workdir)
  best_value = None if best is None else best.get('value')
  mngr = checkpoint.manager(workdir, max_to_keep=tc.get('max_checkpoints', 3))

  if state is None:
    state = setup.init.lower().compile()(init_key)
  replicated, batch_sharding = data_parallel(
      tc.get('num_devices', 1), tc.batch_size)
  data = task.data if finite else None
  if replicated is not None:
    state, train_key, data = jax.device_put((state, train_key, data),
                                            replicated)
  model = linear_start.apply(model, workdir)
  switch = (linear_start.PlateauSwitch(workdir)
            if linear_start.is_until_plateau(model) else None)
  evaluator = setup.evaluator

  def compile_for(model):
    train_step = make_train_step_for(config, model, task, setup.optimizer,
                                     batch_sharding=batch_sharding)
    chunk = make_train_chunk(train_step, tc.steps_per_call,
                             return_losses=True)
    logging.info('Compiling the train step (%s on %s, %d steps per call)...',
                 config.model.name, task.name, tc.steps_per_call)
    t = time.time()
    compiled = chunk.lower(state, train_key, data).compile()
    logging.info('Compiled the train step in %.1f s.', time.time() - t)
    return compiled

  if step < num_steps:
    chunk = compile_for(model)
    if model is not setup.model:
      evaluator = evaluate_lib.Evaluator(model, task, config.evals, eval_key)
  clock = _Clock()
  last_train: dict[str, float] = {}
  unchecked: list[Any] = []  # (first step, metrics, losses) per chunk.
  window: list[dict[str, Any]] = []  # checked chunks' metrics, to log.
  window_steps = 0
  logged_first = False
  try:
    clock.start()
    while step < num_steps:
      state, metrics, losses = chunk(state, train_key, data)
      first = step
      step += tc.steps_per_call
      window_steps += tc.steps_per_call
      unchecked.append((first, metrics, losses))
      if not logged_first:
        jax.block_until_ready(state)
        logged_first = True
        age = _process_age()
        logging.info('First %d train steps done, %.1f s after the launch%s.',
                     tc.steps_per_call, time.time() - start,
                     '' if age is None else f' ({age:.1f} s after the '
                     'process started)')
      log_now = step % tc.log_every == 0 or step >= num_steps
      save_now = step % tc.ckpt_every == 0 or step >= num_steps
      eval_now = step % tc.eval_every == 0 or step >= num_steps
      if not (log_now or save_now or eval_now):
        continue
      jax.block_until_ready(state)
      clock.stop()
      _check_finite(state, workdir, mngr, tc.ckpt_every)
      for first_step, chunk_metrics, chunk_losses in jax.device_get(unchecked):
        window.append(chunk_metrics)
        if first_step == 0:  # the untrained model's loss, on the first batch.
          writer.write_scalars(0, dict({'loss': chunk_losses[0]},
                                       **({'epoch': 0.0} if finite else {})))
        problem = guard.check(first_step, chunk_losses)
        if problem:
          raise guards.Diverged(
              f'{problem} Training stopped (workdir {workdir}). '
              + _checkpoints_text(workdir, mngr, tc.ckpt_every))
      unchecked = []
      if log_now:
        last_train = {k: float(np.mean([m[k] for m in window]))
                      for k in window[0]}
        window = []
        rate = window_steps / max(clock.take(), 1e-9)
        window_steps = 0
        extra = {'epoch': step / setup.steps_per_epoch} if finite else {}
        writer.write_scalars(step, dict(last_train, steps_per_sec=rate,
                                        sequences_per_sec=rate * tc.batch_size,
                                        **extra))
        logging.info(
            'step %d/%d | %.1f steps/s (%.0f seq/s) | loss %.4g | %s | ETA %s',
            step, num_steps, rate, rate * tc.batch_size, last_train['loss'],
            ' '.join(f'{k} {v:.4g}' for k, v in last_train.items()
                     if k not in ('loss', 'grad_norm')),
            _format_eta((num_steps - step) / max(rate, 1e-9)))
      if save_now:
        checkpoint.save(mngr, step, state)
      if eval_now:
        t = time.time()
        results = evaluator.periodic(state.params, step=step)
        for split, values in results.items():
          writer.write_scalars(step, values, split=f'eval/{split}')
        logging.info('eval at step %d (%.1f s): %s', step, time.time() - t,
                     json.dumps({s: {k: round(v, 4) for k, v in r.items()}
                                 for s, r in results.items()}))
        if setup.best is not None:
          split, metric = setup.best
          value = results[split][metric]
          if checkpoint.is_better(value, best_value,
                                  tc.get('best_mode', 'min')):
            best_value = value
            checkpoint.save_best(workdir, step, state,
                                 metric=f'{split}/{metric}', value=value,
                                 mode=tc.get('best_mode', 'min'))
        if switch is not None and switch.active and switch.update(
            step, results['valid']['loss']):
          logging.info('Linear start ends at step %d: the validation loss '
                       '%.4g did not decrease; softmax re-inserted.', step,
                       results['valid']['loss'])
          model = model.clone(linear_start_steps=step)
          evaluator = evaluate_lib.Evaluator(model, task, config.evals,
                                             eval_key)
          if step < num_steps:
            chunk = compile_for(model)
        if _solved(tc, results):
          logging.info('Solved at step %d: eval train %s < %g; stopping.',
                       step, tc.stop_metric, tc.stop_below)
          stopped_at = step
          if not save_now:
            checkpoint.save(mngr, step, state)
          with open(stopped_path, 'w') as f:
            json.dump({'step': step, 'reason': (
                f'eval train {tc.stop_metric} '
                f'{results["train"][tc.stop_metric]:.4g} < {tc.stop_below}')},
                      f)
          break
      writer.flush()
      clock.start()
  finally:
    writer.flush()
    mngr.wait_until_finished()

  final = evaluate_lib.final_evaluation(
      config, workdir, state.params, eval_key, task=task, step=step,
      record={'checkpoint_step': step, 'eval_seed': config.seed})
  for split, values in final.items():
    writer.write_scalars(step, values, split=f'final/{split}')
  writer.close()
  final['last_train_log'] = last_train
  final['stopped_at'] = stopped_at
  final['step'] = step
  final['wall_seconds'] = time.time() - start
  return final


def _process_age() -> float | None:
  """Seconds since this process started (Linux), or None."""
  try:
    with open('/proc/self/stat') as f:
      ticks = int(f.read().rsplit(')', 1)[1].split()[19])
    with open('/proc/stat') as f:
      boot = next(int(line.split()[1]) for line in f
                  if line.startswith('btime'))
    return time.time() - (boot + ticks / os.sysconf('SC_CLK_TCK'))
  except (OSError, ValueError, IndexError, StopIteration):
    return None


def _read_metrics(workdir: str) -> list[dict[str, Any]]:
  if not os.path.exists(os.path.join(workdir, 'metrics.jsonl')):
    return []
  return writers.read_metrics(workdir)


def _checkpoints_text(workdir: str, mngr, ckpt_every: int) -> str:
  text = guards.no_checkpoint_text(mngr.latest_step(), ckpt_every)
  best = checkpoint.best_record(workdir)
  if best is not None:
    text += (f' The best checkpoint by {best.get("metric")} '
             f'({best.get("value", float("nan")):.4g}) is step '
             f'{best["step"]}, in {checkpoint.BEST_DIR}/.')
  return text


def _check_finite(state: TrainState, workdir: str, mngr,
                  ckpt_every: int) -> None:
  bad = int(state.first_nonfinite_step)
  if bad >= 0:
    raise FloatingPointError(
        f'Non-finite loss or gradient at step {bad} (workdir {workdir}); its '
        'update was skipped and training stopped. '
        + _checkpoints_text(workdir, mngr, ckpt_every))


def _solved(tc: ml_collections.ConfigDict, results: dict) -> bool:
  metric = tc.get('stop_metric', '')
  if not metric:
    return False
  value = results.get('train', {}).get(metric)
  return value is not None and value < tc.stop_below
