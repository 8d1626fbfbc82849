"""MANN on Omniglot end to end: it learns to bind labels in an episode.

Reads the real Omniglot zips (`MEMAX_OMNIGLOT_DIR`, else
../shared/data/omniglot; skipped without them). A small MANN on small, easy
episodes (2 classes of 8 x 8 images, no augmentation) trains for 800 steps
in two launches (the second resumes the first), then must beat chance on
the 2nd instance of a class on held-out characters: labels are shuffled in
every episode, so only what it wrote in memory can tell it the label. Then
`memax.evaluate` runs the trained model with a larger memory, and
notebooks/mann_omniglot.ipynb runs on it.
"""

import json
import os
import tempfile

from absl.testing import absltest
import numpy as np

from configs import mann_omniglot
from memax import evaluate
from memax import overrides
from memax.data import omniglot as omniglot_data
from memax.training import train
from memax.training import writers
from tests import notebooks_test

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_DATA = (os.environ.get(omniglot_data.ENV_VAR) or
         os.path.join(os.path.dirname(_ROOT), 'shared', 'data', 'omniglot'))
_MISSING = not all(os.path.isfile(os.path.join(_DATA, z)) for z in
                   (omniglot_data.BACKGROUND, omniglot_data.EVALUATION))


def _config(num_steps, plot=True):
  """The run of `num_steps`; without `plot`, no final plots (the first
  launch's are the second's to draw). Training evaluates 'train' alone
  (the config also 'test', one more MANN program to compile): the checks
  read the final evaluation's."""
  config = mann_omniglot.get_config('runlocal')
  return overrides.apply(config, {
      'task.data_dir': _DATA, 'task.num_classes': 2,
      'task.episode_length': 10, 'task.image_size': 8, 'task.augment': False,
      'model.controller_size': 32, 'model.num_heads': 1,
      'optimizer.learning_rate': 1e-2, 'train.batch_size': 32,
      'train.num_steps': num_steps, 'train.steps_per_call': 100,
      'train.log_every': 100, 'train.eval_every': 400,
      'train.ckpt_every': 400, 'evals.num_batches': 8,
      'evals.batch_size': 64, 'evals.variants': 'test',
      'evals.periodic_variants': (), 'evals.plot': plot})


@absltest.skipIf(_MISSING, f'no Omniglot zips in {_DATA}')
class MANNOmniglotTrainTest(absltest.TestCase):

  def test_learns_above_chance_on_the_second_instance_and_resumes(self):
    workdir = self.enterContext(tempfile.TemporaryDirectory())
    first = train.train_and_evaluate(_config(400, plot=False), workdir)
    self.assertEqual(first['step'], 400)
    final = train.train_and_evaluate(_config(800), workdir)  # resumes
    self.assertEqual(final['step'], 800)
    steps = [r['step'] for r in writers.read_metrics(workdir)
             if r['split'] == 'train']
    self.assertEqual(steps, list(range(0, 801, 100)))
    with open(os.path.join(workdir, 'eval', 'test.json')) as f:
      metrics = json.load(f)['metrics']
    # Chance is 1/2 at every instance; 1,000 2nd instances give a standard
    # error of about 0.016. (Measured: 0.65 and 0.66 at two seeds.)
    self.assertGreater(metrics['accuracy_2'], 0.58, metrics)
    self.assertGreater(metrics['accuracy_2'], metrics['accuracy_1'] + 0.05,
                       metrics)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'plots',
                                                'test.png')))
    # The same parameters with four times the memory (its numbers; no
    # plots).
    results = evaluate.run(workdir, ['model.memory_size=64',
                                     'evals.plot=False'])
    bigger = results['test']
    self.assertTrue(np.isfinite(bigger['episode_loss']))
    self.assertGreater(bigger['accuracy_2'], 0.5, bigger)
    # The notebook on this run, through notebooks/execute.py (which writes
    # the committed outputs); run from notebooks/, so the data path is
    # absolute.
    cells, kinds, text = notebooks_test.execute_notebook(
        'mann_omniglot.ipynb', os.path.join(workdir, 'executed.ipynb'),
        WORKDIR=workdir, DATA_DIR=os.path.abspath(_DATA))
    # The episode figure and the accuracy-by-instance figure.
    self.assertEqual(kinds.count('display_data'), 2)
    self.assertIn('restored step 800', text)
    self.assertIn('accuracy over the episode', text)
    self.assertIn(repr(workdir), ''.join(cells[0]['source']))


if __name__ == '__main__':
  absltest.main()
