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

  def setUp(self):
    super().setUp()
    self.task = tasks.build(ml_collections.ConfigDict(dict(
        name='copy', num_bits=3, min_length=1, max_length=3,
        eval_lengths=(3,))))
    self.model = SequenceModel(cell=_CellWithLoss(),
                               output_size=self.task.output_size)

  def test_a_cells_per_step_loss_is_reduced_over_batch_and_time(self):
    # Jitted: op by op, each primitive and shape compiles a program.
    batch = jax.jit(self.task.sample, static_argnums=1)(jax.random.key(0), 2)
    params = jax.jit(self.model.init)(jax.random.key(1), batch.inputs)
    out = jax.jit(self.model.apply)(params, batch.inputs)
    self.assertIsInstance(out, ModelOutput)
    states = np.asarray(out.aux['state'])  # [B, T, F]
    np.testing.assert_allclose(out.losses['activity'],
                               np.mean(states ** 2), rtol=1e-6)

  def test_the_objective_is_the_weighted_sum_and_every_term_is_logged(self):
    optimizer = optim.make_optimizer(ml_collections.ConfigDict(dict(
        name='sgd', learning_rate=0.1, momentum=0.0)))
    weights = {'task': 1.0, 'activity': 0.5, 'l2': 0.01}
    init = jax.jit(step_lib.init_program(self.model, self.task, optimizer,
                                         loss_weights=weights))
    state = init(jax.random.key(1), None)
    train_step = jax.jit(step_lib.make_train_step(
        self.model, self.task, optimizer, batch_size=2))
    new, metrics = train_step(state, jax.random.key(2), None)
    expected = (metrics['loss_task'] + 0.5 * metrics['loss_activity']
                + 0.01 * metrics['loss_l2'])
    np.testing.assert_allclose(metrics['loss'], expected, rtol=1e-6)
    sq = sum(float(np.sum(np.asarray(p, np.float64) ** 2))
             for p in jax.tree.leaves(state.params))
    np.testing.assert_allclose(metrics['loss_l2'], 0.5 * sq, rtol=1e-5)

    # The gradient is that of the weighted sum: SGD with rate 0.1 moves the
    # parameters by -0.1 * grad.
    @jax.jit  # one program rather than one per operation
    def moved(params, step):
      batch = self.task.train_batch(jax.random.key(2), step, 2, None)
      _, model_key = tasks.base.step_keys(jax.random.key(2), step)

      def total(params):
        out = self.model.apply(params, batch.inputs, train=True,
                               rngs=step_lib.model_rngs(self.model,
                                                        model_key))
        l2 = 0.5 * sum(jnp.sum(p ** 2) for p in jax.tree.leaves(params))
        return (self.task.loss(out.logits, batch)
                + 0.5 * out.losses['activity'] + 0.01 * l2)

      grads = jax.grad(total)(params)
      return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 new.params, moved(state.params, state.step))

  def test_weights_are_data(self):
    # Changing a weight in the state changes the objective, not the code.
    optimizer = optim.make_optimizer(ml_collections.ConfigDict(dict(
        name='sgd', learning_rate=0.1, momentum=0.0)))
    init = jax.jit(step_lib.init_program(
        self.model, self.task, optimizer,
        loss_weights={'task': 1.0, 'activity': 1.0}))
    state = init(jax.random.key(1), None)
    train_step = jax.jit(step_lib.make_train_step(
        self.model, self.task, optimizer, batch_size=2))
    _, a = train_step(state, jax.random.key(2), None)
    heavier = state._replace(loss_weights=dict(
        state.loss_weights, activity=jnp.float32(3.0)))
    _, b = train_step(heavier, jax.random.key(2), None)
    self.assertEqual(train_step._cache_size(), 1)
    np.testing.assert_allclose(b['loss'] - a['loss'],
                               2.0 * a['loss_activity'], rtol=1e-5)


class MemNNObjectiveTest(absltest.TestCase):

  def test_memnn_trains_on_its_margin_loss_alone(self):
    config = memnn_babi.get_config('runlocal')
    s = setup.setup(config)
    state = s.init_state()
    self.assertEqual(set(state.loss_weights), {'task'})
    self.assertEqual(float(state.loss_weights['task']), 0.0)
    new, metrics = jax.jit(s.train_step)(state, s.keys.train, s.data)
    np.testing.assert_allclose(metrics['loss'], metrics['loss_margin'],
                               rtol=1e-6)
    self.assertGreater(float(metrics['loss_task']), 0.0)
    # The update is Adam's first step on the margin loss alone.
    reference = optax.chain(
        optax.clip_by_global_norm(config.optimizer.grad_clip_norm),
        optax.adam(config.optimizer.learning_rate,
                   eps=config.optimizer.eps))

    @jax.jit  # one program (op by op: 16 s)
    def expected(params, step, key, data):
      batch = s.task.train_batch(key, step, config.train.batch_size, data)
      _, model_key = tasks.base.step_keys(key, step)
      grads = jax.grad(lambda p: s.model.apply(
          p, batch.inputs, train=True,
          rngs=step_lib.model_rngs(s.model, model_key)).losses['margin'])(
              params)
      updates, _ = reference.update(grads, reference.init(params), params)
      return optax.apply_updates(params, updates)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 new.params,
                 expected(state.params, state.step, s.keys.train, s.data))

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
    self.assertEqual(list(rngs), ['carry'])
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
