"""Training the recurrent models on word-level bAbI end to end.

`configs/dnc_babi_words.py` (the DNC, counted in steps) and
`configs/dam_babi.py` (DAM with the memory refreshing loss and an id
embedding, counted in epochs) in their 'runlocal' size on the real task-1
files (../shared/data/babi, or MEMAX_BABI_DIR): a few steps with length
buckets, the validation split evaluated while training (and not the train
split), the best checkpoint kept, a story plotted, then a resume that
continues the run.
"""

import importlib.util
import json
import os
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from memax.training import train

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _config(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_ROOT, 'configs', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config('runlocal')


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


class BabiWordsTrainTest(parameterized.TestCase):

  @parameterized.parameters('dnc_babi_words', 'dam_babi')
  def test_runlocal_trains_evaluates_valid_and_resumes(self, name):
    config = _config(name)
    with tempfile.TemporaryDirectory() as workdir:
      first = train.train_and_evaluate(config, workdir)
      steps = first['step']
      self.assertGreater(steps, 0)
      with open(os.path.join(workdir, 'eval', 'valid.json')) as f:
        record = json.load(f)
      self.assertIn('error_task_1', record['metrics'])
      self.assertBetween(record['metrics']['error'], 0.0, 1.0)
      splits = {r['split'] for r in _records(workdir)}
      self.assertIn('eval/valid', splits)
      self.assertNotIn('eval/train', splits)
      self.assertTrue(os.path.isdir(os.path.join(workdir, 'checkpoint_best')))
      # The final evaluation draws story 0 of its last split, word by word.
      self.assertEqual(os.listdir(os.path.join(workdir, 'plots')),
                       ['story_valid_0.png'])
      train_steps = [r['step'] for r in _records(workdir)
                     if r['split'] == 'train']
      self.assertEqual(train_steps[-1], steps)
      # Resume: the run continues from its last checkpoint.
      if config.train.get('num_epochs'):
        config.train.num_epochs += 1
      else:
        config.train.num_steps += 2 * config.train.steps_per_call
      second = train.train_and_evaluate(config, workdir)
      self.assertGreater(second['step'], steps)
      later = [r['step'] for r in _records(workdir) if r['split'] == 'train']
      self.assertEqual(later[:len(train_steps)], train_steps)
      self.assertEqual(later[-1], second['step'])
      self.assertTrue(all(b > a for a, b in zip(later, later[1:])))


if __name__ == '__main__':
  absltest.main()
