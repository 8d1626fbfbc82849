"""The representation recall task (Park, Choi & Lee 2021, DAM).

`K = num_items` items of `S * s` bits (`S = num_segments` segments of `s =
segment_size` bits; 8 x 8 = 64 bits) are stored; then `q` queries follow,
`q` uniform in `min_queries .. max_queries`. Each query is a stored item
(drawn with replacement) with exactly `S / 2` of its segments, chosen
uniformly, set to zero; the model must emit the bits of the zeroed segments,
in segment order, at the query's own step. The items are distinct in every
segment (for each segment index, no two items share its `s` bits), so the
visible half of a query identifies the item. For each segment the `K`
values are drawn without replacement from `1 .. 2^s - 1`
(`omniglot.distinct_integers`, `O(K^2 log K)`, no rejection loop); a value's
bits are written most significant first. No segment is all zero, so a
visible segment never looks like a zeroed one: taewonpark/DAM's generator
(loader.py, `RepresentationRecall`) also draws from 1 up, with NumPy's
`randint(1, 2^s - 1)`, whose exclusive upper bound also leaves out the
all-ones value; we keep that value.

Layout of one example (`Q = max_queries`, time steps `t`):

  inputs `[T, S*s + 2]`, channels `[bits..., input_flag, query_flag]`:
    t = 0                  input_flag = 1, no bits;
    t = 1 .. K             item t-1;
    t = K + 1              query_flag = 1, no bits;
    t = K + 2 + j          query j (its item, half the segments zeroed),
                           for j = 0 .. q-1;
    t >= K + 2 + q         all zero.
  targets `[T, S*s/2]`: at query step `K + 2 + j`, the bits of query `j`'s
    zeroed segments in increasing segment order; zero elsewhere.
  mask `[T]`: 1 on the `q` query steps only.

Every batch is padded to `max_steps = K + 2 + max_queries` (26 for the
defaults). Outputs are independent bits (sigmoid): `base.bit_loss` and
`base.bit_metrics`. Variants: `eval_queries` (none by default, the paper
reports the training distribution), each `queries_<n>` with exactly `n`
queries.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.tasks import omniglot
from memax.types import Array, Batch, PRNGKey

_MAX_SEGMENT_SIZE = 30  # segment values are int32 codes.


@dataclasses.dataclass(frozen=True)
class RepresentationRecall(base.Generator):
  """Representation recall. Input `[B, T, S*s+2]`, target `[B, T, S*s/2]`.

  Attributes:
    num_items: `K`, stored items (8).
    num_segments: `S`, segments per item, even (8).
    segment_size: `s`, bits per segment (8); `2^s >= K`.
    min_queries: fewest queries in the training distribution (8).
    max_queries: most queries in the training distribution (16).
    eval_queries: query counts of the evaluation variants (none).
  """

  num_items: int = 8
  num_segments: int = 8
  segment_size: int = 8
  min_queries: int = 8
  max_queries: int = 16
  eval_queries: tuple[int, ...] = ()
  name: str = 'representation_recall'

  def __post_init__(self):
    base.check_positive(self.num_items, 'task.num_items')
    base.check_positive(self.num_segments, 'task.num_segments')
    if self.num_segments % 2:
      raise ValueError('config.task.num_segments must be even (half the '
                       f'segments of a query are zeroed), got '
                       f'{self.num_segments!r}.')
    base.check_positive(self.segment_size, 'task.segment_size')
    if self.segment_size > _MAX_SEGMENT_SIZE:
      raise ValueError(f'config.task.segment_size must be at most '
                       f'{_MAX_SEGMENT_SIZE}, got {self.segment_size!r}.')
    if 2 ** self.segment_size - 1 < self.num_items:
      raise ValueError(
          f'config.task.segment_size={self.segment_size} has '
          f'{2 ** self.segment_size - 1} non-zero values, fewer than '
          f'config.task.num_items={self.num_items}: the items cannot be '
          'distinct in every segment.')
    base.check_range(self.min_queries, self.max_queries, 'task.min_queries',
                     'task.max_queries')
    for queries in self.eval_queries:
      base.check_positive(queries, 'task.eval_queries')
    object.__setattr__(self, 'eval_queries', tuple(self.eval_queries))

  @property
  def item_size(self) -> int:
    """Bits per item, `S * s`."""
    return self.num_segments * self.segment_size

  @property
  def input_size(self) -> int:
    return self.item_size + 2

  @property
  def output_size(self) -> int:
    return self.item_size // 2

  @property
  def max_steps(self) -> int:
    return self.num_items + 2 + self.max_queries

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch; the number of queries varies per example.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, S*s+2], targets [B, T, S*s/2], mask [B, T])` with
      `T = max_steps`.
    """
    del data
    k, n_seg, s, q_max = (self.num_items, self.num_segments,
                          self.segment_size, self.max_queries)
    half = n_seg // 2
    seg_rng, count_rng, which_rng, zero_rng = jax.random.split(rng, 4)
    # For every example and segment, K distinct values: [B, S, K] -> [B, K, S].
    seg_keys = jax.random.split(seg_rng, (batch_size, n_seg))
    values = jax.vmap(jax.vmap(
        lambda key: omniglot.distinct_integers(key, 2 ** s - 1, k) + 1))(
            seg_keys)
    values = jnp.swapaxes(values, 1, 2)
    shifts = s - 1 - jnp.arange(s)
    items = ((values[..., None] >> shifts) & 1).astype(jnp.float32)
    # items: [B, K, S, s].

    num_queries = jax.random.randint(count_rng, (batch_size, 1),
                                     self.min_queries, q_max + 1)  # [B, 1]
    active = jnp.arange(q_max)[None, :] < num_queries  # [B, Q]
    which = jax.random.randint(which_rng, (batch_size, q_max), 0, k)
    shown = jnp.take_along_axis(items, which[:, :, None, None], axis=1)
    # shown: [B, Q, S, s]. Zero S/2 segments chosen uniformly: the ranks of
    # S uniform keys are a uniform permutation.
    rank = jnp.argsort(jnp.argsort(
        jax.random.uniform(zero_rng, (batch_size, q_max, n_seg)), axis=-1),
                       axis=-1)
    zeroed = rank < half  # [B, Q, S]
    query = jnp.where(zeroed[..., None], 0.0, shown)
    # The zeroed segments' indices in increasing order, [B, Q, S/2].
    hidden = jnp.argsort(~zeroed, axis=-1, stable=True)[..., :half]
    answer = jnp.take_along_axis(shown, hidden[..., None], axis=2)
    on = active[..., None]
    query = jnp.where(on, query.reshape(batch_size, q_max, -1), 0.0)
    answer = jnp.where(on, answer.reshape(batch_size, q_max, -1), 0.0)

    def flag(channel):  # a delimiter row, [B, 1, S*s + 2].
      row = jnp.zeros((self.input_size,), jnp.float32).at[channel].set(1.0)
      return jnp.broadcast_to(row, (batch_size, 1, self.input_size))

    no_flags = lambda x: jnp.pad(x, ((0, 0), (0, 0), (0, 2)))
    inputs = jnp.concatenate([
        flag(self.item_size),
        no_flags(items.reshape(batch_size, k, self.item_size)),
        flag(self.item_size + 1),
        no_flags(query),
    ], axis=1)
    targets = jnp.pad(answer, ((0, 0), (k + 2, 0), (0, 0)))
    mask = jnp.pad(active.astype(jnp.float32), ((0, 0), (k + 2, 0)))
    return Batch(inputs=inputs, targets=targets, mask=mask)

  # The memory refreshing loss (`memax.tasks.refresh`).
  refresh_reconstruction = 'bits'
  refresh_alpha = 'per_target'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: no step's input is to be reproduced (all zeros)."""
    return jnp.zeros_like(batch.mask)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'RepresentationRecall']:
    return {
        f'queries_{n}': dataclasses.replace(self, min_queries=n,
                                            max_queries=n)
        for n in self.eval_queries
    }
