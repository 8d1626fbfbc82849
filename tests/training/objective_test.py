"""The model-output contract: named losses, weights as data, rng streams."""

from absl.testing import absltest
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from configs import memnn_babi
from configs import train as train_config
from memax import tasks
from memax.models.sequence import SequenceModel
from memax.training import optim
from memax.training import setup
from memax.training import step as step_lib
from memax.types import ModelOutput


class _CellWithLoss(nn.RNNCellBase):
  """A tanh cell that emits a per-step loss: the mean square of its state."""

  features: int = 4

  @nn.compact
  def __call__(self, carry, x):
    h = jnp.tanh(nn.Dense(self.features)(jnp.concatenate([carry, x], -1)))
    return h, (h, {'state': h}, {'activity': jnp.mean(h ** 2, -1)})

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    del rng
    return jnp.zeros(input_shape[:-1] + (self.features,))

  @property
  def num_feature_axes(self):
    return 1


class NamedLossTest(absltest.TestCase):

  # Every term weighted; the weights of the tests that train.
  WEIGHTS = {'task': 1.0, 'activity': 0.5, 'l2': 0.01}

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = tasks.build(ml_collections.ConfigDict(dict(
        name='copy', num_bits=3, min_length=1, max_length=3,
        eval_lengths=(3,))))
    cls.model = SequenceModel(cell=_CellWithLoss(),
                              output_size=cls.task.output_size)
    # One initial state and one compiled program for the tests that train:
    # the train step and, in the same program (one compilation rather than
    # one per test and per function), its reference below.
    optimizer = optim.make_optimizer(ml_collections.ConfigDict(dict(
        name='sgd', learning_rate=0.1, momentum=0.0)))
    init = jax.jit(step_lib.init_program(cls.model, cls.task, optimizer,
                                         loss_weights=cls.WEIGHTS))
    cls.state = init(jax.random.key(1), None)
    train_step = step_lib.make_train_step(cls.model, cls.task, optimizer,
                                          batch_size=2)

    @jax.jit
    def step_and_moved(state, key):
      new, metrics = train_step(state, key, None)
      return new, metrics, cls.moved(state.params, state.step, key)

    cls.step_and_moved = staticmethod(step_and_moved)

  @classmethod
  def moved(cls, params, step, key):
    """By hand: SGD at 0.1 on task + 0.5 activity + 0.01 l2 (`WEIGHTS`)."""
    batch = cls.task.train_batch(key, step, 2, None)
    _, model_key = tasks.base.step_keys(key, step)

    def total(params):
      out = cls.model.apply(params, batch.inputs, train=True,
                            rngs=step_lib.model_rngs(cls.model, model_key))
      l2 = 0.5 * sum(jnp.sum(p ** 2) for p in jax.tree.leaves(params))
      return (cls.task.loss(out.logits, batch)
              + 0.5 * out.losses['activity'] + 0.01 * l2)

    grads = jax.grad(total)(params)
    return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)

  def test_a_cells_per_step_loss_is_reduced_over_batch_and_time(self):
    # Jitted, as one program: op by op, each primitive and shape compiles a
    # program.
    @jax.jit
    def run():
      batch = self.task.sample(jax.random.key(0), 2)
      params = self.model.init(jax.random.key(1), batch.inputs)
      return self.model.apply(params, batch.inputs)

    out = run()
    self.assertIsInstance(out, ModelOutput)
    states = np.asarray(out.aux['state'])  # [B, T, F]
    np.testing.assert_allclose(out.losses['activity'],
                               np.mean(states ** 2), rtol=1e-6)

  def test_the_objective_is_the_weighted_sum_and_every_term_is_logged(self):
    # SGD at 0.1 with weights {'task': 1.0, 'activity': 0.5, 'l2': 0.01}.
    self.assertEqual(self.WEIGHTS, {'task': 1.0, 'activity': 0.5, 'l2': 0.01})
    state = self.state
    new, metrics, moved = self.step_and_moved(state, jax.random.key(2))
    expected = (metrics['loss_task'] + 0.5 * metrics['loss_activity']
                + 0.01 * metrics['loss_l2'])
    np.testing.assert_allclose(metrics['loss'], expected, rtol=1e-6)
    sq = sum(float(np.sum(np.asarray(p, np.float64) ** 2))
             for p in jax.tree.leaves(state.params))
    np.testing.assert_allclose(metrics['loss_l2'], 0.5 * sq, rtol=1e-5)

    # The gradient is that of the weighted sum: SGD with rate 0.1 moves the
    # parameters by -0.1 * grad (`moved`, computed by hand).
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 new.params, moved)

  def test_weights_are_data(self):
    # Changing a weight in the state changes the objective, not the code.
    # (The state and program of the class: weights task 1, activity 0.5,
    # l2 0.01; the by-hand reference it also computes is not used here.)
    state, step = self.state, self.step_and_moved
    self.assertEqual(float(state.loss_weights['activity']), 0.5)
    _, a, _ = step(state, jax.random.key(2))
    heavier = state._replace(loss_weights=dict(
        state.loss_weights, activity=jnp.float32(2.5)))
    _, b, _ = step(heavier, jax.random.key(2))
    self.assertEqual(step._cache_size(), 1)
    np.testing.assert_allclose(b['loss'] - a['loss'],
                               2.0 * a['loss_activity'], rtol=1e-5)


class MemNNObjectiveTest(absltest.TestCase):

  def test_memnn_trains_on_its_margin_loss_alone(self):
    config = memnn_babi.get_config('runlocal')
    s = setup.setup(config)
    state = s.init_state()
    self.assertEqual(set(state.loss_weights), {'task'})
    self.assertEqual(float(state.loss_weights['task']), 0.0)
    # The update is Adam's first step on the margin loss alone.
    reference = optax.chain(
        optax.clip_by_global_norm(config.optimizer.grad_clip_norm),
        optax.adam(config.optimizer.learning_rate,
                   eps=config.optimizer.eps))

    def expected(params, step, key, data):
      batch = s.task.train_batch(key, step, config.train.batch_size, data)
      _, model_key = tasks.base.step_keys(key, step)
      grads = jax.grad(lambda p: s.model.apply(
          p, batch.inputs, train=True,
          rngs=step_lib.model_rngs(s.model, model_key)).losses['margin'])(
              params)
      updates, _ = reference.update(grads, reference.init(params), params)
      return optax.apply_updates(params, updates)

    # The train step and the reference as one program (op by op: 16 s; as
    # two programs, a compilation each).
    @jax.jit
    def step_and_expected(state, key, data):
      return (s.train_step(state, key, data),
              expected(state.params, state.step, key, data))

    (new, metrics), want = step_and_expected(state, s.keys.train, s.data)
    np.testing.assert_allclose(metrics['loss'], metrics['loss_margin'],
                               rtol=1e-6)
    self.assertGreater(float(metrics['loss_task']), 0.0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 new.params, want)

  def test_an_unknown_loss_weight_names_the_field(self):
    config = train_config.get_config('model=lstm,task=copy,runlocal')
    config.train.loss_weights.margin = 1.0
    with self.assertRaisesRegex(ValueError,
                                r'config\.train\.loss_weights\.margin'):
      setup.setup(config)


class RngStreamsTest(absltest.TestCase):

  def test_streams_are_declared_by_the_model(self):
    key = jax.random.key(3)
    model = SequenceModel(cell=_CellWithLoss(), output_size=2)
    rngs = step_lib.model_rngs(model, key)
    # The first stream gets the key itself (the carry's, as before the
    # readout's dropout stream was added).
    self.assertEqual(list(rngs), ['carry', 'dropout'])
    np.testing.assert_array_equal(jax.random.key_data(rngs['carry']),
                                  jax.random.key_data(key))

    class _Two(nn.Module):
      rng_streams = ('noise', 'dropout')

    rngs = step_lib.model_rngs(_Two(), key)
    self.assertEqual(list(rngs), ['noise', 'dropout'])
    self.assertFalse(np.array_equal(jax.random.key_data(rngs['noise']),
                                    jax.random.key_data(rngs['dropout'])))


if __name__ == '__main__':
  absltest.main()
