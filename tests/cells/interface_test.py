"""Tests for `memax.cells.interface`: layout, activations, heads, errors."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from memax.cells import interface
from memax.cells.interface import Field


class InterfaceTest(absltest.TestCase):

  def test_one_group_without_heads_axis(self):
    fields = (Field('keys', (2, 3)), Field('gate', (), jax.nn.sigmoid),
              Field('modes', (2, 3), jax.nn.softmax))
    self.assertEqual(interface.interface_size(fields), 13)
    raw = jnp.arange(2 * 13, dtype=jnp.float32).reshape(2, 13) / 10
    out = interface.split(raw, fields)
    self.assertEqual(list(out), ['keys', 'gate', 'modes'])
    r = np.asarray(raw)
    np.testing.assert_allclose(out['keys'], r[:, :6].reshape(2, 2, 3))
    np.testing.assert_allclose(out['gate'], 1 / (1 + np.exp(-r[:, 6])),
                               rtol=1e-6)
    modes = r[:, 7:].reshape(2, 2, 3)
    want = np.exp(modes) / np.exp(modes).sum(-1, keepdims=True)
    np.testing.assert_allclose(out['modes'], want, rtol=1e-6)

  def test_heads_are_laid_out_one_after_another(self):
    fields = (Field('key', (2,)), Field('beta', ()))
    raw = jnp.arange(9.0)[None]   # 3 heads of 3
    self.assertEqual(interface.interface_size(fields, num_heads=3), 9)
    out = interface.split(raw, fields, num_heads=3)
    np.testing.assert_array_equal(out['key'][0], [[0, 1], [3, 4], [6, 7]])
    np.testing.assert_array_equal(out['beta'][0], [2, 5, 8])

  def test_one_head_keeps_the_heads_axis(self):
    out = interface.split(jnp.zeros((4, 3)), (Field('key', (3,)),),
                          num_heads=1)
    self.assertEqual(out['key'].shape, (4, 1, 3))

  def test_errors_name_the_problem(self):
    with self.assertRaisesRegex(ValueError, 'size 5, expected 4'):
      interface.split(jnp.zeros(5), (Field('a', (4,)),))
    with self.assertRaisesRegex(ValueError, 'distinct names'):
      interface.interface_size((Field('a', ()), Field('a', (2,))))
    with self.assertRaisesRegex(ValueError, "field 'a': shape"):
      interface.interface_size((Field('a', (0,)),))


if __name__ == '__main__':
  absltest.main()
