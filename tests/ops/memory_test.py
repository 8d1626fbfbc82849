"""Tests for `memax.ops.memory` (Graves et al. 2014, sec. 3.1-3.2).

Every op is checked against a NumPy reference written from the paper's
equations (float64, explicit loops), batched with `jax.vmap` over one and
two leading axes, on hand-computed small cases, on properties, with
`check_grads`, and on degenerate inputs under `jax.debug_nans`.
"""

import types

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from memax.ops import memory as memory_ops
from tests.ops import grad_testing

_B = 3  # batch
_L = 2  # second leading axis (heads, for read and write)
_HW = 3  # write heads inside one multi_write call
_SIZES = {
    'n1_w1': (1, 1),
    'n4_w3': (4, 3),
    'n9_w6': (9, 6),
}


# --- NumPy references: one example, float64, written from the equations. ---


def np_read(memory, weights):
  """NTM eq. 2: r[j] = sum_i w[i] M[i, j]."""
  n, w = memory.shape
  out = np.zeros(w)
  for j in range(w):
    for i in range(n):
      out[j] += weights[i] * memory[i, j]
  return out


def np_write(memory, weights, erase, add):
  """NTM eqs. 3-4: M~[i] = M[i] (1 - w[i] e), then M'[i] = M~[i] + w[i] a."""
  n, w = memory.shape
  out = np.zeros((n, w))
  for i in range(n):
    for j in range(w):
      erased = memory[i, j] * (1.0 - weights[i] * erase[j])
      out[i, j] = erased + weights[i] * add[j]
  return out


def np_multi_write(memory, weights, erase, add):
  """NTM sec. 3.2: all heads erase (products commute), then all heads add."""
  n, w = memory.shape
  out = np.array(memory, np.float64)
  for h in range(weights.shape[0]):
    for i in range(n):
      for j in range(w):
        out[i, j] *= 1.0 - weights[h, i] * erase[h, j]
  for h in range(weights.shape[0]):
    for i in range(n):
      for j in range(w):
        out[i, j] += weights[h, i] * add[h, j]
  return out


def _np_over_leading(fn, args, lead_ndim):
  """Applies a one-example reference over `lead_ndim` leading axes."""
  lead = args[0].shape[:lead_ndim]
  outs = [fn(*(np.asarray(a[idx], np.float64) for a in args))
          for idx in np.ndindex(lead)]
  return np.stack(outs).reshape(lead + outs[0].shape)


def _random_inputs(seed, lead, n, w, dtype=np.float32):
  """Random inputs with leading axes `lead`, in the ranges the ops expect."""
  rng = np.random.default_rng(seed)

  def simplex(size):
    x = rng.gamma(1.0, size=size)  # Dirichlet(1).
    return x / x.sum(-1, keepdims=True)

  inputs = dict(
      memory=rng.normal(size=lead + (n, w)),
      weights=simplex(lead + (n,)),
      erase=rng.uniform(size=lead + (w,)),
      add=rng.normal(size=lead + (w,)),
      multi_weights=simplex(lead + (_HW, n)),
      multi_erase=rng.uniform(size=lead + (_HW, w)),
      multi_add=rng.normal(size=lead + (_HW, w)),
  )
  return {k: v.astype(dtype) for k, v in inputs.items()}


# op name -> (op, reference, names of its array arguments in order).
_OPS = {
    'read': (memory_ops.read, np_read, ('memory', 'weights')),
    'write': (
        memory_ops.write, np_write, ('memory', 'weights', 'erase', 'add')),
    'multi_write': (
        memory_ops.multi_write, np_multi_write,
        ('memory', 'multi_weights', 'multi_erase', 'multi_add')),
}

# The ops jitted, for the tests on values: one program per op and shape
# instead of one per primitive run eagerly (compilation is most of the time).
jitted = types.SimpleNamespace(
    **{name: jax.jit(op) for name, (op, _, _) in _OPS.items()})

_OP_SIZE_CASES = tuple(
    dict(testcase_name=f'{op}_{size}', op=op, size=size)
    for op in _OPS for size in _SIZES)
# Batch x heads re-runs the vmapped ops; two sizes keep the file fast.
_OP_SIZE_CASES_HEADS = tuple(
    case for case in _OP_SIZE_CASES if case['size'] != 'n4_w3')


class ReferenceTest(parameterized.TestCase):
  """Each op equals its NumPy reference on random inputs."""

  _TOL = dict(rtol=1e-5, atol=1e-6)

  @chex.all_variants(with_pmap=False)
  @parameterized.named_parameters(*_OP_SIZE_CASES)
  def test_matches_reference_over_batch(self, op, size):
    fn, ref, names = _OPS[op]
    inputs = _random_inputs(0, (_B,), *_SIZES[size])
    args = [inputs[k] for k in names]
    out = self.variant(jax.vmap(fn))(*args)
    expected = _np_over_leading(ref, args, 1)
    chex.assert_shape(out, expected.shape)
    np.testing.assert_allclose(out, expected, **self._TOL)

  @chex.all_variants(with_pmap=False)
  @parameterized.named_parameters(*_OP_SIZE_CASES_HEADS)
  def test_matches_reference_over_batch_and_heads(self, op, size):
    fn, ref, names = _OPS[op]
    inputs = _random_inputs(1, (_B, _L), *_SIZES[size])
    args = [inputs[k] for k in names]
    out = self.variant(jax.vmap(jax.vmap(fn)))(*args)
    expected = _np_over_leading(ref, args, 2)
    chex.assert_shape(out, expected.shape)
    np.testing.assert_allclose(out, expected, **self._TOL)


class GradientTest(parameterized.TestCase):
  """Second-order reverse-mode gradients match finite differences (x64)."""

  @parameterized.named_parameters(
      *(dict(testcase_name=op, op=op) for op in _OPS))
  def test_check_grads(self, op):
    fn, _, names = _OPS[op]
    with jax.enable_x64(True):
      inputs = _random_inputs(2, (), 4, 3, dtype=np.float64)
      args = [jnp.asarray(inputs[k]) for k in names]
      grad_testing.check_grads_rev2(fn, args, atol=1e-5, rtol=1e-5)


class ReadTest(absltest.TestCase):

  def test_one_hot_weighting_returns_the_row(self):
    memory = _random_inputs(3, (), 5, 4)['memory']
    for i in range(5):
      np.testing.assert_allclose(
          jitted.read(memory, jax.nn.one_hot(i, 5)), memory[i])

  def test_hand_computed(self):
    memory = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    weights = jnp.array([0.5, 0.25, 0.25])
    # [.5 + .75 + 1.25, 1 + 1 + 1.5].
    np.testing.assert_allclose(
        jitted.read(memory, weights), [2.5, 3.5], rtol=1e-6)

  def test_wrong_shape_raises(self):
    with self.assertRaises(AssertionError):
      memory_ops.read(jnp.ones((4,)), jnp.ones((4,)))
    with self.assertRaises(AssertionError):
      memory_ops.read(jnp.ones((4, 3)), jnp.ones((1, 4)))
    with self.assertRaises(AssertionError):
      memory_ops.read(jnp.ones((4, 3)), jnp.ones((5,)))


class WriteTest(absltest.TestCase):

  def test_full_erase_one_hot_replaces_the_row(self):
    inputs = _random_inputs(4, (), 5, 3)
    memory, add = inputs['memory'], inputs['add']
    out = jitted.write(memory, jax.nn.one_hot(2, 5), jnp.ones(3), add)
    expected = np.array(memory)
    expected[2] = add
    np.testing.assert_allclose(out, expected, rtol=1e-6)

  def test_zero_weights_leave_memory_unchanged(self):
    inputs = _random_inputs(5, (), 5, 3)
    out = jitted.write(
        inputs['memory'], jnp.zeros(5), inputs['erase'], inputs['add'])
    np.testing.assert_allclose(out, inputs['memory'])

  def test_hand_computed(self):
    memory = jnp.array([[2.0, 4.0], [1.0, 1.0]])
    weights = jnp.array([0.5, 0.0])
    erase = jnp.array([1.0, 0.5])
    add = jnp.array([2.0, -4.0])
    # Row 0: [2 * (1 - .5), 4 * (1 - .25)] + .5 * [2, -4] = [2, 1].
    np.testing.assert_allclose(
        jitted.write(memory, weights, erase, add),
        [[2.0, 1.0], [1.0, 1.0]], rtol=1e-6)

  def test_write_then_read_one_hot_returns_add(self):
    inputs = _random_inputs(6, (), 6, 4)
    weights = jax.nn.one_hot(3, 6)
    written = jitted.write(
        inputs['memory'], weights, jnp.ones(4), inputs['add'])
    np.testing.assert_allclose(
        jitted.read(written, weights), inputs['add'], rtol=1e-6)

  def test_wrong_shape_raises(self):
    ones = jnp.ones
    with self.assertRaises(AssertionError):
      memory_ops.write(ones((4, 3)), ones((1, 4)), ones((3,)), ones((3,)))
    with self.assertRaises(AssertionError):
      memory_ops.write(ones((4, 3)), ones((4,)), ones((1, 3)), ones((3,)))
    with self.assertRaises(AssertionError):
      memory_ops.write(ones((4, 3)), ones((4,)), ones((3,)), ones((2,)))
    with self.assertRaises(AssertionError):
      memory_ops.write(ones((4, 3)), ones((5,)), ones((3,)), ones((3,)))


class MultiWriteTest(parameterized.TestCase):

  @parameterized.parameters((1, 1), (4, 3), (7, 5))
  def test_one_head_equals_write(self, n, w):
    inputs = _random_inputs(7, (), n, w)
    memory, weights = inputs['memory'], inputs['weights']
    erase, add = inputs['erase'], inputs['add']
    np.testing.assert_allclose(
        jitted.multi_write(memory, weights[None], erase[None], add[None]),
        jitted.write(memory, weights, erase, add), rtol=1e-6, atol=1e-6)

  @parameterized.parameters(0, 1, 2, 3)
  def test_independent_of_head_order(self, seed):
    inputs = _random_inputs(8 + seed, (), 6, 4)
    args = (inputs['multi_weights'], inputs['multi_erase'],
            inputs['multi_add'])
    perm = np.random.default_rng(seed).permutation(_HW)
    while np.all(perm == np.arange(_HW)):
      perm = np.roll(perm, 1)
    np.testing.assert_allclose(
        jitted.multi_write(inputs['memory'], *(a[perm] for a in args)),
        jitted.multi_write(inputs['memory'], *args),
        rtol=1e-5, atol=1e-6)

  def test_disjoint_heads_equal_sequential_writes(self):
    inputs = _random_inputs(12, (), 5, 3)
    memory = inputs['memory']
    weights = np.stack([jax.nn.one_hot(1, 5), jax.nn.one_hot(4, 5)])
    erase, add = inputs['multi_erase'][:2], inputs['multi_add'][:2]
    sequential = jitted.write(memory, weights[0], erase[0], add[0])
    sequential = jitted.write(sequential, weights[1], erase[1], add[1])
    np.testing.assert_allclose(
        jitted.multi_write(memory, weights, erase, add), sequential,
        rtol=1e-6)

  def test_hand_computed_shared_slot(self):
    # Two heads on slot 0: erasures multiply, additions sum.
    memory = jnp.array([[4.0], [1.0]])
    weights = jnp.array([[1.0, 0.0], [0.5, 0.0]])
    erase = jnp.array([[0.5], [1.0]])
    add = jnp.array([[1.0], [2.0]])
    # 4 * (1 - .5) * (1 - .5) + 1 * 1 + .5 * 2 = 3.
    np.testing.assert_allclose(
        jitted.multi_write(memory, weights, erase, add), [[3.0], [1.0]],
        rtol=1e-6)

  def test_wrong_rank_raises(self):
    ones = jnp.ones
    with self.assertRaises(AssertionError):
      memory_ops.multi_write(ones((4, 3)), ones((4,)), ones((3,)), ones((3,)))
    with self.assertRaises(AssertionError):
      memory_ops.multi_write(
          ones((4, 3)), ones((2, 4)), ones((2, 3)), ones((3,)))

  def test_mismatched_shapes_raise(self):
    # These would otherwise broadcast silently to a wrong [N, W] memory.
    ones = jnp.ones
    with self.assertRaises(AssertionError):  # weights over 1 slot, not N.
      memory_ops.multi_write(
          ones((4, 3)), ones((2, 1)), ones((2, 3)), ones((2, 3)))
    with self.assertRaises(AssertionError):  # erase of width 1, not W.
      memory_ops.multi_write(
          ones((4, 3)), ones((2, 4)), ones((2, 1)), ones((2, 3)))
    with self.assertRaises(AssertionError):  # one erase for two heads.
      memory_ops.multi_write(
          ones((4, 3)), ones((2, 4)), ones((1, 3)), ones((2, 3)))


class DegenerateInputsTest(absltest.TestCase):
  """Values and gradients stay finite at exact zeros and full erasures."""

  def _assert_finite_value_and_grad(self, fn, *args):
    args = [jnp.asarray(a, jnp.float32) for a in args]
    with jax.debug_nans(True):
      for f in (fn, jax.jit(fn)):
        out = f(*args)
        cotangent = jnp.asarray(
            np.random.default_rng(0).normal(size=out.shape), jnp.float32)
        grads = jax.grad(
            lambda *a, f=f, c=cotangent: jnp.sum(f(*a) * c),
            argnums=tuple(range(len(args))))(*args)
        self.assertTrue(np.all(np.isfinite(out)), msg=f'{out}')
        for g in grads:
          self.assertTrue(np.all(np.isfinite(g)), msg=f'{g}')
    return out

  def test_read_zero_memory_and_weights(self):
    out = self._assert_finite_value_and_grad(
        memory_ops.read, np.zeros((4, 3)), np.zeros(4))
    np.testing.assert_allclose(out, np.zeros(3))

  def test_write_zero_memory_full_erase(self):
    out = self._assert_finite_value_and_grad(
        memory_ops.write, np.zeros((4, 3)), np.eye(4)[0], np.ones(3),
        np.zeros(3))
    np.testing.assert_allclose(out, np.zeros((4, 3)))

  def test_multi_write_heads_fully_erase_the_same_slot(self):
    # Two exact zeros in the product over heads.
    memory = np.ones((4, 3))
    weights = np.stack([np.eye(4)[2], np.eye(4)[2]])
    out = self._assert_finite_value_and_grad(
        memory_ops.multi_write, memory, weights, np.ones((2, 3)),
        np.zeros((2, 3)))
    expected = np.ones((4, 3))
    expected[2] = 0.0
    np.testing.assert_allclose(out, expected)

  def test_multi_write_zero_memory_and_weights(self):
    self._assert_finite_value_and_grad(
        memory_ops.multi_write, np.zeros((4, 3)), np.zeros((2, 4)),
        np.ones((2, 3)), np.zeros((2, 3)))


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
