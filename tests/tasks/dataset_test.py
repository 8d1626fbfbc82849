"""Tests for `memax.tasks.dataset`: on-device epoch shuffling of finite data."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from memax.tasks import dataset


@functools.partial(jax.jit, static_argnums=1)
def _permutation(seed, n):
  """`permute` of every position of `range(n)`: one program per `n`.

  Op by op, each primitive and shape compiles a program.
  """
  return dataset.permute(jax.random.key(seed), jnp.arange(n), n)


class PermuteTest(parameterized.TestCase):

  @parameterized.parameters(1, 2, 3, 16, 17, 1000, 4097)
  def test_is_a_permutation(self, n):
    perm = np.asarray(_permutation(0, n))
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))

  def test_keys_give_different_orders(self):
    n = 100
    a = np.asarray(_permutation(0, n))
    b = np.asarray(_permutation(1, n))
    self.assertFalse(np.array_equal(a, b))
    # Not the identity, and not a rotation of it.
    self.assertFalse(np.array_equal(a, np.arange(n)))
    self.assertGreater(len(set(np.diff(a).tolist())), 10)

  def test_roughly_uniform_first_position(self):
    # Over many keys, the example at position 0 is spread over all rows.
    # One jitted, vmapped call over the keys: the same 300 numbers as
    # calling permute per key, without 300 op-by-op dispatches.
    n = 10
    first = jax.jit(jax.vmap(lambda k: dataset.permute(
        jax.random.key(k), jnp.zeros(1, jnp.int32), n)[0]))
    firsts = np.asarray(first(jnp.arange(300)))
    counts = np.bincount(firsts, minlength=n)
    self.assertEqual(counts.sum(), 300)
    self.assertGreater(counts.min(), 10)   # expected 30 each.
    self.assertLess(counts.max(), 60)


class EpochIndicesTest(absltest.TestCase):

  def test_each_epoch_visits_every_example_once(self):
    n, batch = 103, 10
    f = jax.jit(lambda step: dataset.epoch_indices(jax.random.key(3), step,
                                                   batch, n))
    spe = n // batch
    for epoch in range(2):
      seen = np.concatenate([np.asarray(f(epoch * spe + s))
                             for s in range(spe)])
      self.assertLen(set(seen.tolist()), spe * batch)
    first = np.concatenate([np.asarray(f(s)) for s in range(spe)])
    second = np.concatenate([np.asarray(f(spe + s)) for s in range(spe)])
    self.assertFalse(np.array_equal(first, second))

  def test_batch_larger_than_data_wraps(self):
    idx = np.asarray(jax.jit(dataset.epoch_indices, static_argnums=(2, 3))(
        jax.random.key(0), 0, 8, 5))
    self.assertEqual(set(idx.tolist()), set(range(5)))


class FixedBatchesTest(absltest.TestCase):

  def test_every_row_once_and_padding_masked(self):
    arrays = {'x': np.arange(7), 'y': np.arange(7) * 10}
    batches = list(dataset.fixed_batches(arrays, 3))
    self.assertLen(batches, 3)
    rows = np.concatenate([b['x'][m > 0] for b, m in batches])
    np.testing.assert_array_equal(rows, np.arange(7))
    last, mask = batches[-1]
    np.testing.assert_array_equal(mask, [1.0, 0.0, 0.0])
    self.assertEqual(last['y'].shape, (3,))


if __name__ == '__main__':
  absltest.main()
