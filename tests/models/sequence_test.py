"""Tests for the sequence model and the model registry."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import models as model_configs
from memax import models
from memax.cells import ntm


def _config(name, **kw):
  config = model_configs.get(name)
  if name == 'ntm':
    config.update(dict(controller_size=8, memory_size=12, word_size=5))
  else:
    config.hidden_size = 8
  config.update(kw)
  return config


class SequenceModelTest(parameterized.TestCase):

  @parameterized.parameters('ntm', 'lstm')
  def test_scan_equals_a_python_loop_over_the_cell(self, name):
    model = models.build(_config(name), output_size=3)
    xs = jax.random.normal(jax.random.key(0), (2, 7, 4))
    params = model.init(jax.random.key(1), xs)
    out = model.apply(params, xs)
    self.assertEqual(dict(out.losses), {})  # the cell has no loss of its own
    logits = out.logits
    cell = model.cell
    carry = cell.initialize_carry(jax.random.key(0), xs[:, 0].shape)
    cell_params = {'params': params['params']['cell']}
    readout = params['params']['readout']
    for t in range(xs.shape[1]):
      carry, (features, _) = cell.apply(cell_params, carry, xs[:, t])
      expected = features @ readout['kernel'] + readout['bias']
      np.testing.assert_allclose(logits[:, t], expected, rtol=1e-5,
                                 atol=1e-5)

  @parameterized.product(name=['ntm', 'lstm'], remat=[False, True])
  def test_skipping_padded_steps_changes_nothing_before_num_steps(
      self, name, remat):
    model = models.build(_config(name, remat=remat), output_size=3,
                         return_aux=name == 'ntm')
    xs = jax.random.normal(jax.random.key(0), (2, 9, 4))
    params = model.init(jax.random.key(1), xs)
    n = 5
    apply = jax.jit(lambda p, **kw: model.apply(p, xs, **kw))
    full_out = apply(params)
    skip_out = apply(params, num_steps=jnp.int32(n))
    full, full_aux = full_out.logits, full_out.aux
    skip, skip_aux = skip_out.logits, skip_out.aux
    np.testing.assert_allclose(skip[:, :n], full[:, :n], rtol=1e-5,
                               atol=1e-6)
    # Skipped steps have zero features: the logits are the readout bias.
    bias = params['params']['readout']['bias']
    np.testing.assert_allclose(skip[:, n:], np.broadcast_to(bias, (2, 4, 3)),
                               atol=1e-7)
    for key in full_aux:
      np.testing.assert_allclose(skip_aux[key][:, :n], full_aux[key][:, :n],
                                 rtol=1e-5, atol=1e-6)
      np.testing.assert_array_equal(skip_aux[key][:, n:], 0.0)

    def loss(p, **kw):
      return jnp.sum(jnp.square(model.apply(p, xs, **kw).logits[:, :n]))

    g_full = jax.jit(jax.grad(loss))(params)
    g_skip = jax.jit(jax.grad(lambda p: loss(p, num_steps=jnp.int32(n))))(
        params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-4, atol=1e-6), g_skip, g_full)

  def test_params_do_not_depend_on_batch_length_or_memory(self):
    model = models.build(_config('ntm'), output_size=3)
    params = model.init(jax.random.key(1), jnp.zeros((1, 3, 4)))
    bigger = models.build(_config('ntm', memory_size=64), output_size=3,
                          return_aux=True)
    out = bigger.apply(params, jnp.ones((5, 30, 4)))
    logits, aux = out.logits, out.aux
    self.assertEqual(logits.shape, (5, 30, 3))
    self.assertEqual(aux['write_weights'].shape, (5, 30, 1, 64))
    self.assertEqual(aux['read_weights'].shape, (5, 30, 1, 64))

  def test_outputs_are_causal(self):
    model = models.build(_config('ntm'), output_size=3)
    xs = jax.random.normal(jax.random.key(0), (2, 9, 4))
    params = model.init(jax.random.key(1), xs)
    a = model.apply(params, xs).logits
    b = model.apply(params, xs.at[:, 5:].set(7.0)).logits
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-6)
    self.assertFalse(np.allclose(a[:, 5:], b[:, 5:]))

  @parameterized.parameters(True, False)
  def test_remat_and_unroll_do_not_change_values_or_grads(self, remat):
    xs = jax.random.normal(jax.random.key(0), (2, 6, 4))
    base = models.build(_config('ntm'), output_size=3)
    other = models.build(_config('ntm', remat=remat, unroll=3), output_size=3)
    params = base.init(jax.random.key(1), xs)

    def loss(model, p):
      return jnp.sum(model.apply(p, xs).logits ** 2)

    np.testing.assert_allclose(loss(base, params), loss(other, params),
                               rtol=1e-5)
    g1 = jax.grad(lambda p: loss(base, p))(params)
    g2 = jax.grad(lambda p: loss(other, p))(params)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

  def test_random_memory_init_uses_the_carry_rng(self):
    model = models.build(_config('ntm', memory_init='random',
                                 memory_init_value=1.0), output_size=3)
    xs = jnp.ones((1, 4, 4))
    params = model.init(jax.random.key(1), xs)
    a = model.apply(params, xs, rngs={'carry': jax.random.key(0)}).logits
    b = model.apply(params, xs, rngs={'carry': jax.random.key(1)}).logits
    c = model.apply(params, xs, rngs={'carry': jax.random.key(0)}).logits
    np.testing.assert_array_equal(a, c)
    self.assertFalse(np.allclose(a, b))
    # The stream the trainer provides (`step.model_rngs`).
    self.assertEqual(model.rng_streams, ('carry',))

  def test_unknown_model_and_field_errors_name_the_field(self):
    with self.assertRaisesRegex(ValueError, 'config.model.name'):
      models.build(ml_collections.ConfigDict({'name': 'dnc9'}), 3)
    with self.assertRaisesRegex(ValueError, 'config.model.memory_sise'):
      models.build(_config('ntm', memory_sise=3), 3)
    with self.assertRaisesRegex(ValueError, 'config.model.unroll'):
      models.build(_config('ntm', unroll=0), 3)

  def test_registry_builds_every_model(self):
    for name in models.REGISTRY:
      model = models.build(_config(name), output_size=2)
      self.assertIsInstance(model, models.SequenceModel)
    self.assertIs(models.REGISTRY['ntm'], ntm.NTMCell)


if __name__ == '__main__':
  absltest.main()
