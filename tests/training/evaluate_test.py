"""Tests of evaluation from a workdir, overrides, and the launchers."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from absl.testing import absltest
import numpy as np

from configs import train as train_config
from memax import evaluate
from memax.training import train

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class EvaluateTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp()
    config = train_config.get_config('model=ntm,task=copy,runlocal')
    config.evals.plot = False
    train.train_and_evaluate(config, cls.workdir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.workdir, ignore_errors=True)
    super().tearDownClass()

  def test_overrides_change_the_variants_and_memory(self):
    results = evaluate.run(
        self.workdir, ['model.memory_size=40', 'task.eval_lengths=[6, 30]',
                       'evals.plot=True'],
        tag='_big')
    self.assertEqual(set(results), {'train', 'length_6', 'length_30'})
    path = os.path.join(self.workdir, 'eval', 'length_30_big.json')
    with open(path) as f:
      record = json.load(f)
    self.assertEqual(record['model']['memory_size'], 40)
    self.assertEqual(record['task']['max_length'], 30)
    self.assertTrue(np.isfinite(record['metrics']['cost_bits']))
    self.assertTrue(os.path.exists(
        os.path.join(self.workdir, 'plots', 'length_30_big.png')))

  def test_bad_overrides_name_the_field(self):
    with self.assertRaisesRegex(ValueError, 'model.memory_sise'):
      evaluate.run(self.workdir, ['model.memory_sise=4'])
    with self.assertRaisesRegex(ValueError, 'field.path=value'):
      evaluate.run(self.workdir, ['model.memory_size'])
    with self.assertRaisesRegex(ValueError, 'config.model.memory_size'):
      evaluate.run(self.workdir, ['model.memory_size=0'])

  def test_missing_config_or_checkpoint_is_a_clear_error(self):
    empty = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, empty)
    with self.assertRaisesRegex(FileNotFoundError, 'config.json'):
      evaluate.run(empty, [])
    shutil.copy(os.path.join(self.workdir, 'config.json'), empty)
    with self.assertRaisesRegex(FileNotFoundError, 'No checkpoint in'):
      evaluate.run(empty, [])


class LauncherTest(absltest.TestCase):

  def _run(self, *args):
    return subprocess.run(
        [sys.executable, '-m', *args], cwd=_ROOT, capture_output=True,
        text=True, timeout=600, check=False)

  def test_main_trains_from_a_config_file_with_overrides(self):
    workdir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, workdir)
    proc = self._run('memax.main', '--config=configs/ntm_copy.py:runlocal',
                     f'--workdir={workdir}', '--config.model.memory_size=12',
                     '--config.evals.plot=False')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    with open(os.path.join(workdir, 'config.json')) as f:
      self.assertEqual(json.load(f)['model']['memory_size'], 12)
    self.assertIn('"step": 4', proc.stdout)

  def test_a_mistyped_override_fails(self):
    proc = self._run('memax.main', '--config=configs/ntm_copy.py:runlocal',
                     '--workdir=/tmp/unused', '--config.model.memory_sise=12')
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('memory_sise', proc.stderr)


if __name__ == '__main__':
  absltest.main()
