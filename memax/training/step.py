"""The train state and the pure train step.

`train_step(state, key, data) -> (state, metrics)` takes the batch of train
step `state.step` of the run keyed by `key` from the task (a synthetic task
generates it from `fold_in(key, step)`; a finite dataset gathers it from its
device arrays `data`, an argument so they are never compiled in), runs the
model forward and backward and applies the update, all on the device. It is a
pure function of its inputs: resuming from a checkpoint gives the same numbers
as not stopping, and a population of models is `jax.vmap` of it.

The objective is `sum_k weight_k * loss_k` over the task's loss ('task'), the
model's named losses (`ModelOutput.losses`) and, when configured, 'l2'
(`0.5 * ||params||^2`); the weights are part of the state (data, not code),
and every term is logged as `loss_<name>` beside the total `loss`.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from memax.tasks import base as tasks_base
from memax.training import buckets
from memax.types import Array, Batch, ModelOutput, PRNGKey, PyTree

# `LinearStart.until` while linear start waits for the validation plateau.
UNTIL_PLATEAU = 2**31 - 1


class LinearStart(NamedTuple):
  """MemN2N's linear start (sec. 4.2) as state: no recompilation to end it.

  Attributes:
    until: `[]` int32, the step at which linear attention ends (0 = none;
      `UNTIL_PLATEAU` until the validation loss stops decreasing).
    best_valid_loss: `[]` float32, the best validation loss seen while
      waiting for the plateau (inf before the first evaluation).
  """

  until: Array
  best_valid_loss: Array


class TrainState(NamedTuple):
  """Everything that changes during training; a checkpoint saves all of it.

  Attributes:
    step: `[]` int32, number of updates applied.
    params: model parameters.
    opt_state: optimiser state (its hyper-parameters inside, as arrays).
    loss_weights: `{term: [] float32}`, the weight of each loss term.
    linear_start: the linear-start schedule (`LinearStart`).
    first_nonfinite_step: `[]` int32, the first step whose loss or gradient
      was not finite (its update was skipped), or -1.
    done: `[]` bool, training of this model has stopped (a population
      member that diverged or was solved); its state no longer changes.
  """

  step: Array
  params: PyTree
  opt_state: PyTree
  loss_weights: dict[str, Array]
  linear_start: LinearStart
  first_nonfinite_step: Array
  done: Array


def model_rngs(model: Any, key: PRNGKey) -> dict[str, PRNGKey]:
  """The random streams `model.rng_streams` declares, from one key.

  The first stream gets `key` itself, stream `i > 0` gets `fold_in(key, i)`.
  """
  streams = getattr(model, 'rng_streams', ())
  return {name: key if i == 0 else jax.random.fold_in(key, i)
          for i, name in enumerate(streams)}


def init_program(model: Any, task: tasks_base.Task,
                 optimizer: optax.GradientTransformation, *,
                 loss_weights: dict[str, float],
                 linear_until: int = 0) -> Callable:
  """`init(rng, data) -> TrainState` (unjitted; see `setup`).

  Parameters are initialised on a one-example batch: no batch size is baked
  into any shape.
  """

  def init(rng: PRNGKey, data: PyTree) -> TrainState:
    batch = task.sample(rng, 1, data)
    params = model.init(rng, batch.inputs)
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params,
        opt_state=optimizer.init(params),
        loss_weights={k: jnp.asarray(v, jnp.float32)
                      for k, v in loss_weights.items()},
        linear_start=LinearStart(
            until=jnp.asarray(linear_until, jnp.int32),
            best_valid_loss=jnp.asarray(jnp.inf, jnp.float32)),
        first_nonfinite_step=jnp.full((), -1, jnp.int32),
        done=jnp.zeros((), bool))

  return init


def loss_terms(task: tasks_base.Task, out: ModelOutput, batch: Batch,
               params: PyTree, names: tuple[str, ...]) -> dict[str, Array]:
  """The named loss terms: the task's, the model's, and 'l2' if in `names`.

  A task with `loss_terms` (the memory refreshing loss) gives several.
  """
  if hasattr(task, 'loss_terms'):
    terms = dict(task.loss_terms(out.logits, batch))
  else:
    terms = {'task': task.loss(out.logits, batch)}
  terms.update(out.losses)
  if 'l2' in names:
    terms['l2'] = 0.5 * sum(jnp.sum(jnp.square(p))
                            for p in jax.tree.leaves(params))
  return terms


def weighted_total(terms: dict[str, Array], weights: dict[str, Array],
                   scales: dict[str, Array] | None = None) -> Array:
  """`sum_k weights[k] * scales[k] * terms[k]`; a missing weight or scale
  is 1. `scales` are the batch's own factors (the refreshing loss's
  `alpha`), `weights` the config's."""
  total = None
  scales = scales or {}
  for name, value in terms.items():
    w = weights.get(name)
    term = value if w is None else w * value
    if name in scales:
      term = scales[name] * term
    total = term if total is None else total + term
  return total


def model_kwargs(state: TrainState, linear_start: bool) -> dict[str, Any]:
  """The model's call arguments that the train state sets."""
  return {'linear': state.step < state.linear_start.until} if linear_start \
      else {}


def make_train_step(model: Any, task: tasks_base.Task,
                    optimizer: optax.GradientTransformation,
                    batch_size: int, *, batch_sharding: Any = None,
                    length_buckets: int = 0, linear_start: bool = False
                    ) -> Callable[..., tuple[TrainState, dict[str, Array]]]:
  """Returns the pure `train_step(state, key, data) -> (state, metrics)`.

  A non-finite loss or gradient leaves the state unchanged, records the step
  in `first_nonfinite_step` and sets `done`; a state that is `done` no longer
  changes. A batch with `num_steps` (one length for the whole batch) passes
  it to the model, which may skip the padded steps. `batch_sharding` (from
  `sharding.data_parallel`) splits the batch over devices along its leading
  axis; the step is the same function of its inputs with or without it.
  `length_buckets` > 0: see `buckets.bucketed`. `linear_start`: the model
  takes `linear` (MemN2N), true while `step < state.linear_start.until`.
  """
  if not isinstance(length_buckets, int) or length_buckets < 0:
    raise ValueError('config.train.length_buckets must be a non-negative '
                     f'integer, got {length_buckets!r}.')

  def train_step(state: TrainState, key: PRNGKey, data: PyTree = None
                 ) -> tuple[TrainState, dict[str, Array]]:
    batch = task.train_batch(key, state.step, batch_size, data)
    _, model_key = tasks_base.step_keys(key, state.step)
    if batch_sharding is not None:
      batch = jax.tree.map(
          lambda x: (jax.lax.with_sharding_constraint(x, batch_sharding)
                     if jnp.ndim(x) else x), batch)
    rngs = model_rngs(model, model_key)
    bucketed = bool(length_buckets) and batch.num_steps is not None
    extra = model_kwargs(state, linear_start)
    if batch.num_steps is not None and not bucketed:
      extra['num_steps'] = batch.num_steps
    names = tuple(state.loss_weights)

    def loss_fn(params, batch):
      out = model.apply(params, batch.inputs, train=True, rngs=rngs, **extra)
      terms = loss_terms(task, out, batch, params, names)
      scales = (task.loss_scales(batch) if hasattr(task, 'loss_scales')
                else None)
      return (weighted_total(terms, state.loss_weights, scales),
              (out.logits, terms))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if bucketed:
      (loss, (logits, terms)), grads = buckets.bucketed(
          grad_fn, state.params, batch, length_buckets)
    else:
      (loss, (logits, terms)), grads = grad_fn(state.params, batch)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    active = finite & ~state.done
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree.map(
        lambda n, o: jnp.where(active, n, o), new, old)
    first_bad = jnp.where((state.first_nonfinite_step < 0) & ~finite
                          & ~state.done, state.step,
                          state.first_nonfinite_step)
    new_state = state._replace(
        step=state.step + (~state.done).astype(state.step.dtype),
        params=keep(params, state.params),
        opt_state=keep(opt_state, state.opt_state),
        first_nonfinite_step=first_bad, done=state.done | ~finite)
    metrics = dict(task.metrics(logits, batch), loss=loss,
                   grad_norm=grad_norm)
    metrics.update({f'loss_{k}': v for k, v in terms.items()})
    return new_state, metrics

  return train_step


def make_train_chunk(train_step: Callable, num_steps: int, *,
                     members: bool = False, vmap_size: int = 0) -> Callable:
  """Jits `num_steps` train steps as one `lax.scan`; metrics are averaged.

  Returns `chunk(state, key, data) -> (state, metrics, losses)`: the metrics
  averaged over the steps and the loss of every step, `[num_steps]` (for the
  divergence guard). `members`: the state and the key have a leading member
  axis (a population): the step is `vmap`ped over the members (all at once),
  or, when `vmap_size` > 0, members run `vmap_size` at a time under a
  `lax.map`, each group through all `num_steps` steps (the same numbers, for
  models whose batched step runs slower than its members one after
  another; 1 runs each member through the single run's unbatched steps);
  metrics are then `[K]` and losses `[num_steps, K]`.
  """
  step = train_step
  if members and not vmap_size:
    step = jax.vmap(train_step, in_axes=(0, 0, None))

  def steps(state: TrainState, key: PRNGKey, data: PyTree = None):
    def body(s, _):
      return step(s, key, data)
    state, metrics = jax.lax.scan(body, state, None, length=num_steps)
    means = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
    return state, means, metrics['loss']

  if not members or not vmap_size:
    return jax.jit(steps, donate_argnums=0)

  def chunk(state: TrainState, key: PRNGKey, data: PyTree = None):
    # Member after member (`vmap_size` at a time), each through all its
    # steps: a member's state is sliced out of the stack and written back
    # once per call, not once per step.
    one = lambda sk: steps(sk[0], sk[1], data)
    state, means, losses = jax.lax.map(
        one, (state, key), batch_size=None if vmap_size == 1 else vmap_size)
    return state, means, losses.T

  return jax.jit(chunk, donate_argnums=0)
