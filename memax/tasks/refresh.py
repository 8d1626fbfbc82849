"""The memory refreshing loss (Park, Choi & Lee 2021, DAM), around any task.

At input steps drawn Bernoulli(`p_re`) among the steps that the task marks
as refreshable, the model must also reproduce that step's own input. The
training loss is `alpha * task loss + refresh loss`, where `alpha`, a
ratio of counts in the batch, keeps the task's share from shrinking as
more steps are refreshed. `Refreshing(task, p_re)` is a task: the trainer
wraps the configured task in it when `config.train.refresh_probability` is
above 0, and it works with every recurrent model (DAM, the DNC, the NTM,
the LSTM), not only DAM.

A task that supports the loss declares three things:

- `refresh_steps(batch) -> [B, T]`: 1.0 at the refreshable input steps;
- `refresh_reconstruction`: how a step's input is reproduced:
  - 'bits': the task's own output units (sigmoid) predict the first `O`
    features of the input, the cost summed over them in bits, as the
    task's `bit_loss` (copy, associative recall: the data rows);
  - 'squared': `D` extra output units after the task's `O` predict the
    whole input `[D]`, the squared error averaged over its features
    (N-th farthest, convex hull);
  - 'softmax': the task's output distribution predicts the input token
    (word-level bAbI: token ids `[B, T]`, or one-hot `[B, T, V]`);
- `refresh_alpha`, from `R` refreshed steps in the batch, `A` target steps
  (the mask's sum) and `B` examples:
  - 'per_target': `max(1, R / A)` (copy, associative recall, convex hull);
  - 'per_example': `max(1, R / B)` (N-th farthest);
  - 'per_target_unfloored': `R / A` (bAbI: no floor, as the code).

Normalisation. taewonpark/DAM averages both terms over the batch's `B x T`
steps (its squared error also over the `D` features). memax's task losses
are normalised by their own count (`bit_loss` by `B`, the categorical
losses by `A`), so the refresh loss here is divided by that same count
(times `D` for 'squared'): the ratio of the two terms is the code's, their
absolute scale is not (`configs/dam.py` says by how much, and what that
changes).

The refresh loss is the model output's named term 'refresh', logged on its
own; the logged task loss is the task's alone (without `alpha`), and
`alpha` is logged as `refresh_alpha`. Evaluation never refreshes: it runs
the task's own evaluations on the task's part of the outputs.
"""

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from memax.tasks import base
from memax.types import Array, Batch, PRNGKey, PyTree

RECONSTRUCTIONS = ('bits', 'squared', 'softmax')
ALPHAS = ('per_target', 'per_example', 'per_target_unfloored')


def check_supported(task: Any) -> None:
  """Raises a ValueError naming `config.train.refresh_probability` unless
  `task` declares the refreshing loss (the module docstring)."""
  missing = [a for a in ('refresh_steps', 'refresh_reconstruction',
                         'refresh_alpha') if not hasattr(task, a)]
  if missing:
    raise ValueError(
        f'config.train.refresh_probability > 0 needs a task that declares '
        f'the memory refreshing loss; task {task.name!r} lacks {missing}.')
  if task.refresh_reconstruction not in RECONSTRUCTIONS:
    raise ValueError(f'task {task.name!r}: refresh_reconstruction must be '
                     f'one of {RECONSTRUCTIONS}, got '
                     f'{task.refresh_reconstruction!r}.')
  if task.refresh_alpha not in ALPHAS:
    raise ValueError(f'task {task.name!r}: refresh_alpha must be one of '
                     f'{ALPHAS}, got {task.refresh_alpha!r}.')


class _TaskView:
  """A view of `self.task` whose outputs begin with the task's: every
  attribute it does not define is the task's (name, sizes, batches, ...)."""

  _fields = ('task',)  # a dataclass's own fields (never delegated)

  def __getattr__(self, name: str) -> Any:
    if name.startswith('__') or name in self._fields:
      raise AttributeError(name)
    return getattr(self.task, name)

  def task_logits(self, logits: Array) -> Array:
    """The task's part of the outputs, `[..., O]`."""
    return logits[..., :self.task.output_size]

  def probabilities(self, logits: Array) -> Array:
    return self.task.probabilities(self.task_logits(logits))


@dataclasses.dataclass(frozen=True)
class Refreshing(_TaskView):
  """`task` trained with the memory refreshing loss at probability `p_re`.

  Its batches carry `refresh [B, T]`, the drawn steps; its outputs are the
  task's `O` (plus `D` for 'squared' reconstruction). Every other attribute
  is the task's.

  Attributes:
    task: a task that declares the loss (`check_supported`).
    p_re: the probability that a refreshable step is refreshed, in (0, 1].
  """

  task: Any
  p_re: float

  # The named terms of `loss_terms`.
  loss_term_names = ('task', 'refresh')
  _fields = ('task', 'p_re')

  def __post_init__(self):
    if (isinstance(self.p_re, bool) or not isinstance(self.p_re, (int, float))
        or not 0 < self.p_re <= 1):
      raise ValueError('config.train.refresh_probability must be in (0, 1] '
                       f'(0 turns the loss off), got {self.p_re!r}.')
    check_supported(self.task)

  @property
  def output_size(self) -> int:
    extra = (self.task.input_size
             if self.task.refresh_reconstruction == 'squared' else 0)
    return self.task.output_size + extra

  # ---- batches ----------------------------------------------------------

  def _draw(self, rng: PRNGKey, batch: Batch) -> Batch:
    steps = self.task.refresh_steps(batch)
    drawn = jax.random.bernoulli(rng, self.p_re, steps.shape)
    return batch._replace(refresh=jnp.where(drawn, steps, 0.0))

  def sample(self, rng: PRNGKey, batch_size: int, data: PyTree = None
             ) -> Batch:
    task_rng, refresh_rng = jax.random.split(rng)
    return self._draw(refresh_rng,
                      self.task.sample(task_rng, batch_size, data))

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree = None) -> Batch:
    # The task's batch of this step, as without the loss; the refreshed
    # steps from a key of their own.
    batch = self.task.train_batch(key, step, batch_size, data)
    return self._draw(jax.random.fold_in(base.step_keys(key, step)[1], 7),
                      batch)

  # ---- the loss ---------------------------------------------------------

  def _task_batch(self, batch: Batch) -> Batch:
    return batch._replace(refresh=None)

  def loss(self, logits: Array, batch: Batch) -> Array:
    """The task's loss alone (no `alpha`, no refreshing)."""
    return self.task.loss(self.task_logits(logits), self._task_batch(batch))

  def alpha(self, batch: Batch) -> Array:
    """`alpha` of the batch (`refresh_alpha`), a constant of the data."""
    refreshed = jnp.sum(batch.refresh)
    kind = self.task.refresh_alpha
    count = (batch.mask.shape[0] if kind == 'per_example'
             else jnp.sum(batch.mask))
    ratio = refreshed / jnp.maximum(count, 1.0)
    return ratio if kind == 'per_target_unfloored' else jnp.maximum(ratio, 1.0)

  def refresh_loss(self, logits: Array, batch: Batch) -> Array:
    """The reconstruction cost of the refreshed steps (module docstring)."""
    kind = self.task.refresh_reconstruction
    o = self.task.output_size
    if kind == 'bits':
      inputs = batch.inputs[..., :o]
      cost = optax.sigmoid_binary_cross_entropy(
          logits[..., :o], inputs).sum(-1) / base.LN2
      count = batch.mask.shape[0]
    elif kind == 'squared':
      cost = jnp.mean(jnp.square(logits[..., o:] - batch.inputs), axis=-1)
      count = jnp.sum(batch.mask)
    else:  # token ids [B, T], or one-hot [B, T, V] (padding all zero)
      ids = (batch.inputs if batch.inputs.ndim == batch.mask.ndim
             else jnp.argmax(batch.inputs, -1))
      cost = optax.softmax_cross_entropy_with_integer_labels(
          logits[..., :o], jnp.maximum(ids, 0))
      count = jnp.sum(batch.mask)
    return jnp.sum(cost * batch.refresh) / jnp.maximum(count, 1.0)

  def loss_terms(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`{'task': task loss, 'refresh': refresh loss}` (logged as they are)."""
    return {'task': self.loss(logits, batch),
            'refresh': self.refresh_loss(logits, batch)}

  def loss_scales(self, batch: Batch) -> dict[str, Array]:
    """`{'task': alpha}`: the factor of the task's term in the total."""
    return {'task': jax.lax.stop_gradient(self.alpha(batch))}

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    out = dict(self.task.metrics(self.task_logits(logits),
                                 self._task_batch(batch)))
    if batch.refresh is not None:
      out['refresh_alpha'] = self.alpha(batch)
      out['refreshed_steps'] = jnp.sum(batch.refresh) / batch.mask.shape[0]
    return out

  # ---- evaluation: the task's, on the task's outputs ----------------------

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    return self.task.per_example(self.task_logits(logits), batch)

  def evals(self) -> Mapping[str, base.Sampled | base.Exhaustive]:
    """The task's evaluations; a sampled one runs the task's variant on
    the task's outputs (`Outputs`), never refreshing."""
    return {name: (base.Sampled(Outputs(spec.task, self.output_size))
                   if isinstance(spec, base.Sampled) else spec)
            for name, spec in self.task.evals().items()}


@dataclasses.dataclass(frozen=True)
class Outputs(_TaskView):
  """`task` scored on the first `task.output_size` of `output_size`
  outputs: a model trained with extra (refreshing) outputs, evaluated."""

  task: Any
  output_size: int

  _fields = ('task', 'output_size')

  def loss(self, logits: Array, batch: Batch) -> Array:
    return self.task.loss(self.task_logits(logits), batch)

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    return self.task.metrics(self.task_logits(logits), batch)


def wrap(task: Any, p_re: float) -> Any:
  """`task` itself for `p_re == 0` (the loss off), else `Refreshing`."""
  return task if p_re == 0 else Refreshing(task, p_re)
