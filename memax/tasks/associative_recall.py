"""The associative recall task (Graves et al. 2014, sec. 4.3).

An item is `item_length` random `num_bits`-bit vectors. A random number of
items is presented, each opened by an item delimiter; then one of them (the
query, never the last item) is shown again between two query delimiters, and
the model must emit the item that followed the query in the sequence.

Layout of one example with `K` items of `l = item_length` vectors, query item
`q` (uniform in `0 .. K-2`), and `s = l + 1` (time steps `t`):

  inputs `[T, num_bits + 2]`, channels `[bits..., item_delim, query_delim]`:
    t = k*s              item_delim = 1, for item k = 0 .. K-1;
    t = k*s + 1 .. k*s+l the l vectors of item k;
    t = K*s              query_delim = 1;
    t = K*s + 1 .. K*s+l the l vectors of item q;
    t = K*s + l + 1      query_delim = 1 (closes the query);
    t > K*s + l + 1      all zero.
  targets `[T, num_bits]`: the l vectors of item `q + 1` on
    `t = K*s + l + 2 .. K*s + 2l + 1`, zero elsewhere.
  mask `[T]`: 1 on those `l` output steps only.

An example uses `(K + 2) * s` steps; every batch is padded to `max_steps =
(max_items + 2) * (item_length + 1)` (32 for the defaults). Items are drawn
independently, so two items coincide with probability about
`K^2 / 2^(num_bits*item_length + 1)` (1e-4 for 6 items of 18 bits); the task
does not exclude that.
"""

import dataclasses

import jax
import jax.numpy as jnp

from memax.tasks import base
from memax.types import Array, Batch, PRNGKey


def _check_at_least_two(value: int, field: str) -> None:
  base.check_positive(value, field)
  if value < 2:
    raise ValueError(f'config.{field} must be at least 2 (the query is never '
                     f'the last item), got {value!r}.')


@dataclasses.dataclass(frozen=True)
class AssociativeRecall(base.Generator):
  """Associative recall. Input `[B, T, num_bits+2]`, target `[B, T, num_bits]`.

  Attributes:
    num_bits: bits per vector (the paper: 6).
    item_length: vectors per item (3).
    min_items: fewest items in the training distribution (2).
    max_items: most items in the training distribution (6).
    eval_items: item counts of the evaluation variants (6, 12, 20).
  """

  num_bits: int = 6
  item_length: int = 3
  min_items: int = 2
  max_items: int = 6
  eval_items: tuple[int, ...] = (6, 12, 20)
  name: str = 'associative_recall'

  def __post_init__(self):
    base.check_positive(self.num_bits, 'task.num_bits')
    base.check_positive(self.item_length, 'task.item_length')
    _check_at_least_two(self.min_items, 'task.min_items')
    base.check_range(self.min_items, self.max_items, 'task.min_items',
                     'task.max_items')
    for items in self.eval_items:
      _check_at_least_two(items, 'task.eval_items')
    object.__setattr__(self, 'eval_items', tuple(self.eval_items))

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits

  @property
  def max_steps(self) -> int:
    return (self.max_items + 2) * (self.item_length + 1)

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch; the number of items varies per example.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, num_bits+2], targets [B, T, num_bits], mask [B, T])`
      with `T = max_steps`.
    """
    del data
    count_rng, query_rng, bits_rng = jax.random.split(rng, 3)
    l = self.item_length
    s = l + 1
    num_items = jax.random.randint(count_rng, (batch_size, 1), self.min_items,
                                   self.max_items + 1)  # [B, 1]
    query = jax.random.randint(query_rng, (batch_size, 1), 0,
                               num_items - 1)  # [B, 1], in 0 .. K-2
    # Items flattened to rows: vector j of item k is row k * l + j.
    vectors = base.random_bits(
        bits_rng, (batch_size, self.max_items * l, self.num_bits))

    def gather(row):  # [B, T] -> [B, T, num_bits]
      row = jnp.clip(row, 0, self.max_items * l - 1)
      return jnp.take_along_axis(vectors, row[..., None], axis=1)

    t = jnp.arange(self.max_steps)[None, :]  # [1, T]
    slot, pos = t // s, t % s
    in_items = t < num_items * s
    item_delim = in_items & (pos == 0)
    item_vector = in_items & (pos > 0)
    qt = t - num_items * s  # time from the first query delimiter
    query_delim = (qt == 0) | (qt == l + 1)
    query_vector = (qt >= 1) & (qt <= l)
    row = jnp.where(item_vector, slot * l + pos - 1, query * l + qt - 1)
    shown = jnp.where((item_vector | query_vector)[..., None], gather(row), 0.0)
    inputs = jnp.concatenate([
        shown,
        item_delim.astype(jnp.float32)[..., None],
        query_delim.astype(jnp.float32)[..., None],
    ], axis=-1)

    answering = (qt >= l + 2) & (qt <= 2 * l + 1)
    answer = gather((query + 1) * l + qt - (l + 2))
    targets = jnp.where(answering[..., None], answer, 0.0)
    mask = answering.astype(jnp.float32)
    return Batch(inputs=inputs, targets=targets, mask=mask)

  # The memory refreshing loss (`memax.tasks.refresh`).
  refresh_reconstruction = 'bits'
  refresh_alpha = 'per_target'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: the vectors of the stored items (before the
    first query delimiter, not an item delimiter)."""
    item_delim, query_delim = batch.inputs[..., -2], batch.inputs[..., -1]
    before_query = jnp.cumsum(query_delim, axis=-1) == 0
    return (before_query & (item_delim == 0)).astype(jnp.float32)

  loss = staticmethod(base.bit_loss)
  metrics = staticmethod(base.bit_metrics)

  def variants(self) -> dict[str, 'AssociativeRecall']:
    return {
        f'items_{n}': dataclasses.replace(self, min_items=n, max_items=n)
        for n in self.eval_items
    }
