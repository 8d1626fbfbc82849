"""Tests for `memax.training.compiler`: `config.xla_cpu_optimize`."""

import os
import tempfile
import time
from unittest import mock

from absl.testing import absltest
import jax
from jax._src import compiler as jax_compiler
import ml_collections

from configs import dnc_repeat_copy
from configs import train as train_config
from memax.training import compiler
from memax.training import train

_FLAG = 'jax_disable_most_optimizations'


class CompilerTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    # The suite runs with the flag on (conftest.py); each test starts off.
    was = compiler.disabled()
    jax.config.update(_FLAG, False)
    self.addCleanup(jax.config.update, _FLAG, was)

  def test_false_turns_the_optimisations_off_on_cpu(self):
    self.assertEqual(jax.default_backend(), 'cpu')
    config = ml_collections.ConfigDict({'xla_cpu_optimize': False})
    self.assertTrue(compiler.apply(config))
    self.assertTrue(jax.config.values[_FLAG])
    # And it reaches the compiler: JAX's compile options now ask for
    # XLA's optimisation level 0.
    debug = jax_compiler.get_compile_options(
        num_replicas=1, num_partitions=1).executable_build_options.debug_options
    self.assertEqual(debug.xla_backend_optimization_level, 0)

  def test_true_or_absent_leaves_the_process_alone(self):
    for config in (ml_collections.ConfigDict({'xla_cpu_optimize': True}),
                   ml_collections.ConfigDict({'seed': 0})):
      self.assertFalse(compiler.apply(config))
      self.assertFalse(jax.config.values[_FLAG])
    # Never turned back on: the environment variable (or an earlier False)
    # stays in force.
    jax.config.update(_FLAG, True)
    config = ml_collections.ConfigDict({'xla_cpu_optimize': True})
    self.assertTrue(compiler.apply(config))

  def test_bad_value_names_the_field_before_any_work(self):
    # As a config.json edited by hand would give it (the command line's
    # overrides are type-checked by ml_collections).
    config = ml_collections.ConfigDict(
        train_config.get_config('model=lstm,task=copy,runlocal').to_dict(),
        type_safe=False)
    config.xla_cpu_optimize = 'no'
    workdir = os.path.join(
        self.enterContext(tempfile.TemporaryDirectory()), 'run')
    with self.assertRaisesRegex(ValueError,
                                r"config\.xla_cpu_optimize='no': expected "
                                'True'):
      train.train_and_evaluate(config, workdir)
    self.assertFalse(os.path.exists(workdir))
    self.assertFalse(jax.config.values[_FLAG])

  def test_a_slow_compile_gets_the_hint(self):
    with self.assertLogs(level='WARNING') as logs:
      with compiler.slow_compile_hint(0.05):
        time.sleep(0.5)
    self.assertIn('--config.cpu_random_unrolled=False', logs.output[0])
    self.assertIn('--config.xla_cpu_optimize=False', logs.output[0])
    # A run already on JAX's threefry is pointed at the other field only.
    message = compiler.hint_message(300, unrolled_random=False)
    self.assertNotIn('cpu_random_unrolled', message)
    self.assertIn('--config.xla_cpu_optimize=False', message)
    # Quick blocks, and processes already without the optimisations, get
    # nothing.
    for seconds, flag in ((5.0, False), (0.05, True)):
      jax.config.update(_FLAG, flag)
      with mock.patch.object(compiler.logging, 'warning') as warning:
        with compiler.slow_compile_hint(seconds):
          time.sleep(0.3)
        time.sleep(0.1)
      warning.assert_not_called()

  def test_configs(self):
    # deepmind/dnc's repeat copy keeps XLA's optimisations and JAX's
    # threefry lowering (its slow compile comes from the unrolled one);
    # the other configs keep both defaults.
    deepmind = dnc_repeat_copy.get_config()
    self.assertTrue(deepmind.xla_cpu_optimize)
    self.assertFalse(deepmind.cpu_random_unrolled)
    for config in (dnc_repeat_copy.get_config('setting=ntm'),
                   train_config.get_config('model=ntm,task=copy')):
      self.assertTrue(config.xla_cpu_optimize)
      self.assertTrue(config.cpu_random_unrolled)


if __name__ == '__main__':
  absltest.main()
