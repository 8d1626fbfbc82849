"""The copy task (Graves et al. 2014, sec. 4.1), one or several in a row.

A sequence of random `num_bits`-bit vectors is presented, followed by a
delimiter flag on an extra input channel; the model must then reproduce the
sequence with no further input. Lengths vary within a batch: every batch is
padded to `2 * max_length + 1` steps and the mask marks the output steps.

With `num_sequences = S > 1` (the DNC paper's Extended Data Fig. 1, "a
series of 10 random sequences"), S such copies follow each other without a
gap: sequence i's vectors, its delimiter, its copy, then sequence i + 1's
first vector. Each sequence draws its own length; the series is padded at
its end to `S * (2 * max_length + 1)` steps. Once a sequence is copied it is
never needed again, so a memory smaller than the series (the paper: 10
slots for 50 vectors) must be freed and reused. `bit_errors` counts the
whole series of a batch row.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Array, Batch, PRNGKey


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
      With several sequences, one length per position in the series.
    num_sequences: copies in a row in one batch row (1).
    eval_sequences: series lengths of extra evaluation variants
      (`sequences_<n>`, training lengths), e.g. more sequences than the
      memory can hold at once.
  """

  num_bits: int = 8
  min_length: int = 1
  max_length: int = 20
  eval_lengths: tuple[int, ...] = (20, 40, 80, 120)
  length_per_batch: bool = False
  num_sequences: int = 1
  eval_sequences: tuple[int, ...] = ()
  name: str = 'copy'

  def __post_init__(self):
    base.check_positive(self.num_bits, 'task.num_bits')
    base.check_range(self.min_length, self.max_length, 'task.min_length',
                     'task.max_length')
    for length in self.eval_lengths:
      base.check_positive(length, 'task.eval_lengths')
    base.check_positive(self.num_sequences, 'task.num_sequences')
    for count in self.eval_sequences:
      base.check_positive(count, 'task.eval_sequences')

  @property
  def input_size(self) -> int:
    return self.num_bits + 1

  @property
  def output_size(self) -> int:
    return self.num_bits

  @property
  def max_steps(self) -> int:
    return self.num_sequences * (2 * self.max_length + 1)

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    del data
    num_seq, max_len = self.num_sequences, self.max_length
    length_rng, bits_rng = jax.random.split(rng)
    lengths = jax.random.randint(
        length_rng, (1 if self.length_per_batch else batch_size, num_seq),
        self.min_length, max_len + 1)
    lengths = jnp.broadcast_to(lengths, (batch_size, num_seq))  # [B, S]
    # Sequence i's vectors are rows [i L, i L + L) of `bits`.
    bits = base.random_bits(bits_rng,
                            (batch_size, num_seq * max_len, self.num_bits))
    ends = jnp.cumsum(2 * lengths + 1, axis=-1)  # [B, S]: each copy's end.
    t = jnp.arange(self.max_steps)[None, :]  # [1, T]
    # The sequence that step t belongs to (S: the padding after the last).
    seq = jnp.sum(t[..., None] >= ends[:, None, :], axis=-1)  # [B, T]
    in_series = seq < num_seq
    seq = jnp.minimum(seq, num_seq - 1)
    length = jnp.take_along_axis(lengths, seq, axis=1)  # [B, T]
    tau = t - (jnp.take_along_axis(ends, seq, axis=1) - 2 * length - 1)
    # Within a sequence: input phase tau in [0, L); delimiter at L; output
    # phase (L, 2L].
    def rows(index):
      index = seq * max_len + jnp.clip(index, 0, max_len - 1)
      return jnp.take_along_axis(bits, index[..., None], axis=1)

    inputs = jnp.where((in_series & (tau < length))[..., None], rows(tau),
                       0.0)
    delimiter = (in_series & (tau == length)).astype(jnp.float32)[..., None]
    inputs = jnp.concatenate([inputs, delimiter], axis=-1)
    mask = (in_series & (tau > length) & (tau <= 2 * length)).astype(
        jnp.float32)
    targets = rows(tau - length - 1) * mask[..., None]
    num_steps = ends[0, -1] if self.length_per_batch else None
    return Batch(inputs=inputs, targets=targets, mask=mask,
                 num_steps=num_steps)

  # The memory refreshing loss (`memax.tasks.refresh`).
  refresh_reconstruction = 'bits'
  refresh_alpha = 'per_target'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: the data rows of the input phases (neither a
    delimiter nor an output step, nor the padding after the last output)."""
    delimiter = batch.inputs[..., -1]
    # Steps up to the last output step: a reversed cumulative sum.
    before_end = jnp.cumsum(batch.mask[..., ::-1], axis=-1)[..., ::-1] > 0
    return (before_end & (delimiter == 0) & (batch.mask == 0)).astype(
        jnp.float32)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'Copy']:
    out = {
        f'length_{n}': dataclasses.replace(self, min_length=n, max_length=n)
        for n in self.eval_lengths
    }
    out.update({f'sequences_{n}': dataclasses.replace(self, num_sequences=n)
                for n in self.eval_sequences})
    return out
