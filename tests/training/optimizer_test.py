"""Tests for the optimisers of `memax.training.optim`."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memax.training import optim


def _optimizer_config(**fields) -> ml_collections.ConfigDict:
  config = dict(name='sgd', learning_rate=1.0, momentum=0.0,
                schedule='constant', grad_clip_value=0.0, grad_clip_norm=0.0,
                grad_clip_norm_per_param=0.0)
  config.update(fields)
  return ml_collections.ConfigDict(config)


# A small parameter tree and three gradients, large enough that every clip
# below acts on some of them.
_PARAMS = {'w': jnp.array([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]]),
           'b': jnp.array([0.2, -0.4]),
           'nested': {'s': jnp.array(1.5)}}


def _grads(i):
  return jax.tree.map(
      lambda p: jnp.sin(3.0 * p + i) * (4.0 + 3.0 * i), _PARAMS)


def _run(optimizer, steps=3):
  """The updates and parameters of `steps` updates with `_grads`.

  Jitted: one program rather than one per operation and shape.
  """
  @jax.jit
  def run():
    params, state, out = _PARAMS, optimizer.init(_PARAMS), []
    for i in range(steps):
      updates, state = optimizer.update(_grads(i), state, params)
      params = optax.apply_updates(params, updates)
      out.append((updates, params))
    return out
  return run()


class ClipPerParamTest(absltest.TestCase):

  def test_each_array_is_clipped_on_its_own(self):
    clip = optim.clip_by_norm_per_param(1.0)
    grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.3, 0.4])}
    out, _ = jax.jit(clip.update)(grads, clip.init(grads))
    np.testing.assert_allclose(out['a'], [0.6, 0.8], rtol=1e-6)  # norm 5 -> 1
    np.testing.assert_allclose(out['b'], [0.3, 0.4], rtol=1e-6)  # kept
    zero, _ = clip.update({'z': jnp.zeros(3)}, optax.EmptyState())
    np.testing.assert_array_equal(zero['z'], np.zeros(3))

  def test_stacked_params_are_clipped_per_slice_together(self):
    clip = optim.clip_by_norm_per_param(1.0, stacked=('emb', 'tmp'))
    grads = {'m': {'emb': jnp.array([[[3.0]], [[0.3]]]),   # [2, 1, 1]
                   'tmp': jnp.array([[4.0, 0.0], [0.4, 0.0]])},  # [2, 2]
             'w': jnp.array([[0.0, 2.0]])}
    out, _ = jax.jit(clip.update)(grads, clip.init(grads))
    # Slice 0 of emb and tmp together has norm 5 -> 1; slice 1 norm 0.5 kept.
    np.testing.assert_allclose(out['m']['emb'][:, 0, 0], [0.6, 0.3],
                               rtol=1e-6)
    np.testing.assert_allclose(out['m']['tmp'], [[0.8, 0.0], [0.4, 0.0]],
                               rtol=1e-6)
    np.testing.assert_allclose(out['w'], [[0.0, 1.0]], rtol=1e-6)
    bad = {'emb': jnp.ones((2, 3)), 'tmp': jnp.ones((3, 3))}
    with self.assertRaisesRegex(ValueError, 'grad_clip_stacked'):
      clip.update(bad, optax.EmptyState())

  def test_stacked_needs_the_per_param_clip(self):
    config = _optimizer_config(grad_clip_stacked='embeddings')
    with self.assertRaisesRegex(ValueError, 'grad_clip_norm_per_param'):
      optim.make_optimizer(config)

  def test_per_param_clip_in_the_optimizer(self):
    # sgd at rate 1 without momentum: the update is minus the clipped grads.
    optimizer = optim.make_optimizer(_optimizer_config(
        grad_clip_norm_per_param=1.0))
    grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.3, 0.4])}
    updates, _ = optimizer.update(grads, optimizer.init(grads))
    np.testing.assert_allclose(updates['a'], [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(updates['b'], [-0.3, -0.4], rtol=1e-6)

  def test_global_clip_differs(self):
    grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.3, 0.4])}
    glob, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
    # The global clip shrinks the small array too.
    self.assertLess(float(jnp.linalg.norm(glob['b'])), 0.2)


class SameAsOptaxTest(parameterized.TestCase):
  """`make_optimizer` (hyper-parameters injected) is the plain optax one."""

  # `tol` (relative, absolute): the same float32 operations, so the same
  # bits. (RMSProp's `decay` stays a Python number in a single run: as a
  # float32 array `1 - decay` would be rounded differently.)
  @parameterized.named_parameters(
      ('rmsprop_clip_value',
       dict(name='rmsprop', learning_rate=1e-2, momentum=0.9, decay=0.95,
            eps=1e-8, grad_clip_value=2.0),
       lambda: optax.chain(optax.clip(2.0),
                           optax.rmsprop(1e-2, 0.95, 1e-8, momentum=0.9)),
       (0.0, 0.0)),
      # TensorFlow 1's RMSProp (DAM, deepmind/dnc): the mean square
      # starts at 1.
      ('rmsprop_initial_scale',
       dict(name='rmsprop', learning_rate=1e-2, momentum=0.9, decay=0.9,
            eps=1e-10, initial_scale=1.0),
       lambda: optax.rmsprop(1e-2, 0.9, 1e-10, initial_scale=1.0,
                             momentum=0.9), (0.0, 0.0)),
      ('rmsprop_no_momentum',
       dict(name='rmsprop', learning_rate=3e-3, momentum=0.0, decay=0.9,
            eps=1e-6),
       lambda: optax.rmsprop(3e-3, 0.9, 1e-6), (0.0, 0.0)),
      ('adam_clip_norm',
       dict(name='adam', learning_rate=1e-3, eps=1e-8, grad_clip_norm=5.0),
       lambda: optax.chain(optax.clip_by_global_norm(5.0),
                           optax.adam(1e-3, eps=1e-8)), (0.0, 0.0)),
      ('sgd_momentum_both_clips',
       dict(name='sgd', learning_rate=0.05, momentum=0.9,
            grad_clip_value=3.0, grad_clip_norm=6.0),
       lambda: optax.chain(optax.clip(3.0), optax.clip_by_global_norm(6.0),
                           optax.sgd(0.05, momentum=0.9)), (0.0, 0.0)),
      ('sgd_plain',
       dict(name='sgd', learning_rate=0.1, momentum=0.0),
       lambda: optax.sgd(0.1), (0.0, 0.0)),
  )
  def test_three_steps_match(self, fields, reference, tol):
    ours = _run(optim.make_optimizer(_optimizer_config(**fields)))
    theirs = _run(reference())
    for step, ((u_a, p_a), (u_b, p_b)) in enumerate(zip(ours, theirs)):
      self.assertEqual(jax.tree.structure(u_a), jax.tree.structure(u_b))
      for a, b in zip(jax.tree.leaves((u_a, p_a)),
                      jax.tree.leaves((u_b, p_b))):
        np.testing.assert_allclose(a, b, rtol=tol[0], atol=tol[1],
                                   err_msg=f'step {step}')
    # The updates moved the parameters, so the comparison can fail.
    self.assertGreater(
        max(float(jnp.max(jnp.abs(u))) for u in jax.tree.leaves(ours[0][0])),
        1e-4)

  def test_hyperparams_live_in_the_state(self):
    optimizer = optim.make_optimizer(_optimizer_config(
        name='rmsprop', learning_rate=1e-2, momentum=0.9, decay=0.95,
        eps=1e-8, grad_clip_value=2.0))
    held = optim.hyperparams(optimizer.init(_PARAMS))
    expected = dict(learning_rate=1e-2, momentum=0.9, eps=1e-8,
                    grad_clip_value=2.0)
    self.assertEqual(set(expected), set(held))
    for name, value in expected.items():
      self.assertEqual(held[name].shape, (), name)
      np.testing.assert_allclose(held[name], value, rtol=1e-7, err_msg=name)
    # The decay is data when a population's members differ in it.
    config = _optimizer_config(name='rmsprop', learning_rate=1e-2,
                               momentum=0.9, decay=0.95, eps=1e-8)
    other = _optimizer_config(name='rmsprop', learning_rate=1e-2,
                              momentum=0.9, decay=0.9, eps=1e-8)
    held = optim.hyperparams(optim.make_optimizer(
        config, members=[config, other]).init(_PARAMS))
    np.testing.assert_allclose(held['decay'], 0.95, rtol=1e-7)


class SetHyperparamsTest(absltest.TestCase):

  def test_the_next_update_uses_the_new_learning_rate(self):
    optimizer = optim.make_optimizer(_optimizer_config(learning_rate=1.0))
    grads = jax.tree.map(jnp.ones_like, _PARAMS)
    state = optimizer.init(_PARAMS)
    updates, state = optimizer.update(grads, state, _PARAMS)
    np.testing.assert_allclose(updates['b'], [-1.0, -1.0])
    state = optim.set_hyperparams(state, {'learning_rate': 0.25})
    self.assertAlmostEqual(
        float(optim.hyperparams(state)['learning_rate']), 0.25)
    updates, state = optimizer.update(grads, state, _PARAMS)
    np.testing.assert_allclose(updates['b'], [-0.25, -0.25])
    updates, _ = optimizer.update(grads, state, _PARAMS)  # and it stays.
    np.testing.assert_allclose(updates['b'], [-0.25, -0.25])

  def test_new_rate_under_jit_and_with_a_schedule(self):
    # Under jit the rate is data: one compiled update serves both values;
    # the step schedule decays the new base rate.
    optimizer = optim.make_optimizer(
        _optimizer_config(learning_rate=1.0, schedule='step',
                          decay_every_epochs=1, decay_factor=0.5),
        steps_per_epoch=2)
    grads = {'x': jnp.ones(2)}
    update = jax.jit(optimizer.update)
    state = optimizer.init(grads)
    rates = []
    for i in range(4):
      if i == 2:
        state = optim.set_hyperparams(state, {'learning_rate': 4.0})
      u, state = update(grads, state)
      rates.append(-float(u['x'][0]))
    # Steps 0, 1 at 1.0; steps 2, 3 at 4.0 * 0.5 (one period decayed).
    self.assertEqual(rates, [1.0, 1.0, 2.0, 2.0])

  def test_unknown_name_is_refused(self):
    optimizer = optim.make_optimizer(_optimizer_config())
    with self.assertRaisesRegex(ValueError, r'config\.optimizer\.l2'):
      optim.set_hyperparams(optimizer.init(_PARAMS), {'l2': 0.5})


class ScheduleTest(parameterized.TestCase):

  def test_step_schedule_halves_the_rate(self):
    config = _optimizer_config(schedule='step', decay_every_epochs=2,
                               decay_factor=0.5)
    schedule = optim.learning_rate_schedule(config, steps_per_epoch=3)
    self.assertEqual([float(schedule(s)) for s in (0, 5, 6, 12)],
                     [1.0, 1.0, 0.5, 0.25])
    # Held until decay_start_epochs, then halved every 2 epochs from there.
    config.decay_start_epochs = 3
    schedule = optim.learning_rate_schedule(config, steps_per_epoch=3)
    self.assertEqual([float(schedule(s)) for s in (0, 8, 9, 14, 15, 21)],
                     [1.0, 1.0, 1.0, 1.0, 0.5, 0.25])
    config.decay_start_epochs = -1
    with self.assertRaisesRegex(ValueError, 'decay_start_epochs'):
      optim.learning_rate_schedule(config)
    config.decay_start_epochs = 0
    config.schedule = 'cosine'
    with self.assertRaisesRegex(ValueError, r'config\.optimizer\.schedule'):
      optim.learning_rate_schedule(config)

  @parameterized.parameters(
      (0.01, 0.5, 2, 0, 3),
      (0.005, 0.5, 25, 20, 1),
      (0.1, 0.3, 1, 2, 4),
  )
  def test_matches_optax_exponential_decay(self, lr, factor, every, start,
                                           spe):
    config = _optimizer_config(
        learning_rate=lr, schedule='step', decay_every_epochs=every,
        decay_start_epochs=start, decay_factor=factor)
    reference = optax.exponential_decay(
        lr, transition_steps=every * spe, decay_rate=factor,
        transition_begin=start * spe, staircase=True)
    steps = jnp.arange((start + 4 * every) * spe + 2)
    schedule = optim.learning_rate_schedule(config, steps_per_epoch=spe)
    np.testing.assert_allclose(jax.vmap(schedule)(steps),
                               jax.vmap(reference)(steps), rtol=1e-7)
    # The optimiser itself: sgd's updates of a unit gradient are minus the
    # rate of each step, the same as optax.sgd on the optax schedule.
    grads = {'x': jnp.ones(())}

    def rates(optimizer):
      def body(state, _):
        u, state = optimizer.update(grads, state)
        return state, -u['x']
      return jax.lax.scan(body, optimizer.init(grads), steps)[1]

    ours = rates(optim.make_optimizer(config, steps_per_epoch=spe))
    np.testing.assert_allclose(ours, rates(optax.sgd(reference)), rtol=1e-7)
    self.assertLess(float(ours[-1]), lr * factor ** 3.5)  # it did decay.

  def test_bad_fields_name_the_field(self):
    for fields, field in (
        (dict(learning_rate=0.0), 'learning_rate'),
        (dict(name='lion'), 'name'),
        (dict(momentum=-0.1), 'momentum'),
        (dict(schedule='step', decay_every_epochs=0), 'decay_every_epochs'),
        (dict(name='rmsprop', initial_scale=-1.0), 'initial_scale'),
    ):
      with self.assertRaisesRegex(ValueError, rf'config\.optimizer\.{field}'):
        optim.make_optimizer(_optimizer_config(**fields))


if __name__ == '__main__':
  absltest.main()
