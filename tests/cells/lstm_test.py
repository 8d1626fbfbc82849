"""Tests for the fused LSTM cell against a NumPy LSTM."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from memax.cells import lstm


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


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
