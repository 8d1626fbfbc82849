"""The copy task (Graves et al. 2014, sec. 4.1).

A sequence of random `num_bits`-bit vectors is presented, followed by a
delimiter flag on an extra input channel; the model must then reproduce the
sequence with no further input. Lengths vary within a batch: every batch is
padded to `2 * max_length + 1` steps and the mask marks the output steps.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Batch, PRNGKey


@dataclasses.dataclass(frozen=True)
class Copy(base.Generator):
  """Copy task. Input `[B, 2L+1, num_bits+1]`, target `[B, 2L+1, num_bits]`.

  Attributes:
    num_bits: bits per vector (the paper: 8).
    min_length: shortest sequence in the training distribution (1).
    max_length: longest sequence in the training distribution (20).
    eval_lengths: lengths of the evaluation variants (20, 40, 80, 120).
    length_per_batch: draw one length for the whole batch (as pytorch-ntm
      does) instead of one per sequence; the batch then records its
      `num_steps` = 2L + 1, and the sequence model skips the padding.
  """

  num_bits: int = 8
  min_length: int = 1
  max_length: int = 20
  eval_lengths: tuple[int, ...] = (20, 40, 80, 120)
  length_per_batch: bool = False
  name: str = 'copy'

  def __post_init__(self):
    base.check_positive(self.num_bits, 'task.num_bits')
    base.check_range(self.min_length, self.max_length, 'task.min_length',
                     'task.max_length')
    for length in self.eval_lengths:
      base.check_positive(length, 'task.eval_lengths')

  @property
  def input_size(self) -> int:
    return self.num_bits + 1

  @property
  def output_size(self) -> int:
    return self.num_bits

  @property
  def max_steps(self) -> int:
    return 2 * self.max_length + 1

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    del data
    length_rng, bits_rng = jax.random.split(rng)
    lengths = jax.random.randint(
        length_rng, (1 if self.length_per_batch else batch_size, 1),
        self.min_length, self.max_length + 1)
    lengths = jnp.broadcast_to(lengths, (batch_size, 1))
    bits = base.random_bits(bits_rng,
                            (batch_size, self.max_length, self.num_bits))
    t = jnp.arange(self.max_steps)[None, :]  # [1, T]
    # Input phase: steps [0, L); delimiter at L; output phase [L+1, 2L+1).
    src = jnp.take_along_axis(
        bits, jnp.clip(t, 0, self.max_length - 1)[..., None], axis=1)
    inputs = jnp.where((t < lengths)[..., None], src, 0.0)
    delimiter = (t == lengths).astype(jnp.float32)[..., None]
    inputs = jnp.concatenate([inputs, delimiter], axis=-1)
    out_index = jnp.clip(t - lengths - 1, 0, self.max_length - 1)
    targets = jnp.take_along_axis(bits, out_index[..., None], axis=1)
    mask = ((t > lengths) & (t <= 2 * lengths)).astype(jnp.float32)
    targets = targets * mask[..., None]
    num_steps = 2 * lengths[0, 0] + 1 if self.length_per_batch else None
    return Batch(inputs=inputs, targets=targets, mask=mask,
                 num_steps=num_steps)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'Copy']:
    return {
        f'length_{n}': dataclasses.replace(self, min_length=n, max_length=n)
        for n in self.eval_lengths
    }
