"""Training: one pure, jitted train step and the loop around it.

`train_step(state, key) -> (state, metrics)` samples its batch on the device
from `fold_in(key, state.step)`, so it is pure: resuming from a checkpoint
gives the same numbers as not stopping, and a population of seeds is one
`jax.vmap` away. The loop calls a jitted chunk of `steps_per_call` steps (a
`lax.scan` of the step) and syncs with the host only at logging intervals.
"""

import json
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
  if not lr > 0:
    raise ValueError(f'config.optimizer.learning_rate must be > 0, got {lr}.')
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
  start = config.get('decay_start_epochs', 0)
  if not isinstance(start, int) or start < 0:
    raise ValueError('config.optimizer.decay_start_epochs must be a '
                     f'non-negative integer, got {start!r}.')
  return optax.exponential_decay(
      lr, transition_steps=every * steps_per_epoch,
      decay_rate=config.get('decay_factor', 0.5), staircase=True,
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


def init_state(model: Any, task: tasks_base.Task,
               optimizer: optax.GradientTransformation,
               rng: PRNGKey) -> TrainState:
  """Initialises parameters on a one-example batch; no batch size is baked."""

  example = (task.example_batch(1) if dataset.is_finite(task) else None)

  @jax.jit
  def init(rng):
    batch = example if example is not None else task.sample(rng, 1)
    params = model.init(rng, batch.inputs)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params),
                      first_nonfinite_step=jnp.full((), -1, jnp.int32))

  return init(rng)


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


def make_train_chunk(train_step: Callable, num_steps: int) -> Callable:
  """Jits `num_steps` train steps as one `lax.scan`; metrics are averaged.

  Returns `chunk(state, key, data=None) -> (state, metrics)`; `data` is a
  finite task's device arrays (passed through to every step).
  """

  def chunk(state: TrainState, key: PRNGKey, data: Any = None):
    def body(s, _):
      return train_step(s, key, data)
    state, metrics = jax.lax.scan(body, state, None, length=num_steps)
    return state, jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)

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


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json`, keeping an earlier one that differs."""
  path = os.path.join(workdir, 'config.json')
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if old != text:
      # A resumed run with changed settings keeps the original on record.
      stamp = time.strftime('%Y%m%d-%H%M%S')
      os.replace(path, os.path.join(workdir, f'config.{stamp}.json'))
  with open(path, 'w') as f:
    f.write(text)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains from `config` in `workdir` (resuming if it holds a checkpoint).

  Writes `config.json`, `metrics.jsonl`, TensorBoard events, `checkpoints/`,
  and at the end `eval/*.json` and `plots/*.png`.

  Args:
    config: the experiment config (see `configs/train.py`).
    workdir: output directory.

  Returns:
    The final evaluation metrics, `{variant: {metric: value}}` (`'train'` is
    the training distribution), plus `'last_train_log'` (the last logged
    training metrics), `'stopped_at'`, `'step'` and `'wall_seconds'`.

  Raises:
    FloatingPointError: naming the step at which the loss or gradient became
      non-finite; the last good checkpoint stays on disk.
  """
  os.makedirs(workdir, exist_ok=True)
  model, task = build(config)
  save_config(config, workdir)
  config = resolve_epochs(config, task)
  _check_train_config(config)
  finite = dataset.is_finite(task)
  steps_per_epoch = (task.steps_per_epoch(config.train.batch_size)
                     if finite else 1)
  optimizer = make_optimizer(config.optimizer, steps_per_epoch)

  key = jax.random.key(config.seed)
  init_key, train_key, eval_key = jax.random.split(key, 3)
  state = init_state(model, task, optimizer, init_key)
  mngr = checkpoint.manager(workdir, max_to_keep=config.train.get(
      'max_checkpoints', 3))
  if mngr.latest_step() is not None:
    state = checkpoint.restore(mngr, state)
    logging.info('Resumed from %s at step %d.', workdir, int(state.step))
  replicated, batch_sharding = data_parallel(
      config.train.get('num_devices', 1), config.train.batch_size)
  writer = writers.MetricWriter(workdir,
                                tensorboard=config.get('tensorboard', True))
  writer.write_hparams(dict(_flatten(config.to_dict())))

  tc = config.train
  model = linear_start.apply(model, workdir)
  switch = _plateau_switch(model, task, config, workdir)

  def compile_for(model):
    train_step = make_train_step_for(config, model, task, optimizer,
                                     batch_sharding=batch_sharding)
    return (make_train_chunk(train_step, tc.steps_per_call),
            evaluate_lib.Evaluator(model, task, config.evals, eval_key))

  chunk, evaluator = compile_for(model)
  data = task.data if finite else None
  if replicated is not None:
    state, train_key, data = jax.device_put((state, train_key, data),
                                            replicated)

  step = int(state.step)
  num_steps = tc.num_steps
  stopped_path = os.path.join(workdir, 'stopped.json')
  if os.path.exists(stopped_path):
    with open(stopped_path) as f:
      stopped = json.load(f)
    if stopped['step'] == step:
      # A run that stopped because it was solved stays stopped on re-launch.
      logging.info('%s stopped at step %d (%s); not training further. '
                   'Delete it to continue.', stopped_path, step,
                   stopped['reason'])
      num_steps = step
  last_train: dict[str, float] = {}
  stopped_at = None
  start = time.time()
  window_start, window_step = start, step
  accum: list[dict[str, Array]] = []
  try:
    while step < num_steps:
      state, metrics = chunk(state, train_key, data)
      step += tc.steps_per_call
      accum.append(metrics)
      log_now = step % tc.log_every == 0 or step >= num_steps
      save_now = step % tc.ckpt_every == 0 or step >= num_steps
      if log_now or save_now:
        _check_finite(state, workdir, mngr)
      if log_now:
        metrics = jax.device_get(accum)
        accum = []
        last_train = {k: float(np.mean([m[k] for m in metrics]))
                      for k in metrics[0]}
        now = time.time()
        rate = (step - window_step) / max(now - window_start, 1e-9)
        window_start, window_step = now, step
        extra = {'epoch': step / steps_per_epoch} if finite else {}
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
      if step % tc.eval_every == 0 or step >= num_steps:
        results = evaluator.periodic(state.params, step=step)
        for split, values in results.items():
          writer.write_scalars(step, values, split=f'eval/{split}')
        logging.info('eval at step %d: %s', step, json.dumps(
            {s: {k: round(v, 4) for k, v in r.items()}
             for s, r in results.items()}))
        if switch is not None and switch.active and switch.update(
            step, results['valid']['loss']):
          logging.info('Linear start ends at step %d: the validation loss '
                       '%.4g did not decrease; softmax re-inserted.', step,
                       results['valid']['loss'])
          model = model.clone(linear_start_steps=step)
          chunk, evaluator = compile_for(model)
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
  finally:
    writer.flush()
    mngr.wait_until_finished()

  final = evaluate_lib.final_evaluation(config, workdir, state.params,
                                        eval_key, task=task, step=step)
  for split, values in final.items():
    writer.write_scalars(step, values, split=f'final/{split}')
  writer.close()
  final['last_train_log'] = last_train
  final['stopped_at'] = stopped_at
  final['step'] = step
  final['wall_seconds'] = time.time() - start
  return final


def _plateau_switch(model: Any, task: Any, config: ml_collections.ConfigDict,
                    workdir: str) -> linear_start.PlateauSwitch | None:
  """The linear-start switch of a model that asks for one, else None."""
  if not linear_start.is_until_plateau(model):
    return None
  periodic = config.evals.get('periodic_splits', ())
  if (not dataset.is_finite(task) or 'valid' not in task.eval_splits()
      or 'valid' not in periodic):
    raise ValueError(
        'config.model.linear_start_epochs=-1 (until the validation loss stops '
        'decreasing) needs a validation split (config.task.val_fraction > 0) '
        "evaluated during training ('valid' in config.evals.periodic_splits).")
  return linear_start.PlateauSwitch(workdir)


def _check_finite(state: TrainState, workdir: str, mngr) -> None:
  bad = int(state.first_nonfinite_step)
  if bad >= 0:
    raise FloatingPointError(
        f'Non-finite loss or gradient at step {bad} (workdir {workdir}); its '
        'update was skipped and training stopped. The last good checkpoint '
        f'is step {mngr.latest_step()}.')


def _solved(tc: ml_collections.ConfigDict, results: dict) -> bool:
  metric = tc.get('stop_metric', '')
  if not metric:
    return False
  value = results.get('train', {}).get(metric)
  return value is not None and value < tc.stop_below


def _flatten(d: dict, prefix: str = ''):
  for k, v in d.items():
    if isinstance(v, dict):
      yield from _flatten(v, f'{prefix}{k}.')
    else:
      yield f'{prefix}{k}', v
