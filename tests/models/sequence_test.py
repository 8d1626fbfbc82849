"""Tests for the sequence model and the model registry.

Compiling the NTM's scans dominates this file, so the tests share one input
batch, one set of parameters per model and one jitted program per model
(cached at module level), which runs each variant of the model forward and
backward once and returns its output with the gradients of the losses the
tests compare.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import models as model_configs
from memax import models
from memax.cells import ntm

_T = 8  # steps of the shared inputs.
_N = 5  # num_steps of the skipping test: steps _N.. are padding.
_UNROLL = 2  # divides _T: the unrolled scan has no remainder loop.


# Cells whose input projection runs before the loop, besides the LSTM: the
# MANN, a two-layer DNC (a tuple of projections) and a feed-forward DNC
# (its inputs passed through).
_PROJECTING = {'mann': {}, 'dnc2': {'controller_layers': 2},
               'dnc_ff': {'controller': 'feedforward'},
               'dam': {'num_blocks': 2, 'num_read_heads': 2}}


def _config(name, **kw):
  config = model_configs.get({'dnc2': 'dnc', 'dnc_ff': 'dnc'}.get(name, name))
  if name in ('ntm', 'mann', 'dnc') or name in _PROJECTING:
    config.update(dict(controller_size=8, memory_size=12, word_size=5))
    config.update(_PROJECTING.get(name, {}))
  else:
    config.hidden_size = 8
  config.update(kw)
  return config


@functools.lru_cache(maxsize=None)
def _inputs() -> np.ndarray:
  """The shared `[2, _T, 4]` inputs (numpy: nothing to compile)."""
  return np.random.default_rng(0).normal(size=(2, _T, 4)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _params(name):
  """Parameters of the model `name`; remat, unroll, aux and the memory
  initialisation add none, so every variant of the model shares them."""
  model = models.build(_config(name), output_size=3)
  return jax.jit(model.init)(jax.random.key(1), _inputs())


# The variants of each model that the tests run on the shared inputs, as
# `(remat, unroll, skip)`: the plain model (the reference), remat with
# unrolling, skipping with and without remat, and (the LSTM) unrolling alone.
_VARIANTS = {
    'ntm': ((False, 1, False), (True, _UNROLL, False), (False, 1, True),
            (True, 1, True)),
    'lstm': ((False, 1, False), (True, _UNROLL, False),
             (False, _UNROLL, False), (False, 1, True), (True, 1, True)),
    # Skipping with projections: the two-layer DNC's tuple of them (the
    # MANN's single projection is the LSTM's case).
    'mann': ((False, 1, False),), 'dnc_ff': ((False, 1, False),),
    'dnc2': ((False, 1, False), (False, 1, True)),
    'dam': ((False, 1, False),),
}


@functools.lru_cache(maxsize=None)
def _model(name, remat=False, unroll=1):
  return models.build(_config(name, remat=remat, unroll=unroll),
                      output_size=3, return_aux=name == 'ntm')


def _run(name, remat=False, unroll=1, skip=False):
  """`run(params, xs, num_steps) -> (output, grads)` of a variant.

  `grads` maps 'all' to the gradient of `sum(logits ** 2)` and 'first' to
  that of `sum(logits[:, :_N] ** 2)`, both from one forward pass (`vjp`),
  each only where a test compares it: 'first' for the skipping test, 'all'
  for remat and unroll, both for the plain model (the reference).
  """
  model = _model(name, remat, unroll)
  if skip:
    wanted = ('first',)
  elif (remat, unroll) == (False, 1):
    wanted = ('all', 'first')
  else:
    wanted = ('all',)

  def run(params, xs, num_steps):
    def logits_fn(p):
      out = model.apply(p, xs, num_steps=num_steps)
      return out.logits, out
    logits, vjp, out = jax.vjp(logits_fn, params, has_aux=True)
    first = (jnp.arange(xs.shape[1]) < _N)[:, None]
    cotangents = {'all': 2 * logits,
                  'first': 2 * jnp.where(first, logits, 0.0)}
    return out, {k: vjp(cotangents[k])[0] for k in wanted}

  return run


def _changed_inputs() -> np.ndarray:
  """`_inputs()` with the steps from 5 on changed (the causality test)."""
  changed = _inputs().copy()
  changed[:, 5:] = 7.0
  return changed


@functools.lru_cache(maxsize=None)
def _all_results(name):
  """`({variant: (output, grads)}, changed_logits)` of the model `name`.

  Every variant of `_VARIANTS[name]` on the shared inputs (`skip` passes
  `num_steps=_N`, a traced int32 as the trainer does), and the logits of
  the plain model on `_changed_inputs()`: one jitted program per model (the
  variants compiled together cost about a third less than one by one).
  """
  runs = {v: _run(name, *v) for v in _VARIANTS[name]}
  plain = _model(name)

  @jax.jit
  def run_all(params, xs, changed, num_steps):
    results = {v: run(params, xs, num_steps if v[2] else None)
               for v, run in runs.items()}
    return results, plain.apply(params, changed).logits

  # On the host: the tests' slices compile nothing.
  return jax.device_get(run_all(_params(name), _inputs(), _changed_inputs(),
                                jnp.int32(_N)))


def _results(name, remat=False, unroll=1, skip=False):
  """`(output, grads)` of the variant on the shared inputs."""
  return _all_results(name)[0][(remat, unroll, skip)]


class SequenceModelTest(parameterized.TestCase):

  @parameterized.parameters('ntm', 'lstm', *_PROJECTING)
  def test_scan_equals_a_python_loop_over_the_cell(self, name):
    model = _model(name)
    out, _ = _results(name)  # the model's scan over _inputs().
    params, xs = _params(name), _inputs()
    self.assertEqual(dict(out.losses), {})  # the cell has no loss of its own
    logits = out.logits
    cell = model.cell
    step = jax.jit(cell.apply)  # one compiled step, called at every t.
    carry = cell.initialize_carry(jax.random.key(0), xs[:, 0].shape)
    cell_params = {'params': params['params']['cell']}
    readout = jax.device_get(params['params']['readout'])  # NumPy below.
    for t in range(xs.shape[1]):
      carry, (features, _) = step(cell_params, carry, xs[:, t])
      expected = np.asarray(features) @ readout['kernel'] + readout['bias']
      np.testing.assert_allclose(logits[:, t], expected, rtol=1e-5,
                                 atol=1e-5)

  @parameterized.product(name=['ntm', 'lstm'], remat=[False, True])
  def test_skipping_padded_steps_changes_nothing_before_num_steps(
      self, name, remat):
    self._check_skipping(name, remat)

  def test_skipping_with_a_tuple_of_projected_inputs(self):
    self._check_skipping('dnc2', remat=False)

  def _check_skipping(self, name, remat):
    # Skipping, with or without remat, against the reference: the plain
    # model (no remat) computing every step, whose program the other tests
    # share.
    n = _N
    params = _params(name)
    full_out, full_grads = _results(name)
    skip_out, skip_grads = _results(name, remat=remat, skip=True)
    full, full_aux = full_out.logits, full_out.aux
    skip, skip_aux = skip_out.logits, skip_out.aux
    self.assertEqual(skip.shape, (2, _T, 3))
    np.testing.assert_allclose(skip[:, :n], full[:, :n], rtol=1e-5,
                               atol=1e-6)
    # Skipped steps have zero features: the logits are the readout bias.
    bias = params['params']['readout']['bias']
    np.testing.assert_allclose(skip[:, n:],
                               np.broadcast_to(bias, (2, _T - n, 3)),
                               atol=1e-7)
    self.assertEqual(set(skip_aux), set(full_aux))
    if name == 'ntm':
      self.assertEqual(set(full_aux), {'read_weights', 'write_weights'})
    for key in full_aux:
      np.testing.assert_allclose(skip_aux[key][:, :n], full_aux[key][:, :n],
                                 rtol=1e-5, atol=1e-6)
      np.testing.assert_array_equal(skip_aux[key][:, n:], 0.0)
    # Gradients of sum(logits[:, :n] ** 2).
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-4, atol=1e-6), skip_grads['first'],
                 full_grads['first'])

  @parameterized.parameters('ntm', 'lstm', 'dnc2')
  def test_skipping_stores_no_weights_per_step(self, name):
    # Without recomputation the conditional's residuals, stacked by the
    # scan, held each weight matrix once per step (a regression: the
    # skipping gradient then cost 3.4x the full one at 1,378 steps).
    model = _model(name)  # remat off: skipping recomputes all the same.
    params = _params(name)
    grad = jax.grad(lambda p, n: jnp.sum(
        model.apply(p, _inputs(), num_steps=n).logits ** 2))
    text = str(jax.make_jaxpr(grad)(params, jnp.int32(_N)))  # no compile
    for leaf in jax.tree.leaves(params):
      if leaf.ndim == 2:
        stacked = 'f32[{}]'.format(','.join(map(str, (_T - 1,) + leaf.shape)))
        self.assertNotIn(stacked, text)

  def test_params_do_not_depend_on_batch_length_or_memory(self):
    params = _params('ntm')  # initialised on [2, 8, 4] with 12 slots.
    bigger = models.build(_config('ntm', memory_size=64), output_size=3,
                          return_aux=True)
    # Shapes only (flax checks every parameter's shape as the model is
    # traced): nothing to compile.
    out = jax.eval_shape(bigger.apply, params, jnp.ones((5, 30, 4)))
    logits, aux = out.logits, out.aux
    self.assertEqual(logits.shape, (5, 30, 3))
    self.assertEqual(aux['write_weights'].shape, (5, 30, 1, 64))
    self.assertEqual(aux['read_weights'].shape, (5, 30, 1, 64))

  def test_outputs_are_causal(self):
    # The plain model on _inputs() and on _changed_inputs(), whose steps
    # from 5 on differ: one program with _results('ntm').
    a = _results('ntm')[0].logits
    b = _all_results('ntm')[1]
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-6)
    self.assertFalse(np.allclose(a[:, 5:], b[:, 5:]))

  # The NTM unrolled with remat, the LSTM unrolled with and without it.
  # (The NTM unrolled without remat, a case of its own before, is covered:
  # the NTM's unrolled scan by ('ntm', True), unrolling without remat by
  # ('lstm', False); each NTM case is a large program to compile. remat
  # without unrolling, against the plain model, for both models: the remat
  # cases of test_skipping_padded_steps_changes_nothing_before_num_steps.)
  @parameterized.parameters(('ntm', True), ('lstm', True), ('lstm', False))
  def test_remat_and_unroll_do_not_change_values_or_grads(self, name, remat):
    base, base_grads = _results(name)
    other, other_grads = _results(name, remat=remat, unroll=_UNROLL)

    def loss(out):
      return np.sum(np.square(np.asarray(out.logits, np.float64)))

    np.testing.assert_allclose(loss(base), loss(other), rtol=1e-5)
    # Gradients of sum(logits ** 2).
    g1, g2 = base_grads['all'], other_grads['all']
    self.assertEqual(jax.tree.structure(g1), jax.tree.structure(g2))
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

  def test_random_memory_init_uses_the_carry_rng(self):
    model = models.build(_config('ntm', memory_init='random',
                                 memory_init_value=1.0), output_size=3)
    xs = jnp.ones((1, 4, 4))
    params = _params('ntm')  # the random memory adds no parameters.
    apply = jax.jit(
        lambda p, key: model.apply(p, xs, rngs={'carry': key}).logits)
    a = apply(params, jax.random.key(0))
    b = apply(params, jax.random.key(1))
    c = apply(params, jax.random.key(0))
    np.testing.assert_array_equal(a, c)
    self.assertFalse(np.allclose(a, b))
    # The stream the trainer provides (`step.model_rngs`).
    self.assertEqual(model.rng_streams[0], 'carry')

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
