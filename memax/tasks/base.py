"""The task contract and the loss and metrics shared by the bit-sequence tasks.

A task samples batches on the device from a `jax.random` key, inside the jitted
train step, and scores a model's outputs. It never knows the model.
"""

import math
from typing import Mapping, Protocol

import jax
import jax.numpy as jnp
import optax

from memax.types import Array, Batch, PRNGKey

LN2 = math.log(2.0)


class Task(Protocol):
  """What the training loop needs from a task.

  Attributes:
    name: registry name of the task.
    input_size: `D`, features per input step.
    output_size: `O`, features per output step (logits).
    max_steps: `T`, the padded sequence length of every batch.
  """

  name: str
  input_size: int
  output_size: int
  max_steps: int

  def sample(self, rng: PRNGKey, batch_size: int) -> Batch:
    """Returns a `Batch` of `batch_size` examples; pure and jittable."""

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Scalar training loss for `[B, T, O]` logits."""

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """Scalar metrics (means over the batch)."""

  def variants(self) -> Mapping[str, 'Task']:
    """Evaluation settings by name, e.g. `{'length_120': <copy task>}`."""


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
  """`cost_bits` and `bit_errors` per sequence, averaged over the batch."""
  return {
      'cost_bits': jnp.mean(bit_cost(logits, batch)),
      'bit_errors': jnp.mean(bit_errors(logits, batch)),
  }


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
