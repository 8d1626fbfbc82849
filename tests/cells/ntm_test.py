"""Tests for the NTM cell: shapes, unrolling, memory-size freedom, modes.

The cell runs eagerly, op by op: each op compiles once per shape and is then
reused by every test, so the tests keep to a few shapes (a batch of 3 inputs
of size 5, drawn with numpy: nothing to compile).
"""

from absl.testing import absltest
from absl.testing import parameterized
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from memax import ops
from memax.cells import lstm
from memax.cells import ntm


def _cell(**kw):
  defaults = dict(controller_size=12, memory_size=10, word_size=6)
  defaults.update(kw)
  return ntm.NTMCell(**defaults)


def _init(cell, batch=3, dim=5, seed=0):
  x = np.random.default_rng(seed).normal(size=(batch, dim)).astype(
      np.float32)
  carry = cell.initialize_carry(jax.random.key(1), x.shape)
  params = cell.init(jax.random.key(2), carry, x)
  return params, carry, x


class NTMCellTest(parameterized.TestCase):

  @parameterized.product(
      controller=['lstm', 'feedforward'],
      addressing=['content', 'content_and_location'],
      heads=[(1, 1), (2, 3)])
  def test_step_shapes_and_normalised_weights(self, controller, addressing,
                                              heads):
    r, h = heads
    cell = _cell(controller=controller, addressing=addressing,
                 num_read_heads=r, num_write_heads=h, return_aux=True)
    params, carry, x = _init(cell)
    new, (y, aux) = cell.apply(params, carry, x)
    self.assertEqual(new.memory.shape, (3, 10, 6))
    self.assertEqual(new.read_weights.shape, (3, r, 10))
    self.assertEqual(new.write_weights.shape, (3, h, 10))
    self.assertEqual(new.read_vectors.shape, (3, r, 6))
    self.assertEqual(y.shape, (3, 12 + r * 6))
    np.testing.assert_allclose(new.read_weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(new.write_weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(aux['read_weights'], new.read_weights)
    self.assertTrue(np.all(np.isfinite(y)))

  def test_read_vectors_are_reads_of_the_new_memory(self):
    # The heads of a test_step_shapes_and_normalised_weights case.
    cell = _cell(num_read_heads=2, num_write_heads=3)
    params, carry, x = _init(cell)
    new, _ = jax.device_get(cell.apply(params, carry, x))  # NumPy below.
    expected = np.einsum('brn,bnw->brw', new.read_weights, new.memory)
    np.testing.assert_allclose(new.read_vectors, expected, rtol=1e-5,
                               atol=1e-6)

  @parameterized.parameters('content', 'content_and_location')
  def test_read_first_reads_the_previous_memory(self, addressing):
    # Same parameters: the write is the same in both orders; read_first
    # addresses and reads the memory as it was before the write. (The heads
    # of a test_step_shapes_and_normalised_weights case, whose ops are
    # compiled for these shapes.)
    kw = dict(num_read_heads=2, num_write_heads=3, addressing=addressing,
              memory_init='random', memory_init_value=0.5)
    params, carry, x = _init(_cell(**kw))
    # On the host: the checks below compile nothing.
    after, _ = jax.device_get(_cell(**kw).apply(params, carry, x))
    before, _ = jax.device_get(
        _cell(head_order='read_first', **kw).apply(params, carry, x))
    np.testing.assert_allclose(before.write_weights, after.write_weights,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(before.memory, after.memory, rtol=1e-5,
                               atol=1e-7)
    expected = np.einsum('brn,bnw->brw', before.read_weights,
                         np.asarray(carry.memory))
    np.testing.assert_allclose(before.read_vectors, expected, rtol=1e-5,
                               atol=1e-6)
    # The read heads of write_first see the new memory instead.
    self.assertGreater(
        float(np.abs(before.read_weights - after.read_weights).max()), 1e-4)
    # The read heads' own parameters, addressed head by head on the old
    # memory with the pure ops, give the cell's read weights.
    def read_heads(cell, carry, x):
      _, _, raw = cell.controller_step(carry, x)
      return cell._split_heads(raw[:, :cell._read_size()], 2,
                               write=False)
    # On the host: indexing them below compiles nothing.
    p, prev, got = jax.device_get((
        _cell(head_order='read_first', **kw).apply(
            params, carry, x, method=read_heads),
        carry, before.read_weights))
    # Each pure op jitted: one compilation for the six calls.
    content_weights, address = jax.jit(ops.content_weights), jax.jit(
        ops.address)
    for b in range(3):
      for i in range(2):
        if addressing == 'content':
          w = content_weights(prev.memory[b], p.key[b, i], p.strength[b, i])
        else:
          w = address(prev.memory[b], prev.read_weights[b, i],
                      p.key[b, i], p.strength[b, i], p.gate[b, i],
                      p.shift[b, i], p.gamma[b, i])
        np.testing.assert_allclose(got[b, i], w, rtol=1e-5, atol=1e-7)

  def test_memory_changes_only_where_written(self):
    # With one write head whose weighting is (nearly) one-hot at t=0, the
    # update of the other slots is bounded by their tiny weights.
    cell = _cell(return_aux=True)
    params, carry, x = _init(cell)
    new, (_, aux) = cell.apply(params, carry, x)
    w = np.asarray(aux['write_weights'][:, 0])  # [B, N]
    delta = np.abs(np.asarray(new.memory - carry.memory)).max(-1)  # [B, N]
    # |M'_i - M_i| <= w_i (|M_i| e + |a|) <= w_i * (1e-6 + 1) for tanh adds.
    self.assertTrue(np.all(delta <= w * (1.0 + 1e-5) + 1e-7))

  def test_initial_carry(self):
    cell = _cell(num_read_heads=2, num_write_heads=1)
    carry = jax.device_get(cell.initialize_carry(jax.random.key(0), (3, 5)))
    np.testing.assert_allclose(carry.memory, 1e-6)
    np.testing.assert_array_equal(carry.read_weights[..., 0], 1.0)
    np.testing.assert_array_equal(carry.read_vectors, 0.0)
    random = _cell(memory_init='random', memory_init_value=0.5)
    a = random.initialize_carry(jax.random.key(0), (3, 5)).memory
    b = random.initialize_carry(jax.random.key(1), (3, 5)).memory
    self.assertGreater(float(np.std(a)), 0.3)
    self.assertFalse(np.allclose(a, b))

  def test_learned_init_has_no_memory_size_in_params(self):
    cell = _cell(memory_init='learned')
    params, carry, x = _init(cell)
    shapes = jax.tree.map(jnp.shape, params)['params']
    self.assertEqual(shapes['memory_bias'], (6,))
    self.assertEqual(shapes['read_bias'], (1, 6))
    learned = cell.apply(params, carry, method=ntm.NTMCell.learned_init)
    np.testing.assert_allclose(
        learned.memory, np.broadcast_to(params['params']['memory_bias'],
                                        (3, 10, 6)))

  def test_same_params_run_with_a_bigger_memory(self):
    small = _cell(memory_size=10)
    params, _, x = _init(small)
    big = _cell(memory_size=37)
    carry = big.initialize_carry(jax.random.key(1), x.shape)
    # Jitted: one compilation instead of every op at the new memory size.
    new, (y, _) = jax.jit(big.apply)(params, carry, x)
    self.assertEqual(new.memory.shape, (3, 37, 6))
    self.assertTrue(np.all(np.isfinite(y)))

  def test_batch_elements_are_independent(self):
    # Element 1's step is the same whatever the other elements hold: their
    # inputs and their whole carry (memory, weights, reads, controller) are
    # replaced. (The shapes of the other tests: nothing new to compile.)
    cell = _cell()
    params, carry, x = _init(cell)
    new, (y, _) = cell.apply(params, carry, x)
    others = np.array([True, False, True])

    def replaced(mine, theirs):
      where = others.reshape((-1,) + (1,) * (np.ndim(mine) - 1))
      return np.where(where, theirs, mine)

    # The others' carry becomes their state after one step (a valid state:
    # normalised weights), their inputs change sign and scale.
    carry2 = jax.tree.map(replaced, carry, new)
    x2 = replaced(x, -3.0 * x)
    new2, (y2, _) = cell.apply(params, carry2, x2)
    # On the host: the slices below compile nothing.
    new, y, new2, y2 = jax.device_get((new, y, new2, y2))
    np.testing.assert_allclose(y2[1:2], y[1:2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new2.memory[1:2], new.memory[1:2], rtol=1e-5,
                               atol=1e-7)
    for got, want in zip(jax.tree.leaves(new2), jax.tree.leaves(new)):
      np.testing.assert_allclose(got[1:2], want[1:2], rtol=1e-5, atol=1e-6)
    # The others' steps did change: the comparison can fail.
    self.assertFalse(np.allclose(y2[::2], y[::2]))
    self.assertFalse(np.allclose(new2.memory[::2], new.memory[::2]))

  def test_nn_rnn_matches_a_python_loop(self):
    cell = _cell()
    xs = np.random.default_rng(3).normal(size=(3, 6, 5)).astype(np.float32)
    carry = cell.initialize_carry(jax.random.key(1), xs[:, 0].shape)
    params = cell.init(jax.random.key(2), carry, xs[:, 0])
    rnn = nn.RNN(cell, return_carry=True)
    # Jitted: the scan is compiled as one program either way.
    final, (ys, _) = jax.jit(rnn.apply)(
        {'params': {'cell': params['params']}}, xs)
    c = carry
    for t in range(xs.shape[1]):
      c, (y, _) = cell.apply(params, c, xs[:, t])
      np.testing.assert_allclose(ys[:, t], y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final.memory, c.memory, rtol=1e-5, atol=1e-6)

  @parameterized.parameters('lstm', 'feedforward')
  def test_stacked_controller_is_its_layers_composed(self, controller):
    # Two controller layers: the second reads the first's output, and the
    # cell's output starts with the top layer's output.
    cell = _cell(controller=controller, controller_layers=2)
    params, carry, x = _init(cell)
    new, (y, _) = cell.apply(params, carry, x)
    p = params['params']
    self.assertEqual(set(p), {'core', 'upper_0', 'interface'})
    inp = jnp.concatenate([x, carry.read_vectors.reshape(3, -1)], -1)
    if controller == 'lstm':
      self.assertLen(carry.controller, 2)
      layer = lstm.FusedLSTMCell(12)
      s0, h0 = layer.apply({'params': p['core']}, carry.controller[0], inp)
      s1, h1 = layer.apply({'params': p['upper_0']}, carry.controller[1], h0)
      for got, want in zip(jax.tree.leaves(new.controller),
                           jax.tree.leaves((s0, s1))):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
      self.assertEqual(carry.controller, ())
      dense = nn.Dense(12)
      h0 = jnp.tanh(dense.apply({'params': p['core']}, inp))
      h1 = jnp.tanh(dense.apply({'params': p['upper_0']}, h0))
    np.testing.assert_allclose(y[:, :12], h1, rtol=1e-5, atol=1e-6)
    # The upper layer maps C to C: its parameter count is fixed by C alone.
    upper = sum(a.size for a in jax.tree.leaves(p['upper_0']))
    expected = {'lstm': 4 * 12 * (12 + 12) + 4 * 12,  # gates over [h_below, h]
                'feedforward': 12 * 12 + 12}[controller]
    self.assertEqual(upper, expected)
    # One layer has no `upper` parameters and a single-state carry.
    one, one_carry, _ = _init(_cell(controller=controller))
    self.assertEqual(set(one['params']), {'core', 'interface'})
    if controller == 'lstm':
      self.assertIsInstance(one_carry.controller, lstm.LSTMState)

  @parameterized.parameters('write_first', 'read_first')
  def test_gradients_are_finite_with_extreme_interface(self, head_order):
    # Huge inputs saturate strengths, gates and gamma (clipped at 20).
    cell = _cell(clip_value=20.0, head_order=head_order)
    params, carry, x = _init(cell)
    params = jax.tree.map(lambda p: np.asarray(p) * np.float32(50.0), params)

    def loss(p):
      c, (y, _) = cell.apply(p, carry, x * 100.0)
      c, (y2, _) = cell.apply(p, c, x * 100.0)
      return jnp.sum(y2 ** 2) + jnp.sum(c.memory ** 2)

    with jax.debug_nans(True):
      grads = jax.grad(loss)(params)
    for g in jax.tree.leaves(grads):
      self.assertTrue(np.all(np.isfinite(g)))

  @parameterized.parameters(
      ('memory_size', 0), ('word_size', -1), ('controller_size', 0),
      ('controller_size', True), ('memory_size', 2.5),
      ('controller_layers', 0),
      ('num_read_heads', 0), ('num_write_heads', 0), ('shift_range', -1),
      ('controller', 'gru'), ('addressing', 'location'),
      ('memory_init', 'zeros'), ('head_order', 'read_last'))
  def test_bad_config_names_the_field(self, field, value):
    cell = _cell(**{field: value})
    with self.assertRaisesRegex(ValueError, f'config.model.{field}'):
      _init(cell)


if __name__ == '__main__':
  absltest.main()
