"""Tests for `memax.ops.lrua` (Santoro et al. 2016, eqs. 20-22).

Each op against a NumPy reference written from the paper's equations
(float64, explicit loops), batched with `jax.vmap` over batch and heads,
under `jit`, with `check_grads`, and on degenerate inputs (ties, all-zero
usage) under `jax.debug_nans`.
"""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from memax import ops
from memax.ops import lrua

_B = 3   # batch
_R = 4   # heads


# --- NumPy references: one example, float64, from the equations. ---


def np_usage(prev_usage, read_weights, write_weights, decay):
  """Eq. 20: w^u_t = gamma w^u_{t-1} + w^r_t + w^w_t, heads summed."""
  out = np.zeros(prev_usage.shape[0])
  for i in range(prev_usage.shape[0]):
    out[i] = decay * prev_usage[i]
    for h in range(read_weights.shape[0]):
      out[i] += read_weights[h, i]
    for h in range(write_weights.shape[0]):
      out[i] += write_weights[h, i]
  return out


def np_least_used(usage, num):
  """Row j marks the slot of the (j+1)-th smallest usage, lower index first.

  Selection by repeated minimum search, not by sorting: the first strict
  minimum among the slots not yet chosen.
  """
  n = usage.shape[0]
  chosen = []
  for _ in range(num):
    best = None
    for i in range(n):
      if i in chosen:
        continue
      if best is None or usage[i] < usage[best]:
        best = i
    chosen.append(best)
  out = np.zeros((num, n))
  for j, i in enumerate(chosen):
    out[j, i] = 1.0
  return out


def np_paper_indicator(usage, num):
  """Eq. 21 as written: 1 where usage <= m(usage, num), the num-th smallest.

  Without ties this has exactly `num` ones.
  """
  m = np.sort(usage)[num - 1]
  return (usage <= m).astype(np.float64)


def np_write_weights(prev_read, prev_least_used, gate):
  """Eq. 22: w^w = sigma(alpha) w^r_{t-1} + (1 - sigma(alpha)) w^lu_{t-1}."""
  out = np.zeros(prev_read.shape[0])
  for i in range(prev_read.shape[0]):
    out[i] = gate * prev_read[i] + (1.0 - gate) * prev_least_used[i]
  return out


# Jitted for the tests on values: one program per shape rather than one per
# primitive run eagerly (compilation is most of the time). The checks under
# `jax.debug_nans` run eagerly, every primitive checked.
_least_used = jax.jit(ops.least_used, static_argnames='num')
_write_weights = jax.jit(ops.lrua_write_weights)


def _softmax_rows(rng, shape):
  x = np.exp(rng.normal(size=shape))
  return x / x.sum(-1, keepdims=True)


class LruaUsageTest(parameterized.TestCase):

  @parameterized.parameters((1, 1, 0.95), (8, 4, 0.99), (16, 2, 0.0))
  def test_matches_reference_batched(self, n, r, decay):
    rng = np.random.default_rng(n + r)
    prev = rng.uniform(0, 3, (_B, n))
    reads = _softmax_rows(rng, (_B, r, n))
    writes = _softmax_rows(rng, (_B, r, n))
    got = jax.jit(jax.vmap(lambda u, a, b: ops.lrua_usage(
        u, a, b, decay=decay)))(*(jnp.float32(x) for x in
                                  (prev, reads, writes)))
    want = np.stack([np_usage(prev[b], reads[b], writes[b], decay)
                     for b in range(_B)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

  def test_different_head_counts(self):
    rng = np.random.default_rng(0)
    prev, reads, writes = (rng.uniform(size=6), _softmax_rows(rng, (3, 6)),
                           _softmax_rows(rng, (1, 6)))
    got = jax.jit(lambda *a: lrua.lrua_usage(*a, decay=0.5))(
        jnp.float32(prev), jnp.float32(reads), jnp.float32(writes))
    np.testing.assert_allclose(got, np_usage(prev, reads, writes, 0.5),
                               rtol=1e-6)

  def test_gradients(self):
    rng = np.random.default_rng(1)
    args = (jnp.asarray(rng.uniform(size=5)),
            jnp.asarray(_softmax_rows(rng, (2, 5))),
            jnp.asarray(_softmax_rows(rng, (2, 5))))
    with jax.enable_x64():
      args = tuple(jnp.float64(a) for a in args)
      # Jitted: one program per derivative instead of one per primitive.
      chex.assert_numerical_grads(
          jax.jit(lambda u, a, b: lrua.lrua_usage(u, a, b, decay=0.9)), args,
          order=1)

  def test_rank_error(self):
    with self.assertRaises(AssertionError):
      lrua.lrua_usage(jnp.zeros(4), jnp.zeros(4), jnp.zeros((1, 4)),
                      decay=0.9)


class LeastUsedTest(parameterized.TestCase):

  @parameterized.parameters((1, 1), (5, 1), (8, 4), (8, 8), (13, 3))
  def test_matches_reference(self, n, num):
    rng = np.random.default_rng(10 * n + num)
    usage = rng.uniform(0, 2, (_B, n))
    got = jax.jit(jax.vmap(lambda u: ops.least_used(u, num=num)))(
        jnp.float32(usage))
    want = np.stack([np_least_used(u, num) for u in usage])
    np.testing.assert_array_equal(got, want)
    # Without ties the rows sum to the paper's indicator with `num` ones.
    for b in range(_B):
      np.testing.assert_array_equal(np.asarray(got[b]).sum(0),
                                    np_paper_indicator(usage[b], num))

  def test_ties_go_to_the_lower_index(self):
    usage = jnp.asarray([0.5, 0.0, 0.5, 0.0, 0.0, 1.0])
    got = np.asarray(_least_used(usage, num=5))
    self.assertEqual(got.argmax(-1).tolist(), [1, 3, 4, 0, 2])
    np.testing.assert_array_equal(got, np_least_used(np.asarray(usage), 5))

  def test_all_zero_usage_gives_the_first_slots(self):
    got = np.asarray(_least_used(np.zeros(128, np.float32), num=4))
    self.assertEqual(got.argmax(-1).tolist(), [0, 1, 2, 3])
    np.testing.assert_array_equal(got.sum(-1), np.ones(4))

  def test_rows_are_distinct_one_hots(self):
    rng = np.random.default_rng(3)
    usage = jnp.asarray(rng.integers(0, 3, 40).astype(np.float32))
    got = np.asarray(_least_used(usage, num=10))
    np.testing.assert_array_equal(got.sum(-1), np.ones(10))
    self.assertEqual(len(set(got.argmax(-1).tolist())), 10)

  def test_zero_gradient_and_finite(self):
    with jax.debug_nans(True):
      g = jax.grad(lambda u: jnp.sum(ops.least_used(u, num=2) * u))(
          jnp.zeros(6))
    # Only the direct `* u` path: the indicator has no gradient.
    np.testing.assert_array_equal(g, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0])

  @parameterized.parameters(0, 7, 2.0)
  def test_bad_num(self, num):
    with self.assertRaisesRegex(ValueError, r'num must be an integer in '
                                r'\[1, 6\]'):
      ops.least_used(jnp.zeros(6), num=num)


class WriteWeightsTest(parameterized.TestCase):

  def test_matches_reference_over_batch_and_heads(self):
    rng = np.random.default_rng(4)
    n = 9
    prev_read = _softmax_rows(rng, (_B, _R, n))
    usage = rng.uniform(size=(_B, n))
    gate = rng.uniform(size=(_B, _R))
    prev_lu = np.stack([np_least_used(u, _R) for u in usage])
    per_head = jax.vmap(ops.lrua_write_weights)
    got = jax.jit(jax.vmap(per_head))(
        jnp.float32(prev_read), jnp.float32(prev_lu), jnp.float32(gate))
    want = np.zeros((_B, _R, n))
    for b in range(_B):
      for h in range(_R):
        want[b, h] = np_write_weights(prev_read[b, h], prev_lu[b, h],
                                      gate[b, h])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)

  @parameterized.parameters(0.0, 1.0)
  def test_gate_ends(self, gate):
    read = np.asarray([0.2, 0.8, 0.0], np.float32)
    lu = np.asarray([0.0, 0.0, 1.0], np.float32)
    got = _write_weights(read, lu, np.float32(gate))
    np.testing.assert_allclose(got, read if gate else lu)

  def test_gradients(self):
    rng = np.random.default_rng(5)
    with jax.enable_x64():
      args = (jnp.float64(_softmax_rows(rng, (6,))),
              jnp.float64(np_least_used(rng.uniform(size=6), 1)[0]),
              jnp.float64(0.3))
      # Jitted: one program per derivative instead of one per primitive.
      chex.assert_numerical_grads(jax.jit(ops.lrua_write_weights), args,
                                  order=2)


if __name__ == '__main__':
  absltest.main()
