"""The repeat copy task (Graves et al. 2014, sec. 4.2).

A random-length sequence of random `num_bits`-bit vectors is presented,
followed by a scalar on its own channel giving the number of copies wanted.
The model must emit the sequence that many times and then an end marker, so
it has to read the count and keep track of the copies it has made.

Layout of one example with length `L` and `R` repeats (time steps `t`):

  inputs `[T, num_bits + 2]`, channels `[bits..., start, count]`:
    t = 0                start channel = 1;
    t = 1 .. L           the `L` vectors on the bit channels;
    t = L + 1            count channel = `R / repeat_normaliser`;
    t > L + 1            all zero.
  targets `[T, num_bits + 1]`, channels `[bits..., end]`:
    t = L+2 .. L+1+R*L   the sequence, repeated `R` times;
    t = L + 2 + R*L      end channel = 1, bit channels = 0;
    elsewhere            all zero.
  mask `[T]`: 1 on `t = L+2 .. L+2+R*L` (`R*L + 1` steps), so the end
    channel must also be 0 during the copies.

Every batch is padded to `max_steps = max_length * max_repeats + max_length
+ 3` steps (113 for the defaults). The count is divided by the fixed
`repeat_normaliser` (the training `max_repeats`), not by the `max_repeats` of
the task itself, so evaluation variants with more repeats present the count on
the scale the model was trained on (20 repeats show as 2.0).
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Batch, PRNGKey


@dataclasses.dataclass(frozen=True)
class RepeatCopy(base.Generator):
  """Repeat copy. Input `[B, T, num_bits+2]`, target `[B, T, num_bits+1]`.

  Attributes:
    num_bits: bits per vector (the paper: 8).
    min_length: shortest sequence in the training distribution (1).
    max_length: longest sequence in the training distribution (10).
    min_repeats: fewest repeats in the training distribution (1).
    max_repeats: most repeats in the training distribution (10).
    repeat_normaliser: the count channel shows `repeats / repeat_normaliser`;
      kept fixed across variants (the training `max_repeats`, 10).
    eval_settings: `(length, repeats)` pairs of the evaluation variants.
  """

  num_bits: int = 8
  min_length: int = 1
  max_length: int = 10
  min_repeats: int = 1
  max_repeats: int = 10
  repeat_normaliser: int = 10
  eval_settings: tuple[tuple[int, int], ...] = ((10, 10), (20, 20))
  name: str = 'repeat_copy'

  def __post_init__(self):
    base.check_positive(self.num_bits, 'task.num_bits')
    base.check_range(self.min_length, self.max_length, 'task.min_length',
                     'task.max_length')
    base.check_range(self.min_repeats, self.max_repeats, 'task.min_repeats',
                     'task.max_repeats')
    base.check_positive(self.repeat_normaliser, 'task.repeat_normaliser')
    settings = []
    for setting in self.eval_settings:
      if len(setting) != 2:
        raise ValueError('config.task.eval_settings must hold (length, '
                         f'repeats) pairs, got {setting!r}.')
      for value in setting:
        base.check_positive(value, 'task.eval_settings')
      settings.append(tuple(setting))
    # Configs may hand over lists; keep the dataclass hashable for jit.
    object.__setattr__(self, 'eval_settings', tuple(settings))

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits + 1

  @property
  def max_steps(self) -> int:
    return self.max_length * self.max_repeats + self.max_length + 3

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch; lengths and repeats vary per example.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, num_bits+2], targets [B, T, num_bits+1],
      mask [B, T])` with `T = max_steps`.
    """
    del data
    length_rng, repeat_rng, bits_rng = jax.random.split(rng, 3)
    lengths = jax.random.randint(length_rng, (batch_size, 1), self.min_length,
                                 self.max_length + 1)  # [B, 1]
    repeats = jax.random.randint(repeat_rng, (batch_size, 1),
                                 self.min_repeats, self.max_repeats + 1)
    bits = base.random_bits(bits_rng,
                            (batch_size, self.max_length, self.num_bits))
    t = jnp.arange(self.max_steps)[None, :]  # [1, T]

    def gather(index):  # [B, T] -> [B, T, num_bits]
      index = jnp.clip(index, 0, self.max_length - 1)
      return jnp.take_along_axis(bits, index[..., None], axis=1)

    presented = (t >= 1) & (t <= lengths)
    start = (t == 0).astype(jnp.float32)
    count = jnp.where(t == lengths + 1,
                      repeats.astype(jnp.float32) / self.repeat_normaliser,
                      0.0)
    inputs = jnp.concatenate([
        jnp.where(presented[..., None], gather(t - 1), 0.0),
        jnp.broadcast_to(start, count.shape)[..., None],
        count[..., None],
    ], axis=-1)

    first_out = lengths + 2
    end = first_out + repeats * lengths
    copying = (t >= first_out) & (t < end)
    targets = jnp.concatenate([
        jnp.where(copying[..., None], gather((t - first_out) % lengths), 0.0),
        (t == end).astype(jnp.float32)[..., None],
    ], axis=-1)
    mask = ((t >= first_out) & (t <= end)).astype(jnp.float32)
    return Batch(inputs=inputs, targets=targets, mask=mask)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'RepeatCopy']:
    return {
        f'length_{length}_repeats_{repeats}': dataclasses.replace(
            self, min_length=length, max_length=length, min_repeats=repeats,
            max_repeats=repeats)
        for length, repeats in self.eval_settings
    }
