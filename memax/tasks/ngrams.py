"""The dynamic N-grams task (Graves et al. 2014, sec. 4.4).

Each sequence has its own `order`-gram model: a lookup table of
`2^(order-1)` probabilities drawn independently from Beta(1/2, 1/2), one per
context of `k = order - 1` previous bits. The model sees the sequence one bit
at a time and predicts the next bit, so it must infer the table from the
sequence itself. The paper compares it with the optimal Bayesian estimator

  P(next = 1 | c, N0, N1) = (N1 + 1/2) / (N0 + N1 + 1),

where `c` is the context and `N0`, `N1` count the zeros and ones that followed
`c` earlier in the same sequence.

Generation of `length` bits `b_0 .. b_{length-1}`:
  * `b_0 .. b_{k-1}` are uniform random bits (they have no full context);
  * for `s >= k`, `b_s ~ Bernoulli(table[c_s])` with the context index
    `c_s = sum_{j=1..k} b_{s-j} 2^(j-1)`: the most recent bit is the least
    significant one.

Layout (`T = max_steps = length - 1`, 199 for the defaults):
  inputs `[T, 1]`: `b_t` at step `t`;
  targets `[T, 1]`: `b_{t+1}` at step `t`;
  mask `[T]`: 1 for `t >= k - 1`, i.e. the predictions of `b_k ..
    b_{length-1}` (`length - k` steps, 195 for the defaults; all
    `length - 1` steps when `order = 1`); predicting the uniform bits before
    the first full context is excluded.

The Bayesian counts `N0`, `N1` for context `c` at position `s` run over the
earlier positions `k <= s' < s` with `c_{s'} = c`.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Array, Batch, PRNGKey

# 2^(MAX_ORDER-1) contexts: bounds the table and the one-hot counts in memory.
MAX_ORDER = 12


def context_indices(bits: Array, *, context_size: int) -> Array:
  """Index of the `context_size` bits before each position.

  Args:
    bits: `[B, L]` bits in {0, 1}.
    context_size: `k`, bits of context.

  Returns:
    `[B, L]` int32 `c_s = sum_{j=1..k} b_{s-j} 2^(j-1)`, with bits before the
    start of the sequence taken as 0 (only `s >= k` are full contexts).
  """
  length = bits.shape[1]
  padded = jnp.pad(bits.astype(jnp.int32), ((0, 0), (context_size, 0)))
  index = jnp.zeros(bits.shape, jnp.int32)
  for j in range(1, context_size + 1):  # a loop over context bits, not time
    index += padded[:, context_size - j:context_size - j + length] << (j - 1)
  return index


def optimal_probabilities(bits: Array, *, context_size: int) -> Array:
  """The optimal Bayesian estimator's `P(b_s = 1)` given `b_0 .. b_{s-1}`.

  Args:
    bits: `[B, L]` bits in {0, 1}.
    context_size: `k`, bits of context (`order - 1`).

  Returns:
    `[B, L]` probabilities `(N1 + 1/2) / (N0 + N1 + 1)` for `s >= k`, and 1/2
    for the first `k` positions, which have no full context.
  """
  bits = bits.astype(jnp.float32)
  index = context_indices(bits, context_size=context_size)
  full = (jnp.arange(bits.shape[1]) >= context_size)[None, :, None]
  onehot = jax.nn.one_hot(index, 2**context_size) * full  # [B, L, C]
  ones = onehot * bits[..., None]
  # Exclusive cumulative counts: occurrences strictly before position s.
  seen = jnp.cumsum(onehot, axis=1) - onehot
  seen_ones = jnp.cumsum(ones, axis=1) - ones
  n = jnp.sum(seen * onehot, axis=-1)
  n1 = jnp.sum(seen_ones * onehot, axis=-1)
  p1 = (n1 + 0.5) / (n + 1.0)
  return jnp.where(full[..., 0], p1, 0.5)


@dataclasses.dataclass(frozen=True)
class DynamicNGrams(base.Generator):
  """Dynamic N-grams. Input `[B, length-1, 1]`, target `[B, length-1, 1]`.

  Attributes:
    order: `n` of the n-gram: the next bit depends on the previous `n - 1`
      (the paper: 6); at most `MAX_ORDER`.
    length: bits per sequence (200).
  """

  order: int = 6
  length: int = 200
  name: str = 'ngrams'

  def __post_init__(self):
    base.check_positive(self.order, 'task.order')
    if self.order > MAX_ORDER:
      raise ValueError(f'config.task.order must be at most {MAX_ORDER}, got '
                       f'{self.order!r}.')
    base.check_positive(self.length, 'task.length')
    if self.length < max(self.order, 2):
      raise ValueError(f'config.task.length ({self.length}) must be at least '
                       f'config.task.order ({self.order}) and at least 2.')

  @property
  def context_size(self) -> int:
    return self.order - 1

  @property
  def num_contexts(self) -> int:
    return 2**self.context_size

  @property
  def input_size(self) -> int:
    return 1

  @property
  def output_size(self) -> int:
    return 1

  @property
  def max_steps(self) -> int:
    return self.length - 1

  def sample_sequences(self, rng: PRNGKey,
                       batch_size: int) -> tuple[Array, Array]:
    """Draws a table per sequence and generates the bits with `lax.scan`.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `bits [B, length]` float32 in {0, 1} and `tables [B, 2^(order-1)]`,
      the probability of a 1 after each context index.
    """
    table_rng, bits_rng = jax.random.split(rng)
    tables = jax.random.beta(table_rng, 0.5, 0.5,
                             (batch_size, self.num_contexts))
    uniforms = jax.random.uniform(bits_rng, (self.length, batch_size))
    last_context = self.num_contexts - 1

    def step(context, inputs):  # context: [B] int32, index of the last k bits
      t, u = inputs
      p = jnp.take_along_axis(tables, context[:, None], axis=1)[:, 0]
      p = jnp.where(t < self.context_size, 0.5, p)
      bit = (u < p).astype(jnp.int32)
      return ((context << 1) | bit) & last_context, bit

    _, bits = jax.lax.scan(step, jnp.zeros((batch_size,), jnp.int32),
                           (jnp.arange(self.length), uniforms))
    return bits.T.astype(jnp.float32), tables

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch of next-bit prediction sequences.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, 1], targets [B, T, 1], mask [B, T])` with
      `T = length - 1`.
    """
    del data
    bits, _ = self.sample_sequences(rng, batch_size)
    mask = jnp.arange(self.max_steps) >= self.context_size - 1
    return Batch(
        inputs=bits[:, :-1, None],
        targets=bits[:, 1:, None],
        mask=jnp.broadcast_to(mask.astype(jnp.float32),
                              (batch_size, self.max_steps)))

  loss = staticmethod(base.bit_loss)

  def optimal_cost(self, batch: Batch) -> Array:
    """Cost in bits per sequence of the optimal Bayesian estimator, `[B]`."""
    bits = jnp.concatenate([batch.inputs[:, :1, 0], batch.targets[..., 0]],
                           axis=1)  # [B, length]
    p1 = optimal_probabilities(bits, context_size=self.context_size)[:, 1:]
    target = batch.targets[..., 0]
    p = jnp.where(target > 0.5, p1, 1.0 - p1)
    return -jnp.sum(jnp.log2(p) * batch.mask, axis=-1)

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`cost_bits`, `bit_errors`, `optimal_cost_bits` and `excess_cost_bits`.

    Args:
      logits: `[B, T, 1]` model outputs before the sigmoid.
      batch: a batch from `sample`.

    Returns:
      Means over the batch of per-sequence quantities.
    """
    cost = base.bit_cost(logits, batch)
    optimal = self.optimal_cost(batch)
    return {
        'cost_bits': jnp.mean(cost),
        'bit_errors': jnp.mean(base.bit_errors(logits, batch)),
        'optimal_cost_bits': jnp.mean(optimal),
        'excess_cost_bits': jnp.mean(cost - optimal),
    }

  def variants(self) -> dict[str, 'DynamicNGrams']:
    return {'train': self}
