"""Tests for `memax.training.cpu_random`: threefry2x32 on CPU without a loop.

The reference is Threefry-2x32-20 in plain Python integers, written from
Salmon et al. 2011 (sec. 4 and table 4) and checked against the paper's
known-answer vectors (Random123's `kat_vectors`).
"""

from unittest import mock

from absl.testing import absltest
import jax
from jax.extend import random as jax_random
import jax.numpy as jnp
import ml_collections
import numpy as np

from memax.training import cpu_random

_MASK = 0xFFFFFFFF


def np_threefry2x32(key, count):
  """Threefry-2x32, 20 rounds, on Python ints; returns the two words."""
  rotations = [13, 15, 26, 6, 17, 29, 16, 24]
  k = [key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA]
  x = [(count[0] + k[0]) & _MASK, (count[1] + k[1]) & _MASK]
  for rnd in range(20):
    r = rotations[rnd % 8]
    x[0] = (x[0] + x[1]) & _MASK
    x[1] = ((x[1] << r) | (x[1] >> (32 - r))) & _MASK
    x[1] ^= x[0]
    if rnd % 4 == 3:  # key injection s = (rnd + 1) / 4
      s = (rnd + 1) // 4
      x[0] = (x[0] + k[s % 3]) & _MASK
      x[1] = (x[1] + k[(s + 1) % 3] + s) & _MASK
  return x


# (key, counter) -> output, Threefry-2x32-20 known answers.
_KNOWN = [
    ((0, 0), (0, 0), (0x6b200159, 0x99ba4efe)),
    ((_MASK, _MASK), (_MASK, _MASK), (0x1cb996fc, 0xbb002be7)),
    ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3),
     (0xc4923a9c, 0x483df7a0)),
]


class CpuRandomTest(absltest.TestCase):

  def test_reference_gives_known_answers(self):
    for key, count, want in _KNOWN:
      self.assertEqual(np_threefry2x32(key, count), list(want))

  def test_apply_follows_the_config_field(self):
    cases = ((ml_collections.ConfigDict(), 1),
             (ml_collections.ConfigDict({'cpu_random_unrolled': True}), 1),
             (ml_collections.ConfigDict({'cpu_random_unrolled': False}), 0))
    for config, calls in cases:
      with mock.patch.object(cpu_random, 'enable',
                             return_value=True) as enable:
        cpu_random.apply(config)
      self.assertEqual(enable.call_count, calls, config)
    with self.assertRaisesRegex(ValueError,
                                r"config\.cpu_random_unrolled='no': expected"):
      cpu_random.apply(ml_collections.ConfigDict({'cpu_random_unrolled': 'no'}))
    # Already unrolled in this process: it stays so, and says it.
    with mock.patch.object(cpu_random, '_enabled', True):
      with self.assertLogs(level='WARNING') as logs:
        self.assertTrue(cpu_random.apply(
            ml_collections.ConfigDict({'cpu_random_unrolled': False})))
    self.assertIn('already lowers threefry unrolled', logs.output[0])

  def test_lowering_is_unrolled_and_gives_the_same_bits(self):
    self.assertTrue(cpu_random.enable())
    self.assertTrue(cpu_random.enable())  # idempotent
    self.assertTrue(cpu_random.enabled())
    rng = np.random.RandomState(0)
    words = rng.randint(0, 2**32, size=(4, 3, 5), dtype=np.uint64)
    words = words.astype(np.uint32)
    # A program lowered after `enable()` (a new function: no cached lowering).
    hashed = jax.jit(lambda k, c: jax_random.threefry_2x32(k, c))
    lowered = hashed.lower(words[:2, 0, 0], words[2:].reshape(2, -1))
    self.assertNotIn('while', lowered.as_text())
    out = np.asarray(lowered.compile()(words[:2, 0, 0],
                                       words[2:].reshape(2, -1)))
    key = [int(w) for w in words[:2, 0, 0]]
    for i, (c0, c1) in enumerate(zip(words[2].ravel(), words[3].ravel())):
      self.assertEqual([int(out[0, i]), int(out[1, i])],
                       np_threefry2x32(key, [int(c0), int(c1)]), i)

  def test_function_matches_reference_with_broadcast_keys(self):
    counts = np.arange(6, dtype=np.uint32).reshape(2, 3)
    key = (np.uint32(7), np.uint32(0xdeadbeef))
    got = jax.jit(cpu_random.threefry2x32)(
        jnp.full((1, 1), key[0]), jnp.full((1, 1), key[1]), counts,
        counts[::-1])
    for i in range(2):
      for j in range(3):
        want = np_threefry2x32([int(k) for k in key],
                               [int(counts[i, j]), int(counts[1 - i, j])])
        self.assertEqual([int(got[0][i, j]), int(got[1][i, j])], want)


if __name__ == '__main__':
  absltest.main()
