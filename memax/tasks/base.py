"""The task contract and the loss and metrics shared by the bit-sequence tasks.

A task samples batches on the device from a `jax.random` key, inside the jitted
train step, and scores a model's outputs. It never knows the model.
"""

import math
from typing import Mapping, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from memax.types import Array, Batch, PRNGKey, PyTree

LN2 = math.log(2.0)


class Sampled(NamedTuple):
  """An evaluation on fresh batches drawn from `task` (e.g. copy at 120)."""

  task: 'Task'


class Exhaustive(NamedTuple):
  """An evaluation on every example of a dataset split once (bAbI test)."""

  split: str


class Task(Protocol):
  """What the training loop and evaluation need from a task.

  Attributes:
    name: registry name of the task.
    input_size: `D`, features per input step (a vocabulary for QA).
    output_size: `O`, features per output step (logits).
    max_steps: `T`, the padded sequence length of every batch.
    num_examples: training examples of a finite dataset; None for a task
      generated on the fly (it has no epochs).
  """

  name: str
  input_size: int
  output_size: int
  max_steps: int
  num_examples: int | None

  def device_data(self) -> PyTree:
    """Arrays the task samples from, passed INTO every jit (None if none)."""

  def sample(self, rng: PRNGKey, batch_size: int, data: PyTree = None
             ) -> Batch:
    """An independent batch of `batch_size` examples; pure and jittable."""

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree) -> Batch:
    """The batch of train step `step` of the run keyed by `key`; pure."""

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Scalar training loss."""

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """Scalar metrics (means over the batch)."""

  def probabilities(self, logits: Array) -> Array:
    """The model's predicted probabilities (for metrics and plots)."""

  def evals(self) -> Mapping[str, Sampled | Exhaustive]:
    """The task's evaluations by name; 'train' is the training data."""


def step_keys(key: PRNGKey, step: Array) -> tuple[PRNGKey, PRNGKey]:
  """`(data, model)` keys of train step `step` of the run keyed by `key`."""
  data_key, model_key = jax.random.split(jax.random.fold_in(key, step))
  return data_key, model_key


class Generator:
  """Defaults of the task contract for tasks generated on the device.

  Their batches are drawn from a key alone (`sample`); variants (e.g. longer
  sequences) are evaluated on fresh batches; outputs are independent bits.
  """

  num_examples = None

  def device_data(self) -> None:
    return None

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree = None) -> Batch:
    del data
    return self.sample(step_keys(key, step)[0], batch_size)

  def probabilities(self, logits: Array) -> Array:
    return jax.nn.sigmoid(logits)

  def variants(self) -> Mapping[str, 'Task']:
    return {}

  def evals(self) -> dict[str, Sampled]:
    return {'train': Sampled(self),
            **{k: Sampled(v) for k, v in self.variants().items()}}


def bit_cost(logits: Array, batch: Batch) -> Array:
  """Cost in bits per sequence: masked binary cross-entropy, `[B]`.

  Args:
    logits: `[B, T, O]` model outputs before the sigmoid.
    batch: targets `[B, T, O]` in {0, 1}, mask `[B, T]`.

  Returns:
    `[B]` summed `-log2 p(target)` over the masked steps and all bits.
  """
  xent = optax.sigmoid_binary_cross_entropy(logits, batch.targets)
  return jnp.sum(xent.sum(-1) * batch.mask, axis=-1) / LN2


def bit_errors(logits: Array, batch: Batch) -> Array:
  """Bit errors per sequence after thresholding the output at 0.5, `[B]`."""
  predicted = (logits > 0.0).astype(batch.targets.dtype)
  wrong = jnp.abs(predicted - batch.targets).sum(-1)
  return jnp.sum(wrong * batch.mask, axis=-1)


def bit_loss(logits: Array, batch: Batch) -> Array:
  """Mean over the batch of the cost in bits per sequence."""
  return jnp.mean(bit_cost(logits, batch))


def bit_metrics(logits: Array, batch: Batch) -> dict[str, Array]:
  """`cost_bits` and `bit_errors` per sequence, averaged over the batch, and
  `perfect`: the fraction of the batch's sequences without a bit error (the
  DNC paper's Extended Data Fig. 4 plots it for copy)."""
  errors = bit_errors(logits, batch)
  return {
      'cost_bits': jnp.mean(bit_cost(logits, batch)),
      'bit_errors': jnp.mean(errors),
      'perfect': jnp.mean((errors == 0).astype(jnp.float32)),
  }


def categorical_xent(logits: Array, batch: Batch) -> Array:
  """Cross-entropy of integer class targets, `[B]` (or `[B, T]`)."""
  return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                         batch.targets)


def categorical_loss(logits: Array, batch: Batch, *,
                     reduction: str = 'mean') -> Array:
  """Masked softmax cross-entropy, summed or averaged over the batch.

  Args:
    logits: `[B, V]` (or `[B, T, V]`).
    batch: integer `targets` `[B]` (`[B, T]`) and `mask` of the same shape.
    reduction: 'mean' over the masked examples, or 'sum' (MemN2N sec. 4.2:
      "cost is not averaged over a batch").
  """
  total = jnp.sum(categorical_xent(logits, batch) * batch.mask)
  if reduction == 'sum':
    return total
  return total / jnp.maximum(jnp.sum(batch.mask), 1.0)


def categorical_metrics(logits: Array, batch: Batch) -> dict[str, Array]:
  """`error`: the masked fraction of wrong argmax predictions."""
  wrong = (jnp.argmax(logits, -1) != batch.targets).astype(jnp.float32)
  count = jnp.maximum(jnp.sum(batch.mask), 1.0)
  return {'error': jnp.sum(wrong * batch.mask) / count}


def categorical_per_example(logits: Array, batch: Batch) -> dict[str, Array]:
  """Per-example `correct`, `loss`, `prediction` and `mask`, `[B]` each."""
  prediction = jnp.argmax(logits, -1)
  return {'correct': prediction == batch.targets,
          'loss': categorical_xent(logits, batch),
          'prediction': prediction, 'mask': batch.mask}


def random_bits(rng: PRNGKey, shape: tuple[int, ...]) -> Array:
  """Uniform random bits in {0., 1.} as float32."""
  return jax.random.bernoulli(rng, 0.5, shape).astype(jnp.float32)


def check_positive(value: int, field: str) -> None:
  """Raises a ValueError naming the config field unless `value >= 1`."""
  if not isinstance(value, int) or value < 1:
    raise ValueError(f'config.{field} must be a positive integer, got '
                     f'{value!r}.')


def check_range(lo: int, hi: int, lo_field: str, hi_field: str) -> None:
  """Checks `1 <= lo <= hi` and names both config fields otherwise."""
  check_positive(lo, lo_field)
  check_positive(hi, hi_field)
  if lo > hi:
    raise ValueError(f'config.{lo_field} ({lo}) must not exceed '
                     f'config.{hi_field} ({hi}).')
