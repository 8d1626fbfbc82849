"""The DNC trains: a short run solves a small copy, plots its memory use, a
relaunch of the finished run does not train further, and the DNC notebook
runs on it."""

import os
import shutil
import tempfile

from absl.testing import absltest

from configs import train as train_config
from memax.training import checkpoint
from memax.training import train
from memax.training import writers
from tests import notebooks_test


def _config():
  """A small DNC on copy of lengths 1-3 (1,500 steps of 16 sequences)."""
  config = train_config.get_config('model=dnc,task=copy')
  config.task.update(max_length=3, eval_lengths=(3,))
  config.model.update(controller_size=32, memory_size=8, word_size=8,
                      num_read_heads=1)
  config.optimizer.update(name='adam', learning_rate=3e-3,
                          grad_clip_value=0.0, grad_clip_norm=10.0)
  config.train.update(batch_size=16, steps_per_call=100, num_steps=1500,
                      log_every=500, eval_every=1500, ckpt_every=1500)
  config.evals.update(batch_size=64, num_batches=4, variants='train')
  config.tensorboard = False
  return config


class DNCTrainTest(absltest.TestCase):

  def test_solves_a_small_copy(self):
    workdir = os.path.join(tempfile.mkdtemp(), 'dnc_copy')
    self.addCleanup(shutil.rmtree, os.path.dirname(workdir),
                    ignore_errors=True)
    config = _config()
    results = train.train_and_evaluate(config, workdir)
    # The untrained model's cost (step 0, in bits per sequence): about one
    # bit per target bit, 16 on average here; the trained one copies
    # (almost) all of 256 fresh sequences without a mistake.
    before, = [r['loss'] for r in writers.read_metrics(workdir)
               if r['split'] == 'train' and r['step'] == 0]
    self.assertGreater(before, 8.0)
    self.assertLess(results['train']['bit_errors'], 0.25)
    self.assertLess(results['train']['cost_bits'], 0.1 * before)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'plots',
                                                'train.png')))
    self.assertEqual(checkpoint.latest_step(workdir), 1500)
    # The finished run, launched again, resumes at its end.
    again = train.train_and_evaluate(config, workdir)
    self.assertEqual(again['step'], 1500)
    self.assertEqual(again['train'], results['train'])
    self._run_notebook(workdir)

  def _run_notebook(self, workdir):
    _, kinds, text = notebooks_test.execute_notebook(
        'dnc_memory.ipynb', os.path.join(workdir, 'executed.ipynb'),
        WORKDIR=workdir, LINK_WORKDIR=workdir)
    self.assertEqual(kinds.count('display_data'), 2)
    self.assertIn('restored step 1500', text)
    self.assertIn('1 sequences of 3 vectors, 8 memory slots', text)
    self.assertIn('distinct slots written over the series', text)
    self.assertEqual(text.count('reads at the slot written for the vector'), 2)


if __name__ == '__main__':
  absltest.main()
