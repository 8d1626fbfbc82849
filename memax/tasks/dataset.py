"""Finite datasets as tasks: epoch-shuffled batches gathered on the device.

A finite task (bAbI, later Omniglot) holds its training split as a pytree of
device arrays, `task.device_data()`, which the trainer passes into the jitted
step as an argument (never as a compile-time constant). Batches are gathered inside the
jit: epoch `e` visits the examples in the order of a pseudo-random permutation
keyed by `(key, e)`, so training is pure in `(key, step)` like the synthetic
tasks, resumes exactly, and costs `O(B)` per step (no sort of the dataset).

The permutation is a 4-round Feistel network on `[0, 4^h)` with `4^h >= n`,
cycle-walked back into `[0, n)`: a bijection whatever the round function, so
every example is seen exactly once per epoch (the last `n mod B` examples of an
epoch's order are dropped, as with `drop_remainder`).
"""

from typing import Iterator, Mapping, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from memax.types import Array, Batch, PRNGKey, PyTree

_ROUNDS = 4


class FiniteTask(Protocol):
  """What a finite dataset adds to `tasks.base.Task` for its evaluations.

  Its `evals()` are `base.Exhaustive` splits; evaluation passes each split's
  host batches into the jitted forward pass and summarizes the whole split.
  """

  num_examples: int

  def steps_per_epoch(self, batch_size: int) -> int:
    """Train steps in one pass over the training examples."""

  def batches(self, split: str, batch_size: int) -> Iterator[Batch]:
    """Every example of `split` once, in fixed-size batches, masked padding."""

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """Per-example quantities `{name: [B]}` for `summarize`."""

  def summarize(self, per_example: Mapping[str, np.ndarray]
                ) -> dict[str, float]:
    """Metrics of a whole split from the concatenated `per_example`."""

  def metric_names(self) -> tuple[str, ...]:
    """The names `summarize` returns."""


def _mix(x: Array, k: Array) -> Array:
  """A 32-bit integer mixing function (multiply-xorshift)."""
  x = x ^ k
  x = x * jnp.uint32(0x9E3779B1)
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x85EBCA6B)
  return x ^ (x >> 13)


def _half_bits(n: int) -> int:
  h = 1
  while 4 ** h < n:
    h += 1
  return h


def permute(key: PRNGKey, index: Array, n: int) -> Array:
  """`perm[index]` for a pseudo-random permutation `perm` of `range(n)`.

  Args:
    key: selects the permutation.
    index: int array of positions in `[0, n)`, any shape.
    n: size of the permuted range (static).

  Returns:
    int32 array like `index`: distinct positions map to distinct values.
  """
  h = _half_bits(n)
  mask = jnp.uint32((1 << h) - 1)
  round_keys = jax.random.bits(key, (_ROUNDS,), jnp.uint32)

  def feistel(x):
    left, right = x >> h, x & mask
    for r in range(_ROUNDS):
      left, right = right, left ^ (_mix(right, round_keys[r]) & mask)
    return (left << h) | right

  def one(i):
    y = feistel(i.astype(jnp.uint32))
    # Cycle walking: the orbit of i < n returns below n, so this ends.
    y = jax.lax.while_loop(lambda y: y >= n, feistel, y)
    return y.astype(jnp.int32)

  flat = jnp.ravel(index)
  return jax.vmap(one)(flat).reshape(jnp.shape(index))


def epoch_indices(key: PRNGKey, step: Array, batch_size: int, n: int
                  ) -> Array:
  """Example indices `[B]` of train step `step` under per-epoch shuffling."""
  steps_per_epoch = max(n // batch_size, 1)
  epoch = step // steps_per_epoch
  start = (step % steps_per_epoch) * batch_size
  positions = (start + jnp.arange(batch_size)) % n
  return permute(jax.random.fold_in(key, epoch), positions, n)


def gather(data: PyTree, indices: Array) -> PyTree:
  """Rows `indices` of every array in `data` (on the device)."""
  return jax.tree.map(lambda x: jnp.take(x, indices, axis=0), data)


def fixed_batches(arrays: Mapping[str, np.ndarray], batch_size: int
                  ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
  """Host batches of every row once; the last is padded (mask 0) to size.

  Yields:
    `(rows, mask)`: `rows` a dict of `[batch_size, ...]` arrays and `mask`
    `[batch_size]` float32, 1 for real rows.
  """
  n = len(next(iter(arrays.values())))
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    idx = np.arange(start, start + batch_size)
    idx = np.where(idx < stop, idx, stop - 1)
    mask = (np.arange(start, start + batch_size) < stop).astype(np.float32)
    yield {k: v[idx] for k, v in arrays.items()}, mask
