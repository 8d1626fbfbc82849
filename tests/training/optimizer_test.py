"""Tests for the optimiser options of `memax.training.train`."""

from absl.testing import absltest
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memax.training import train


class ClipPerParamTest(absltest.TestCase):

  def test_each_array_is_clipped_on_its_own(self):
    clip = train.clip_by_norm_per_param(1.0)
    grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.3, 0.4])}
    out, _ = clip.update(grads, clip.init(grads))
    np.testing.assert_allclose(out['a'], [0.6, 0.8], rtol=1e-6)  # norm 5 -> 1
    np.testing.assert_allclose(out['b'], [0.3, 0.4], rtol=1e-6)  # kept
    zero, _ = clip.update({'z': jnp.zeros(3)}, optax.EmptyState())
    np.testing.assert_array_equal(zero['z'], np.zeros(3))

  def test_stacked_params_are_clipped_per_slice_together(self):
    clip = train.clip_by_norm_per_param(1.0, stacked=('emb', 'tmp'))
    grads = {'m': {'emb': jnp.array([[[3.0]], [[0.3]]]),   # [2, 1, 1]
                   'tmp': jnp.array([[4.0, 0.0], [0.4, 0.0]])},  # [2, 2]
             'w': jnp.array([[0.0, 2.0]])}
    out, _ = clip.update(grads, clip.init(grads))
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
    config = ml_collections.ConfigDict(dict(
        name='sgd', learning_rate=1.0, momentum=0.0, schedule='constant',
        grad_clip_norm_per_param=0.0, grad_clip_stacked='embeddings'))
    with self.assertRaisesRegex(ValueError, 'grad_clip_norm_per_param'):
      train.make_optimizer(config)

  def test_global_clip_differs(self):
    grads = {'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.3, 0.4])}
    glob, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
    # The global clip shrinks the small array too.
    self.assertLess(float(jnp.linalg.norm(glob['b'])), 0.2)

  def test_step_schedule_halves_the_rate(self):
    config = ml_collections.ConfigDict(dict(
        name='sgd', learning_rate=1.0, momentum=0.0, schedule='step',
        decay_every_epochs=2, decay_factor=0.5, grad_clip_norm_per_param=0.0))
    schedule = train.learning_rate_schedule(config, steps_per_epoch=3)
    self.assertEqual([float(schedule(s)) for s in (0, 5, 6, 12)],
                     [1.0, 1.0, 0.5, 0.25])
    # Held until decay_start_epochs, then halved every 2 epochs from there.
    config.decay_start_epochs = 3
    schedule = train.learning_rate_schedule(config, steps_per_epoch=3)
    self.assertEqual([float(schedule(s)) for s in (0, 8, 9, 14, 15, 21)],
                     [1.0, 1.0, 1.0, 1.0, 0.5, 0.25])
    config.decay_start_epochs = -1
    with self.assertRaisesRegex(ValueError, 'decay_start_epochs'):
      train.learning_rate_schedule(config)
    config.decay_start_epochs = 0
    config.schedule = 'cosine'
    with self.assertRaisesRegex(ValueError, r'config\.optimizer\.schedule'):
      train.learning_rate_schedule(config)


if __name__ == '__main__':
  absltest.main()
