"""Tests for `memax.tasks.babi_words`: batches, pools, loss, metrics, config."""

import os
import re
import tempfile
from unittest import mock

from absl.testing import absltest
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import models as model_configs
from configs import tasks as task_configs
from memax import models
from memax import tasks
from memax.tasks import babi_words
from memax.tasks import base
from memax.tasks import refresh
from memax.training import evaluate as evaluate_lib
from memax.training import plots
from memax.types import Batch
from memax.types import ModelOutput

_DATA = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared',
                     'data', 'babi')


def _task(**kw):
  config = task_configs.get('babi_words')
  config.update(task_configs.RUNLOCAL['babi_words'])
  config.update(dict({'data_dir': _DATA}, **kw))
  return tasks.build(config)


def _lengths(batch):
  """Story lengths of a one-hot batch: its non-padding (nonzero) steps."""
  return np.sum(np.any(np.asarray(batch.inputs) != 0, -1), -1)


class BatchTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = _task()  # en, qa1: 180 train stories of 87 to 91 steps.

  def test_registered_with_its_config_fragment(self):
    task = self.task
    self.assertIsInstance(task, babi_words.BabiWordsTask)
    self.assertEqual(task.name, 'babi_words')
    self.assertEqual((task.tasks, task.trained_tasks), ((1,), (1,)))
    self.assertEqual(task.input_size, len(task.vocab))
    self.assertEqual(task.output_size, task.input_size)
    self.assertEqual(task.num_examples, 180)
    self.assertEqual(task.max_questions, 5)
    self.assertEqual(task.evals(), {k: base.Exhaustive(k)
                                    for k in ('train', 'valid', 'test')})

  def test_train_batch_masks_padding_and_covers_its_stories(self):
    task, data = self.task, self.task.device_data()
    f = jax.jit(lambda step, data: task.train_batch(jax.random.key(0), step,
                                                    8, data))
    for step in (0, 5):
      batch = f(jnp.int32(step), data)
      lengths = _lengths(batch)
      self.assertEqual(batch.inputs.shape, (8, task.train_steps,
                                            task.input_size))
      self.assertEqual(int(batch.num_steps), lengths.max())
      steps = np.arange(task.train_steps)[None]
      mask = np.asarray(batch.mask)
      self.assertTrue(np.all(mask[steps >= lengths[:, None]] == 0))
      # The mask is exactly the '-' inputs: one per answer word.
      dash = np.asarray(batch.inputs)[..., task.vocab.answer_id]
      np.testing.assert_array_equal(mask, dash)
      self.assertEqual(mask.sum(), 8 * 5)
      # Same step, same batch: a pure function of (key, step).
      jax.tree.map(np.testing.assert_array_equal, f(jnp.int32(step), data),
                   batch)
    self.assertFalse(np.array_equal(f(jnp.int32(1), data).inputs,
                                    batch.inputs))

  def test_ids_inputs(self):
    task = _task(inputs='ids')
    # One program rather than one per operation.
    batch = jax.jit(task.sample, static_argnums=1)(jax.random.key(1), 3,
                                                   task.device_data())
    self.assertEqual(batch.inputs.dtype, jnp.int32)
    self.assertEqual(batch.inputs.shape, (3, task.train_steps))
    inputs = np.asarray(batch.inputs)
    lengths = np.sum(inputs >= 0, -1)
    self.assertEqual(int(batch.num_steps), lengths.max())
    np.testing.assert_array_equal(np.asarray(batch.mask),
                                  inputs == 0)  # '-' is id 0

  def test_max_train_length_drops_longer_training_stories(self):
    # qa1's 180 training stories have 87 to 91 steps.
    short = _task(max_train_length=88)
    lengths = short.arrays('train')['length']
    self.assertTrue(0 < len(lengths) < 180)
    self.assertLessEqual(lengths.max(), 88)
    self.assertEqual(short.vocab, self.task.vocab)
    self.assertEqual(len(short.arrays('test')['length']),
                     len(self.task.arrays('test')['length']))
    with self.assertRaisesRegex(ValueError, 'config.task.max_train_length'):
      _task(max_train_length=-1)

  def test_refresh_steps_are_the_statements_words(self):
    # In Python, sentence by sentence: a statement's words are refreshable,
    # not its '.', a question's words or '?', the '-' steps or padding.
    ids_task = _task(inputs='ids')
    ids = jax.jit(ids_task.sample, static_argnums=1)(
        jax.random.key(2), 3, ids_task.device_data()).inputs
    one_hot = jnp.where(ids[..., None] >= 0, jax.nn.one_hot(
        ids, len(self.task.vocab)), 0.0)
    batch = Batch(ids, None, ids == 0)
    got = np.asarray(ids_task.refresh_steps(batch))
    np.testing.assert_array_equal(
        got, self.task.refresh_steps(batch._replace(inputs=one_hot)))
    words = self.task.vocab.words
    for row, flags in zip(np.asarray(ids), got):
      want, sentence = [], []
      for i in row:
        word = words[i] if i >= 0 else None
        sentence.append(word)
        if word in ('.', '?') or word is None or word == '-':
          statement = word == '.'
          want += [float(statement and w not in ('.', None, '-'))
                   for w in sentence]
          sentence = []
      np.testing.assert_array_equal(flags, want)
      self.assertGreater(flags.sum(), 10)
    # The loss: unfloored alpha, the input words through the task's softmax.
    task = refresh.Refreshing(self.task, 1.0)
    drawn = task.sample(jax.random.key(3), 3, self.task.device_data())
    logits = jnp.zeros(drawn.inputs.shape)
    alpha = float(task.alpha(drawn))
    self.assertAlmostEqual(alpha, float(drawn.refresh.sum() / drawn.mask.sum()),
                           places=5)
    self.assertAlmostEqual(
        float(task.refresh_loss(logits, drawn)),
        float(drawn.refresh.sum() / drawn.mask.sum())
        * np.log(len(self.task.vocab)), places=4)

  def test_eval_batches_hold_every_story_once_shortest_first(self):
    task = self.task
    lengths, questions = [], 0
    for batch in task.batches('valid', 8):  # 20 stories: 8 + 8 + 4.
      self.assertEqual(batch.inputs.shape[:2], (8, task.max_steps))
      real = np.asarray(batch.targets.task) > 0
      got = _lengths(batch)
      self.assertTrue(np.all(got[~real] == 0))
      self.assertEqual(int(batch.num_steps), got.max())
      lengths.extend(got[real])
      questions += int(np.asarray(batch.mask).sum())
    self.assertLen(lengths, 20)
    self.assertEqual(lengths, sorted(lengths))
    self.assertEqual(sorted(lengths),
                     sorted(task.arrays('valid')['length'].tolist()))
    self.assertEqual(questions, 100)


  def test_evaluation_of_a_sequence_model_skips_padding_alike(self):
    # The evaluation passes each batch's num_steps to the model; the result
    # equals running every batch to the full length.
    task = self.task
    config = model_configs.get('lstm')
    config.hidden_size = 4
    model = models.build(config, task.output_size)
    params = jax.jit(lambda data: model.init(  # one program, not one per op
        jax.random.key(0), task.sample(jax.random.key(1), 1, data).inputs))(
            task.device_data())
    got = evaluate_lib.evaluate_split(model, params, task, 'valid',
                                      batch_size=8)
    full = jax.jit(lambda p, b: task.per_example(
        model.apply(p, b.inputs).logits, b))
    outs = jax.device_get([full(params, b) for b in task.batches('valid', 8)])
    want = task.summarize({k: np.concatenate([o[k] for o in outs])
                           for k in outs[0]})
    self.assertEqual(got['num_examples'], 100.0)
    self.assertEqual(got['error'], want['error'])
    self.assertAlmostEqual(got['loss'], want['loss'], places=4)
    self.assertEqual(set(got), set(task.metric_names()))

    @jax.jit  # one program rather than one per operation
    def probabilities():
      logits = jax.random.normal(jax.random.key(2),
                                 (2, 3, task.output_size))
      return task.probabilities(logits), jax.nn.softmax(logits, -1)

    probs, softmax = probabilities()
    np.testing.assert_allclose(probs, softmax, rtol=1e-6)


  def test_evaluation_passes_num_steps_to_the_model(self):
    task, seen = self.task, []

    class Spy:
      def apply(self, params, inputs, **kwargs):
        del params
        seen.append(sorted(kwargs))
        return ModelOutput(jnp.zeros(inputs.shape[:2] + (task.output_size,)))

    out = evaluate_lib.evaluate_split(Spy(), {}, task, 'valid', batch_size=8)
    self.assertEqual(seen, [['num_steps']])  # traced once
    self.assertEqual(out['num_examples'], 100.0)

  def test_example_is_a_story_of_the_file_at_its_own_length(self):
    # The first story of qa1's test file, tokenised here from its lines:
    # lower case, '.' and '?' tokens, a '-' per answer word after a question.
    path = os.path.join(_DATA, 'tasks_1-20_v1-2', 'en',
                        'qa1_single-supporting-fact_test.txt')
    words, answers = [], []
    with open(path) as f:
      for i, line in enumerate(f):
        number, text = line.strip().split(' ', 1)
        if i and number == '1':
          break
        text, *answer = text.split('\t')
        words.extend(re.findall(r"[a-z]+|[.?]", text.lower()))
        if answer:
          answers.append(answer[0])
          words.append('-')
    batch = self.task.example('test', 0)
    self.assertEqual(np.shape(batch.inputs),
                     (1, len(words), len(self.task.vocab)))
    ids = np.argmax(np.asarray(batch.inputs[0]), -1)
    self.assertEqual(self.task.vocab.decode(ids.tolist()), words)
    mask = np.asarray(batch.mask[0])
    self.assertEqual(np.flatnonzero(mask).tolist(),
                     [i for i, w in enumerate(words) if w == '-'])
    got = np.asarray(batch.targets.words[0])[mask > 0]
    self.assertEqual(self.task.vocab.decode(got.tolist()), answers)
    self.assertEqual(int(batch.num_steps), len(words))
    for bad in (-1, 10_000, 0.5, True):
      with self.assertRaisesRegex(ValueError, 'plot_examples'):
        self.task.example('test', bad)

  def test_plot_examples_are_checked_before_any_work(self):
    evals = lambda examples: ml_collections.ConfigDict(dict(
        variants='valid,test', periodic_splits=('valid',),
        plot_examples=examples))
    with mock.patch.object(self.task, 'example',
                           side_effect=AssertionError('data moved')):
      # 200 test stories; checked on the host, no story gathered.
      evaluate_lib.check_evals(evals((0, 199)), self.task)
    self.assertEqual(evaluate_lib.plot_split(self.task.evals()), 'test')
    with self.assertRaisesRegex(ValueError, "No story 200 in the word-level "
                                "bAbI 'test' split of 200 stories"):
      evaluate_lib.check_evals(evals((0, 200)), self.task)
    for bad in ('0', 3, (0, -1), (0.5,), (True,)):
      with self.assertRaisesRegex(ValueError, 'config.evals.plot_examples '
                                  'must be a tuple'):
        evaluate_lib.check_evals(evals(bad), self.task)
    # Without the test split, the last split evaluated is plotted.
    evaluate_lib.check_evals(
        ml_collections.ConfigDict(dict(variants='valid', plot_examples=(19,),
                                       periodic_splits=('valid',))),
        self.task)  # 20 validation stories.
    with self.assertRaisesRegex(ValueError, "'valid' split of 20"):
      evaluate_lib.check_evals(
          ml_collections.ConfigDict(dict(variants='valid', plot_examples=(20,),
                                         periodic_splits=('valid',))),
          self.task)

  def test_plot_example_labels_the_answer_steps(self):
    task = self.task
    batch = jax.tree.map(lambda x: np.asarray(x)[0] if np.ndim(x) else x,
                         task.example('test', 0))
    steps = len(batch.mask)
    targets = np.asarray(batch.targets.words)
    # Every answer right but the last: a wrong place word there.
    answer_steps = np.flatnonzero(batch.mask)
    predicted = targets.copy()
    last = answer_steps[-1]
    wrong = 'garden' if task.vocab.words[targets[last]] != 'garden' else (
        'kitchen')
    predicted[last] = task.vocab.index(wrong)
    probs = np.eye(len(task.vocab))[predicted]
    aux = {'read_weights': np.random.default_rng(0).uniform(
        size=(steps, 2, 6))}
    with tempfile.TemporaryDirectory() as tmp:
      with mock.patch.object(plots, 'plot_story',
                             wraps=plots.plot_story) as spy:
        path = task.plot_example(os.path.join(tmp, 's.png'), batch, probs,
                                 aux, title='t')
      self.assertTrue(os.path.exists(path))
    (_, words, answers, outputs, vocab, got_aux, _), _ = spy.call_args
    self.assertLen(words, steps)
    self.assertEqual(words[answer_steps[0]], '-')
    self.assertEqual([a.step for a in answers], answer_steps.tolist())
    self.assertEqual([a.target for a in answers],
                     task.vocab.decode(targets[answer_steps].tolist()))
    self.assertEqual(answers[-1].prediction, wrong)
    self.assertTrue(all(a.prediction == a.target for a in answers[:-1]))
    np.testing.assert_array_equal(outputs, probs)
    self.assertEqual(tuple(vocab), task.vocab.words)
    np.testing.assert_array_equal(got_aux['read_weights'],
                                  aux['read_weights'])


class PoolTest(absltest.TestCase):
  """`pooled_indices` on synthetic lengths: an epoch, and tight batches."""

  POOLS = (1, 5, 12)

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.lengths = jnp.asarray(
        np.random.default_rng(0).integers(1, 500, 103), jnp.int32)
    # The rows of every pool size the tests use, as one program (compiled
    # once for the class rather than once per pool size).
    pools = jax.jit(lambda step: {
        pool: babi_words.pooled_indices(jax.random.key(3), step, 8,
                                        cls.lengths, pool)
        for pool in cls.POOLS})
    cls.pools = staticmethod(pools)

  def rows(self, step, pool):
    return self.pools(jnp.int32(step))[pool]

  def test_an_epoch_sees_every_story_at_most_once(self):
    # 103 stories, batches of 8: 12 steps an epoch; pools of 5, 5 and 2.
    epoch = np.stack([np.asarray(self.rows(s, 5)) for s in range(12)])
    self.assertLen(set(epoch.ravel().tolist()), 96)
    lengths = np.asarray(self.lengths)[epoch]
    np.testing.assert_array_equal(np.sort(lengths, 1), lengths)
    # Within a pool, batches do not overlap in length.
    for pool in (range(0, 5), range(5, 10), range(10, 12)):
      batches = sorted(lengths[list(pool)].tolist())
      for a, b in zip(batches, batches[1:]):
        self.assertLessEqual(a[-1], b[0])
    # The next epoch, another order.
    nxt = np.stack([np.asarray(self.rows(s, 5)) for s in range(12, 24)])
    self.assertLen(set(nxt.ravel().tolist()), 96)
    self.assertFalse(np.array_equal(np.sort(nxt, 1), np.sort(epoch, 1)))

  def test_pools_cut_the_padding(self):
    lengths = np.asarray(self.lengths)
    def padded_steps(pool):
      return sum(8 * lengths[np.asarray(self.rows(s, pool))].max()
                 for s in range(12))
    # Pools of all 12 batches vs plain shuffling (pools of one batch).
    self.assertLess(padded_steps(12), 0.75 * padded_steps(1))


class LossAndMetricsTest(absltest.TestCase):
  """Known logits over a hand-made batch of 3 stories (one padding row)."""

  def setUp(self):
    super().setUp()
    # V = 5 (id 0 is '-'), T = 7. Story 0 (task 2): question A answered by
    # words (3, 4) at steps 2-3, question B by word 1 at step 6. Story 1
    # (task 5): one question, word 2 at step 4. Row 2 is padding.
    self.v = 5
    words = np.zeros((3, 7), np.int32)
    mask = np.zeros((3, 7), np.float32)
    words[0, [2, 3, 6]] = [3, 4, 1]
    mask[0, [2, 3, 6]] = 1.0
    words[1, 4] = 2
    mask[1, 4] = 1.0
    # (NumPy arrays: building them compiles nothing.)
    self.batch = Batch(
        inputs=np.zeros((3, 7, self.v), np.float32),
        targets=babi_words.WordTargets(words, np.array([2, 5, 0], np.int32)),
        mask=mask, num_steps=np.int32(7))
    # Right everywhere, then one wrong word of A's two (step 3 predicts 1).
    one_hot = np.eye(self.v, dtype=np.float32)
    self.logits = 4.0 * one_hot[words]
    self.logits[0, 3] = 4.0 * one_hot[1]
    task = babi_words.BabiWordsTask.__new__(babi_words.BabiWordsTask)
    task.max_questions = 3
    self.task = task

  def test_question_index(self):
    np.testing.assert_array_equal(
        jax.jit(babi_words.question_index)(self.batch.mask),
        [[-1, -1, 0, 0, -1, -1, 1], [-1, -1, -1, -1, 0, -1, -1],
         [-1] * 7])

  def test_one_wrong_word_of_two_makes_the_question_wrong(self):
    q, metrics, per_example = jax.device_get(jax.jit(lambda z, b: (
        babi_words.per_question(z, b, 3), self.task.metrics(z, b),
        self.task.per_example(z, b)))(self.logits, self.batch))
    np.testing.assert_array_equal(q['mask'], [[1, 1, 0], [1, 0, 0],
                                              [0, 0, 0]])
    np.testing.assert_array_equal(q['correct'], [[False, True, False],
                                                 [True, False, False],
                                                 [False, False, False]])
    self.assertAlmostEqual(float(metrics['error']), 1 / 3, places=6)
    self.assertAlmostEqual(float(metrics['word_error']), 1 / 4, places=6)
    np.testing.assert_array_equal(per_example['task'][:, 0], [2, 5, 0])
    out = self.task.summarize(per_example)
    self.assertEqual(out['num_examples'], 3.0)
    self.assertAlmostEqual(out['error'], 1 / 3)
    self.assertEqual(out['error_task_2'], 0.5)
    self.assertEqual(out['error_task_5'], 0.0)
    self.assertEqual(out['failed_tasks'], 1.0)

  def test_loss_counts_only_answer_steps(self):
    # By hand, in NumPy: log-sum-exp of the step's logits less the target's.
    xent = lambda z, t: float(np.log(np.sum(np.exp(
        np.asarray(z, np.float64)))) - z[t])
    z = self.logits
    loss, grads, q = jax.jit(lambda z, b: (
        *jax.value_and_grad(self.task.loss)(z, b),
        babi_words.per_question(z, b, 3)))(z, self.batch)
    want = np.mean([xent(z[0, 2], 3), xent(z[0, 3], 4), xent(z[0, 6], 1),
                    xent(z[1, 4], 2)])
    self.assertAlmostEqual(float(loss), want, places=5)
    off = np.asarray(self.batch.mask) == 0
    self.assertTrue(np.all(np.asarray(grads)[off] == 0))
    self.assertTrue(np.all(np.any(np.asarray(grads)[~off] != 0, -1)))
    # A question's loss sums its words'.
    self.assertAlmostEqual(float(q['loss'][0, 0]),
                           xent(z[0, 2], 3) + xent(z[0, 3], 4), places=5)


class En10kTest(absltest.TestCase):

  def test_missing_qa3_is_tested_untrained(self):
    with self.assertLogs(level='WARNING') as logs:
      task = babi_words.BabiWordsTask(data_dir=_DATA, set_name='en-10k',
                                      tasks=(1, 3))
    self.assertIn('qa3_three-supporting-facts_train.txt', logs.output[0])
    self.assertEqual(task.tasks, (1, 3))
    self.assertEqual(task.trained_tasks, (1,))
    self.assertEqual(task.num_examples, 1800)  # 90 % of qa1's 2,000.
    self.assertEqual(set(task.arrays('test')['task'].tolist()), {1, 3})
    self.assertEqual(task.max_steps, 1393)  # qa3's longest test story.
    with self.assertRaisesRegex(ValueError, 'No training stories'):
      _task(set_name='en-10k', tasks=3)
    with self.assertRaisesRegex(FileNotFoundError,
                                r'config\.task\.allow_missing=False'):
      _task(set_name='en-10k', tasks=3, allow_missing=False)


class ConfigTest(absltest.TestCase):

  def test_bad_values_name_the_field(self):
    for field, value in (('set_name', 'en-1k'), ('tasks', 21),
                         ('val_fraction', 1.0), ('split_seed', -1),
                         ('pool_batches', 0), ('inputs', 'embed')):
      with self.subTest(field):
        with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
          babi_words.BabiWordsTask(data_dir=_DATA, **{field: value})
    with self.assertRaisesRegex(FileNotFoundError, r'config\.task\.data_dir'):
      _task(data_dir='/nonexistent/babi')
    with self.assertRaisesRegex(ValueError, 'config.task'):
      _task(pool_size=3)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
