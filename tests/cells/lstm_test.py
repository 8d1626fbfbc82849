"""Tests for the fused LSTM cell against a NumPy LSTM."""

from absl.testing import absltest
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from memax.cells import dnc
from memax.cells import lstm
from memax.cells import mann


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _numpy_lstm(gates, inputs, c, h, forget_bias=1.0):
  """One LSTM step on `inputs` (the layer's input before `h`) with the
  parameters of its 'gates' Dense."""
  z = (np.concatenate([inputs, h], -1) @ np.asarray(gates['kernel'])
       + np.asarray(gates['bias']))
  i, g, f, o = np.split(z, 4, axis=-1)
  c = _sigmoid(f + forget_bias) * c + _sigmoid(i) * np.tanh(g)
  return c, _sigmoid(o) * np.tanh(c)


def _random(shape, seed):
  return np.random.RandomState(seed).randn(*shape).astype(np.float32)


class FusedLSTMCellTest(absltest.TestCase):

  def test_matches_numpy_lstm_equations(self):
    cell = lstm.FusedLSTMCell(features=4, forget_bias=1.0)
    x = np.random.RandomState(0).randn(2, 3).astype(np.float32)
    carry = lstm.LSTMState(*(np.random.RandomState(i).randn(2, 4)
                             .astype(np.float32) for i in (1, 2)))
    params = cell.init(jax.random.key(0), carry, x)
    new, h = cell.apply(params, carry, x)
    kernel = np.asarray(params['params']['gates']['kernel'])
    bias = np.asarray(params['params']['gates']['bias'])
    z = np.concatenate([x, carry.h], -1) @ kernel + bias
    i, g, f, o = np.split(z, 4, axis=-1)
    c = _sigmoid(f + 1.0) * carry.c + _sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(new.c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, _sigmoid(o) * np.tanh(c), rtol=1e-5,
                               atol=1e-6)

  def test_projection_ahead_of_the_step_equals_the_step(self):
    # `project` on all steps at once, then `step` per step, against
    # `__call__` on the whole input `[x0, rest]` of each step.
    cell = lstm.FusedLSTMCell(features=4)
    x0, rest = _random((2, 3, 5), 0), _random((2, 3, 2), 1)
    carry = lstm.LSTMState(_random((2, 4), 2), _random((2, 4), 3))
    params = cell.init(jax.random.key(0), carry,
                       np.concatenate([x0[:, 0], rest[:, 0]], -1))
    self.assertEqual(params['params']['gates']['kernel'].shape, (11, 16))
    projected = cell.apply(params, x0, 2, method=cell.project)
    self.assertEqual(projected.shape, (2, 3, 16))
    for t in range(3):
      want, _ = cell.apply(params, carry,
                           np.concatenate([x0[:, t], rest[:, t]], -1))
      got, _ = cell.apply(params, carry, projected[:, t], rest[:, t],
                          method=cell.step)
      np.testing.assert_allclose(got.h, want.h, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(got.c, want.c, rtol=1e-5, atol=1e-6)

  def test_step_errors_name_what_is_wrong(self):
    cell = lstm.FusedLSTMCell(features=4)
    carry = lstm.LSTMState(jnp.zeros((2, 4)), jnp.zeros((2, 4)))
    # No parameters yet: `step` does not create them.
    with self.assertRaisesRegex(ValueError, 'initialise the cell'):
      cell.init(jax.random.key(0), carry, jnp.zeros((2, 16)),
                method=cell.step)
    # A rest wider than the kernel holds.
    params = cell.init(jax.random.key(0), carry, jnp.zeros((2, 3)))
    with self.assertRaisesRegex(ValueError, 'rest has 7 features'):
      cell.apply(params, carry, jnp.zeros((2, 16)), jnp.zeros((2, 7)),
                 method=cell.step)

  def test_parameters_are_a_dense_named_gates(self):
    # The parameters (names, shapes, initial values) of the `nn.Dense` the
    # cell used before its projection was split: old checkpoints load.
    class Reference(nn.Module):
      @nn.compact
      def __call__(self, x):
        return nn.Dense(16, name='gates')(x)
    carry = lstm.LSTMState(jnp.zeros((2, 4)), jnp.zeros((2, 4)))
    ours = lstm.FusedLSTMCell(4).init(jax.random.key(3), carry,
                                      jnp.ones((2, 6)))
    reference = Reference().init(jax.random.key(3), jnp.ones((2, 10)))
    self.assertEqual(jax.tree.structure(ours), jax.tree.structure(reference))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
      np.testing.assert_array_equal(a, b)

  def test_memory_cells_controllers_match_numpy(self):
    # The MANN's LSTM on [x, previous reads]; the DNC's two layers on
    # [x, reads] and [x, reads, lower output], through the projection split.
    x = _random((2, 3), 4)
    cell = mann.MANNCell(controller_size=4, memory_size=6, word_size=2,
                         num_heads=2)
    carry = cell.initialize_carry(None, x.shape)
    carry = carry._replace(
        read_vectors=_random((2, 2, 2), 5),
        controller=lstm.LSTMState(_random((2, 4), 6), _random((2, 4), 7)))
    params = cell.init(jax.random.key(0), carry, x)
    state, _, _ = cell.apply(params, carry, x, method=cell.controller_step)
    c, h = _numpy_lstm(params['params']['core']['gates'],
                       np.concatenate([x, carry.read_vectors.reshape(2, 4)],
                                      -1), *carry.controller)
    np.testing.assert_allclose(state.h, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.c, c, rtol=1e-5, atol=1e-6)

    cell = dnc.DNCCell(controller_size=4, controller_layers=2, memory_size=6,
                       word_size=2, num_read_heads=2)
    carry = cell.initialize_carry(None, x.shape)
    carry = carry._replace(
        read_vectors=_random((2, 2, 2), 8),
        controller=tuple(lstm.LSTMState(_random((2, 4), 9 + i),
                                        _random((2, 4), 11 + i))
                         for i in range(2)))
    params = cell.init(jax.random.key(0), carry, x)
    states, _, _ = cell.apply(params, carry, x, method=cell.controller_step)
    chi = np.concatenate([x, carry.read_vectors.reshape(2, 4)], -1)
    layers = params['params']
    c0, h0 = _numpy_lstm(layers['layers_0']['gates'], chi,
                         *carry.controller[0])
    c1, h1 = _numpy_lstm(layers['layers_1']['gates'],
                         np.concatenate([chi, h0], -1), *carry.controller[1])
    for got, want in zip(jax.tree.leaves(states), (c0, h0, c1, h1)):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

  def test_baseline_stacks_layers(self):
    cell = lstm.LSTMBaseline(hidden_size=5, num_layers=3)
    x = jnp.ones((2, 7))
    carry = cell.initialize_carry(jax.random.key(0), x.shape)
    self.assertLen(carry, 3)
    params = cell.init(jax.random.key(1), carry, x)
    self.assertEqual(sorted(params['params']), ['layer_0', 'layer_1',
                                                'layer_2'])
    new, (y, aux) = cell.apply(params, carry, x)
    self.assertEqual(y.shape, (2, 5))
    self.assertEqual(aux, {})
    np.testing.assert_array_equal(y, new[-1].h)


if __name__ == '__main__':
  absltest.main()
