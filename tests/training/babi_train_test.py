"""Training on bAbI end to end: configs, epochs, resume, evaluation tables.

Reads the real bAbI files from ../shared/data/babi (the configs' default).
"""

import importlib.util
import json
import os
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from memax import evaluate
from memax.training import checkpoint
from memax.training import setup
from memax.training import step as step_lib
from memax.training import train

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _config(name, arg):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_ROOT, 'configs', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class BabiTrainTest(parameterized.TestCase):

  @parameterized.parameters('memn2n_babi', 'kvmemnn_babi', 'memnn_babi')
  def test_runlocal_trains_resumes_and_writes_tables(self, name):
    config = _config(name, 'runlocal')
    with tempfile.TemporaryDirectory() as workdir:
      first = train.train_and_evaluate(config, workdir)
      spe = 900 // config.train.batch_size
      self.assertEqual(first['step'], 2 * spe)
      for split in ('train', 'valid', 'test'):
        with open(os.path.join(workdir, 'eval', f'{split}.json')) as f:
          record = json.load(f)
        self.assertIn('error_task_1', record['metrics'])
        self.assertEqual(record['split'], split)
      self.assertEqual(first['test']['num_examples'], 1000.0)
      self.assertTrue(os.path.exists(
          os.path.join(workdir, 'plots', 'attention_test_0.png')))
      records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
      epochs = [r['epoch'] for r in records if r['split'] == 'train']
      self.assertEqual(epochs, [0.0, 1.0, 2.0])
      # Linear start (memn2n only) is train state, in the checkpoint: until
      # the validation plateau, or ended at the second evaluation (the first
      # is always the best so far).
      saved = checkpoint.restore(
          checkpoint.manager(workdir, read_only=True),
          setup.abstract_state(config))
      until = int(saved.linear_start.until)
      if name == 'memn2n_babi':
        self.assertIn(until, (step_lib.UNTIL_PLATEAU, 2 * spe))
      else:
        self.assertEqual(until, 0)
      self.assertFalse(os.path.exists(
          os.path.join(workdir, 'linear_start.json')))
      if name != 'memn2n_babi':
        # Resume and re-evaluation are the same code for every model: they
        # are checked on MemN2N (whose linear start is resumed state too);
        # the other models' padding invariance is in tests/models.
        return
      # Resume: one more epoch continues from the checkpoint of epoch 2.
      config.train.num_epochs = 3
      second = train.train_and_evaluate(config, workdir)
      self.assertEqual(second['step'], 3 * spe)
      records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
      epochs = [r['epoch'] for r in records if r['split'] == 'train']
      self.assertEqual(epochs, [0.0, 1.0, 2.0, 3.0])
      # Re-evaluation from the workdir with a larger memory (not a parameter
      # shape) reproduces the final test numbers when nothing is truncated.
      again = evaluate.run(workdir, ['task.memory_size=60'], tag='m60')
      self.assertTrue(os.path.exists(
          os.path.join(workdir, 'evaluations', 'm60', 'test.json')))
      self.assertAlmostEqual(again['test']['error'], second['test']['error'])

  def test_memn2n_learns_task_1_well_above_chance(self):
    # Chance is 1/6 (six locations): an error of 5/6. The paper reaches 0.
    config = _config('memn2n_babi', 'tasks=1')
    config.train.num_epochs = 30
    config.train.ckpt_every_epochs = 30
    config.evals.plot = False
    with tempfile.TemporaryDirectory() as workdir:
      results = train.train_and_evaluate(config, workdir)
    self.assertLess(results['test']['error'], 0.35)
    self.assertLess(results['train']['error'], 0.35)

  def test_epochs_need_a_finite_task(self):
    config = _config('ntm_copy', 'runlocal')
    config.train.num_epochs = 2
    with tempfile.TemporaryDirectory() as workdir:
      with self.assertRaisesRegex(ValueError, r'config\.train\.num_epochs'):
        train.train_and_evaluate(config, workdir)


if __name__ == '__main__':
  absltest.main()
