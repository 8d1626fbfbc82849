"""Tests of MemN2N's linear start (sec. 4.2) as train state.

`memax.training.linear_start.update` ends linear start at the first
evaluation whose validation loss is not below the best; the decision lives in
`TrainState.linear_start` (checkpointed and resumed with the state), and the
compiled train step reads it as data.
"""

import importlib.util
import os
import tempfile
from unittest import mock

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from configs import train as train_config
from memax import models
from memax.training import checkpoint
from memax.training import evaluate as evaluate_lib
from memax.training import linear_start
from memax.training import setup
from memax.training import step as step_lib
from memax.training import train
from memax.training import writers

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLATEAU = step_lib.UNTIL_PLATEAU


def _memn2n_config(arg='runlocal'):
  spec = importlib.util.spec_from_file_location(
      'memn2n_babi', os.path.join(_ROOT, 'configs', 'memn2n_babi.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _state(until, step=0):
  """A train state with nothing but its step and linear start."""
  return step_lib.TrainState(
      step=jnp.asarray(step, jnp.int32), params={}, opt_state=(),
      loss_weights={'task': jnp.float32(1.0)},
      linear_start=step_lib.LinearStart(
          until=jnp.asarray(until, jnp.int32),
          best_valid_loss=jnp.asarray(jnp.inf, jnp.float32)),
      first_nonfinite_step=jnp.asarray(-1, jnp.int32),
      done=jnp.zeros((), bool))


def _types(tree):
  return jax.tree.map(lambda x: (x.shape, x.dtype, x.weak_type), tree)


class UpdateTest(absltest.TestCase):

  def test_ends_at_the_first_loss_that_does_not_decrease(self):
    state = _state(PLATEAU)
    self.assertTrue(linear_start.waiting(state))
    state, ended = linear_start.update(state, 10, 3.0)
    self.assertFalse(ended)  # the first evaluation is the best so far.
    self.assertEqual(float(state.linear_start.best_valid_loss), 3.0)
    state, ended = linear_start.update(state, 20, 2.5)
    self.assertFalse(ended)
    self.assertTrue(linear_start.waiting(state))
    self.assertEqual(int(state.linear_start.until), PLATEAU)
    state, ended = linear_start.update(state, 30, 2.5)
    self.assertTrue(ended)  # equal is not a decrease.
    self.assertFalse(linear_start.waiting(state))
    self.assertEqual(int(state.linear_start.until), 30)
    self.assertEqual(float(state.linear_start.best_valid_loss), 2.5)
    # Once ended, later evaluations change nothing.
    later, ended = linear_start.update(state, 40, 1.0)
    self.assertFalse(ended)
    self.assertEqual(int(later.linear_start.until), 30)
    self.assertEqual(float(later.linear_start.best_valid_loss), 2.5)

  def test_a_higher_loss_ends_it_at_that_step(self):
    state, _ = linear_start.update(_state(PLATEAU), 10, 2.0)
    state, ended = linear_start.update(state, 20, 2.1)
    self.assertTrue(ended)
    self.assertEqual(int(state.linear_start.until), 20)
    self.assertEqual(float(state.linear_start.best_valid_loss), 2.0)

  def test_update_keeps_the_state_types(self):
    # Shapes, dtypes and weak types unchanged: the compiled chunk takes the
    # updated state without recompiling.
    state = _state(PLATEAU)
    first, _ = linear_start.update(state, 10, 3.0)
    ended, _ = linear_start.update(first, 20, 3.0)
    for new in (first, ended):
      self.assertEqual(_types(new), _types(state))
      self.assertEqual(jax.tree.structure(new), jax.tree.structure(state))

  def test_without_the_plateau_rule_update_does_nothing(self):
    for until in (0, 21):  # off; a fixed number of steps.
      state = _state(until)
      self.assertFalse(linear_start.waiting(state))
      new, ended = linear_start.update(state, 10, 3.0)
      self.assertFalse(ended)
      self.assertIs(new, state)

  def test_the_model_is_linear_before_until(self):
    for step, until, linear in ((0, PLATEAU, True), (27, 28, True),
                                (28, 28, False), (5, 0, False)):
      state = _state(until, step)
      self.assertEqual(bool(step_lib.model_kwargs(state, True)['linear']),
                       linear)
      self.assertEqual(evaluate_lib.model_kwargs(state, True),
                       {'linear': linear})
      self.assertEqual(step_lib.model_kwargs(state, False), {})
      self.assertEqual(evaluate_lib.model_kwargs(state, False), {})


class ConfigTest(absltest.TestCase):

  def test_epochs_convert_to_steps(self):
    config = _memn2n_config()
    for epochs, until in ((-1, PLATEAU), (0, 0), (3, 21)):
      config.train.linear_start_epochs = epochs
      self.assertEqual(setup.linear_until(config, 7), until)

  def test_the_state_starts_with_until(self):
    config = _memn2n_config()
    config.train.linear_start_epochs = 3
    s = setup.setup(config)
    self.assertTrue(s.linear_start)
    self.assertEqual(int(s.init_state().linear_start.until),
                     3 * s.steps_per_epoch)

  def test_bad_settings_name_the_field(self):
    config = _memn2n_config()
    config.train.linear_start_epochs = -2
    with self.assertRaisesRegex(ValueError,
                                r'config\.train\.linear_start_epochs'):
      setup.setup(config)
    # The plateau needs the validation split evaluated during training.
    config = _memn2n_config()
    config.evals.periodic_splits = ()
    with self.assertRaisesRegex(ValueError, 'validation split'):
      setup.setup(config)
    # Only a model with linear start takes it.
    config = train_config.get_config('model=lstm,task=copy,runlocal')
    config.train.linear_start_epochs = 2
    with self.assertRaisesRegex(ValueError, 'linear_start_epochs.*memn2n'):
      setup.setup(config)
    # The old model field is refused, naming the new one.
    with self.assertRaisesRegex(ValueError,
                                r'config\.train\.linear_start_epochs'):
      models.build({'name': 'memn2n', 'linear_start_epochs': -1}, 10,
                   input_size=10)


def _plateau_config(epochs):
  """The runlocal MemN2N run of `PlateauRunTest`: parameters that stay put."""
  config = _memn2n_config()
  config.train.num_epochs = epochs
  config.optimizer.learning_rate = 1e-30
  config.evals.plot = False
  config.tensorboard = False
  return config


class TrainStepTest(absltest.TestCase):

  def test_linear_is_data_of_one_compiled_step(self):
    # The run's compiled train program (`Setup.chunk`: the train steps of
    # one call) of PlateauRunTest's two-epoch run: the same program, so the
    # compilation cache serves one test's compilation to the other.
    s = setup.setup(_plateau_config(2))
    state = s.init_state()
    self.assertEqual(int(state.linear_start.until), PLATEAU)
    # The chunk donates its state: the ended one has buffers of its own, and
    # its `until` is placed like the state's, as the trainer places it.
    ended = s.init_state()
    ended = ended._replace(linear_start=s.place(ended.linear_start._replace(
        until=jnp.asarray(0, jnp.int32))))
    traces = []

    def counted(*args):
      traces.append(1)
      return s.train_step(*args)

    chunk = step_lib.make_train_chunk(counted, s.config.train.steps_per_call)
    key, data = s.chunk_inputs()
    linear, m_linear, _ = chunk(state, key, data)
    softmax, m_softmax, _ = chunk(ended, key, data)
    self.assertLen(traces, 1)
    self.assertEqual(chunk._cache_size(), 1)  # one compiled program.
    # The same batches and parameters, another attention: another loss.
    self.assertGreater(abs(float(m_linear['loss'])
                           - float(m_softmax['loss'])), 1e-3)
    self.assertEqual(int(linear.linear_start.until), PLATEAU)
    self.assertEqual(int(softmax.linear_start.until), 0)


class PlateauRunTest(absltest.TestCase):
  """A MemN2N run ends linear start at the plateau and trains on through it.

  With a learning rate of 1e-30 the parameters do not move, so the
  validation loss of epoch 2 equals that of epoch 1 exactly: linear start
  ends at the end of epoch 2, and epoch 3 trains with the softmax.
  """

  def _config(self, epochs):
    return _plateau_config(epochs)

  def _saved(self, workdir, config):
    return checkpoint.restore(checkpoint.manager(workdir, read_only=True),
                              setup.abstract_state(config))

  def test_one_compilation_and_the_checkpoint_keeps_until(self):
    # Two epochs: linear start ends at the last evaluation, whose decision
    # the final checkpoint must hold (evaluation runs before the save).
    config = self._config(2)
    chunks = []
    original = setup.Setup.chunk

    def chunk(self, *args, **kwargs):
      chunks.append(args)
      return original(self, *args, **kwargs)

    with tempfile.TemporaryDirectory() as workdir:
      with mock.patch.object(setup.Setup, 'chunk', chunk), \
          self.assertLogs('absl', level='INFO') as logs:
        results = train.train_and_evaluate(config, workdir)
      spe = 900 // config.train.batch_size
      self.assertEqual(results['step'], 2 * spe)
      self.assertLen(chunks, 1)  # one train step for the whole run.
      compiling = [r for r in logs.output
                   if 'Compiling the train step' in r]
      self.assertLen(compiling, 1)
      self.assertLen([r for r in logs.output
                      if f'Linear start ends at step {2 * spe}' in r], 1)
      saved = self._saved(workdir, config)
      self.assertEqual(int(saved.step), 2 * spe)
      self.assertEqual(int(saved.linear_start.until), 2 * spe)
      best = float(saved.linear_start.best_valid_loss)
      self.assertTrue(np.isfinite(best))

      # Resuming keeps the decision; epoch 3 runs with the softmax.
      config = self._config(3)
      again = train.train_and_evaluate(config, workdir)
      self.assertEqual(again['step'], 3 * spe)
      saved = self._saved(workdir, config)
      self.assertEqual(int(saved.step), 3 * spe)
      self.assertEqual(int(saved.linear_start.until), 2 * spe)
      self.assertEqual(float(saved.linear_start.best_valid_loss), best)
      valid = {r['step']: r['loss'] for r in writers.read_metrics(workdir)
               if r['split'] == 'eval/valid'}
      self.assertEqual(valid[spe], valid[2 * spe])  # the plateau.
      self.assertAlmostEqual(best, valid[spe], places=5)
      # The same parameters (lr 1e-30), another loss: the softmax is back.
      self.assertGreater(abs(valid[3 * spe] - valid[2 * spe]), 1e-3)


if __name__ == '__main__':
  absltest.main()
