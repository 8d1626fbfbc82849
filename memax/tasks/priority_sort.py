"""The priority sort task (Graves et al. 2014, sec. 4.5).

`num_inputs` random `num_bits`-bit vectors are presented, each with a scalar
priority drawn uniformly from `[-1, 1]` on an extra channel. After a
delimiter the model must emit the `num_outputs` vectors of highest priority,
highest first.

Layout of one example with `N = num_inputs`, `M = num_outputs` (steps `t`):

  inputs `[T, num_bits + 2]`, channels `[bits..., priority, delimiter]`:
    t = 0 .. N-1         vector t and its priority;
    t = N                delimiter = 1;
    t > N                all zero.
  targets `[T, num_bits]`: on `t = N+1 .. N+M` the `M` highest-priority
    vectors sorted by decreasing priority; zero elsewhere.
  mask `[T]`: 1 on those `M` output steps.

Every sequence has the same length, `max_steps = N + M + 1` (37 for the
defaults), so nothing is padded. Ties have probability zero.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Batch, PRNGKey


@dataclasses.dataclass(frozen=True)
class PrioritySort(base.Generator):
  """Priority sort. Input `[B, N+M+1, num_bits+2]`, target `[B, N+M+1, bits]`.

  Attributes:
    num_bits: bits per vector (the paper: 8).
    num_inputs: `N`, vectors presented (20).
    num_outputs: `M`, highest-priority vectors to emit (16), `M <= N`.
  """

  num_bits: int = 8
  num_inputs: int = 20
  num_outputs: int = 16
  name: str = 'priority_sort'

  def __post_init__(self):
    base.check_positive(self.num_bits, 'task.num_bits')
    base.check_range(self.num_outputs, self.num_inputs, 'task.num_outputs',
                     'task.num_inputs')

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits

  @property
  def max_steps(self) -> int:
    return self.num_inputs + self.num_outputs + 1

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, num_bits+2], targets [B, T, num_bits], mask [B, T])`
      with `T = max_steps`.
    """
    del data
    bits_rng, priority_rng = jax.random.split(rng)
    n, m, b = self.num_inputs, self.num_outputs, batch_size
    bits = base.random_bits(bits_rng, (b, n, self.num_bits))
    priority = jax.random.uniform(priority_rng, (b, n), minval=-1.0,
                                  maxval=1.0)
    _, order = jax.lax.top_k(priority, m)  # [B, M], decreasing priority
    ranked = jnp.take_along_axis(bits, order[..., None], axis=1)

    presented = jnp.concatenate(
        [bits, priority[..., None], jnp.zeros((b, n, 1))], axis=-1)
    delimiter = jnp.zeros((b, 1, self.input_size)).at[..., -1].set(1.0)
    inputs = jnp.concatenate(
        [presented, delimiter, jnp.zeros((b, m, self.input_size))], axis=1)
    targets = jnp.concatenate(
        [jnp.zeros((b, n + 1, self.num_bits)), ranked], axis=1)
    mask = jnp.broadcast_to(
        (jnp.arange(self.max_steps) > n).astype(jnp.float32),
        (b, self.max_steps))
    return Batch(inputs=inputs, targets=targets, mask=mask)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'PrioritySort']:
    return {'train': self}
