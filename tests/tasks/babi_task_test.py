"""Tests for `memax.tasks.babi`: batches, loss, and the per-task error table."""

import os
import shutil
import tempfile

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from memax.data import babi as babi_data
from memax.tasks import babi

_DATA = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared',
                     'data', 'babi')


class SummarizeErrorsTest(absltest.TestCase):
  """The error table from a known prediction set, counted by hand."""

  def test_known_predictions(self):
    # Task 1: 10 questions, 1 wrong (10 %: failed). Task 2: 20, 1 wrong (5 %:
    # not failed, the criterion is > 5 %). Task 3: 4, all right. Two padding
    # rows (mask 0) are wrong and must be ignored.
    task = np.array([1] * 10 + [2] * 20 + [3] * 4 + [1, 2])
    correct = np.ones(36, bool)
    correct[3] = False
    correct[10 + 7] = False
    correct[34:] = False
    mask = np.array([1.0] * 34 + [0.0, 0.0])
    out = babi.summarize_errors(correct, task, mask)
    self.assertAlmostEqual(out['error_task_1'], 0.1)
    self.assertAlmostEqual(out['error_task_2'], 0.05)
    self.assertAlmostEqual(out['error_task_3'], 0.0)
    self.assertAlmostEqual(out['mean_task_error'], (0.1 + 0.05 + 0.0) / 3)
    self.assertAlmostEqual(out['error'], 2 / 34)
    self.assertEqual(out['failed_tasks'], 1.0)
    self.assertEqual(out['num_examples'], 34.0)

  def test_loss_is_averaged_over_real_rows(self):
    out = babi.summarize_errors(np.array([True, True, False]),
                                np.array([1, 1, 1]), np.array([1, 1, 0]),
                                loss=np.array([1.0, 3.0, 100.0]))
    self.assertAlmostEqual(out['loss'], 2.0)
    self.assertEqual(out['error'], 0.0)


class BabiTaskTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = babi.BabiTask(data_dir=_DATA, tasks=(1, 2), memory_size=20)

  def test_sizes_and_splits(self):
    task = self.task
    self.assertEqual(task.num_examples, 1800)  # 90 % of 2 x 1000.
    splits = task.eval_splits()
    self.assertLen(splits['valid']['answer'], 200)
    self.assertLen(splits['test']['answer'], 2000)
    self.assertEqual(task.input_size, len(task.vocab))
    data = task.device_data()
    self.assertEqual(data['story'].shape[1], 20)
    self.assertLen(data['answer'], task.num_examples)
    self.assertIsInstance(data['story'], jax.Array)  # on the device
    self.assertIs(task.device_data(), data)  # made once

  def test_train_batch_is_an_epoch_of_distinct_rows(self):
    task = self.task
    # The data goes into the jit as an argument, as in the train step.
    f = jax.jit(lambda step, data: task.train_batch(jax.random.key(0), step,
                                                    100, data))
    answers, queries = [], []
    for step in range(task.steps_per_epoch(100)):
      batch = f(step, task.device_data())
      self.assertEqual(batch.inputs['story'].shape[0], 100)
      queries.append(np.asarray(batch.inputs['query']))
      answers.append(np.asarray(batch.targets))
    # 18 batches of 100 = every train row once: the multiset of (query,
    # answer) pairs equals the train split's.
    got = sorted(map(tuple, np.concatenate(
        [np.concatenate(queries), np.concatenate(answers)[:, None]], 1)))
    data = task.eval_splits()['train']
    want = sorted(map(tuple, np.concatenate(
        [data['query'], data['answer'][:, None]], 1)))
    self.assertEqual(got, want)

  def test_sample_draws_train_rows_from_device_or_host_data(self):
    task = self.task
    rng = jax.random.key(3)
    # From the device data: one program (op by op, one per operation).
    batch = jax.jit(task.sample, static_argnums=1)(rng, 8, task.device_data())
    self.assertEqual(batch.inputs['story'].shape, (8, 20,
                                                   task.sentence_size))
    self.assertEqual(batch.targets.shape, (8,))
    np.testing.assert_array_equal(batch.mask, 1.0)
    # Without `data`, the host copy of the train split: the same rows.
    host = task.sample(rng, 8)
    jax.tree.map(np.testing.assert_array_equal, host, batch)
    train = task.eval_splits()['train']
    rows = set(map(tuple, np.concatenate(
        [train['query'], train['answer'][:, None]], 1)))
    got = np.concatenate([np.asarray(batch.inputs['query']),
                          np.asarray(batch.targets)[:, None]], 1)
    self.assertTrue(set(map(tuple, got)) <= rows)

  def test_loss_reduction(self):
    # The loss of zero logits over a sample of 4, as one program per task
    # (op by op, one per operation).
    def zero_loss(task):
      return jax.jit(lambda data: task.loss(
          jnp.zeros((4, task.output_size)),
          task.sample(jax.random.key(0), 4, data)))(task.device_data())

    task = self.task
    mean = float(zero_loss(task))
    self.assertAlmostEqual(mean, np.log(task.output_size), places=5)
    summed = babi.BabiTask(data_dir=_DATA, tasks=1, loss_reduction='sum')
    self.assertAlmostEqual(float(zero_loss(summed)),
                           4 * np.log(summed.output_size), places=4)

  def test_perfect_logits_give_zero_error(self):
    task = self.task
    outs = []
    perfect = jax.jit(lambda batch: task.per_example(  # one program
        jax.nn.one_hot(batch.targets, task.output_size) * 10.0, batch))
    for batch in task.batches('valid', 64):
      outs.append(jax.device_get(perfect(batch)))
    joined = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    out = task.summarize(joined)
    self.assertEqual(out['error'], 0.0)
    self.assertEqual(out['failed_tasks'], 0.0)
    self.assertEqual(out['num_examples'], 200.0)

  def test_describe_decodes_the_text(self):
    task = babi.BabiTask(data_dir=_DATA, tasks=1)
    batch = task.example('test', 0)
    text = task.describe(batch, int(batch.targets[0]))
    self.assertEqual(text['question'], 'where is john')
    self.assertEqual(text['answer'], 'hallway')
    self.assertEqual(text['prediction'], 'hallway')
    self.assertEqual(text['sentences'][:2], ['john travelled to the hallway',
                                             'mary journeyed to the bathroom'])

  def test_bad_config_errors_name_the_field(self):
    with self.assertRaisesRegex(ValueError, r'config\.task\.tasks'):
      babi.BabiTask(data_dir=_DATA, tasks=21)
    with self.assertRaisesRegex(ValueError, r'config\.task\.memory_size'):
      babi.BabiTask(data_dir=_DATA, memory_size=0)
    with self.assertRaisesRegex(ValueError, r'config\.task\.loss_reduction'):
      babi.BabiTask(data_dir=_DATA, loss_reduction='max')
    with self.assertRaises(FileNotFoundError):
      babi.BabiTask(data_dir='/nonexistent/babi', tasks=1)

  def test_file_cut_short_fails_unless_strict_counts_is_off(self):
    # Task 17's train file cut in the middle of a statement, in a copy of
    # the release's layout.
    tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, tmp)
    folder = os.path.join(tmp, babi_data.RELEASE, 'en')
    os.makedirs(folder)
    for split in babi_data.SPLITS:
      name = babi_data.task_filename(17, split)
      with open(os.path.join(_DATA, babi_data.RELEASE, 'en', name)) as f:
        text = f.read()
      if split == 'train':
        lines = text.split('\n')
        i = next(i for i in range(len(lines) // 2, len(lines))
                 if '\t' not in lines[i])
        text = '\n'.join(lines[:i] + [lines[i][:len(lines[i]) // 2]])
        found = sum('\t' in line for line in lines[:i])
        cut = os.path.join(folder, name)
      with open(os.path.join(folder, name), 'w') as f:
        f.write(text)
    with self.assertRaises(babi_data.BabiCountError) as cm:
      babi.BabiTask(data_dir=tmp, tasks=17)
    message = str(cm.exception)
    for part in (cut, f'has {found} questions, expected 1000',
                 'config.task.strict_counts=False'):
      self.assertIn(part, message)
    with self.assertLogs('absl', level='WARNING') as logs:
      task = babi.BabiTask(data_dir=tmp, tasks=17, strict_counts=False)
    self.assertIn(cut, logs.output[0])
    self.assertEqual(task.num_examples, found - round(0.1 * found))
    self.assertLen(task.eval_splits()['test']['answer'], 1000)


if __name__ == '__main__':
  absltest.main()
