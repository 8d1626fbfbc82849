"""Tests for the N-th farthest task."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from memax.tasks import base
from memax.tasks import nth_farthest
from memax.training import evaluate as evaluate_lib

_BATCH = 128
_K = 8
_SIZE = 16


def _parse(inputs):
  """Vectors, labels, n and reference index of one example, in NumPy.

  Returns:
    `(vectors [K, vector_size], labels [K], n, ref)`, after checking that
    every label block is one-hot and the question blocks repeat.
  """
  vectors = inputs[:, :_SIZE]
  own, nth, ref_label = (inputs[:, _SIZE + i * _K:_SIZE + (i + 1) * _K]
                         for i in range(3))
  for block in (own, nth, ref_label):
    np.testing.assert_array_equal(np.sort(block, -1)[:, :-1], 0.0)
    np.testing.assert_array_equal(block.max(-1), 1.0)
  for block in (nth, ref_label):  # the same on every step.
    np.testing.assert_array_equal(block, np.broadcast_to(block[0],
                                                         block.shape))
  labels = own.argmax(-1)
  ref = int(np.flatnonzero(labels == ref_label[0].argmax())[0])
  return vectors, labels, int(nth[0].argmax()), ref


def _expected_answer(vectors, labels, n, ref):
  """The label of the (n+1)-th farthest vector from `ref` (float64)."""
  v = vectors.astype(np.float64)
  dist = np.sqrt(((v - v[ref]) ** 2).sum(-1))
  return labels[np.argsort(-dist, kind='stable')[n]], np.argsort(dist)


def _concat(batches):
  return jax.tree.map(lambda *x: np.concatenate(x), *batches)


class NthFarthestTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = nth_farthest.NthFarthest(test_size=150)
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray, cls.sample(jax.random.key(0), _BATCH))

  def test_sizes_and_shapes(self):
    task = nth_farthest.NthFarthest()
    self.assertEqual((task.input_size, task.output_size, task.max_steps),
                     (40, 8, 8))
    self.assertEqual(task.test_size, 3200)
    self.assertEqual(self.batch.inputs.shape, (_BATCH, _K, 40))
    self.assertEqual(self.batch.targets.shape, (_BATCH, _K))
    self.assertEqual(self.batch.targets.dtype, np.int32)
    self.assertEqual(self.batch.mask.shape, (_BATCH, _K))

  def test_input_structure(self):
    ns, refs = set(), set()
    for inputs in self.batch.inputs:
      vectors, labels, n, ref = _parse(inputs)
      self.assertTrue(np.all(np.abs(vectors) <= 1.0))
      np.testing.assert_array_equal(np.sort(labels), np.arange(_K))
      ns.add(n)
      refs.add(ref)
    self.assertEqual(ns, set(range(_K)))
    self.assertEqual(refs, set(range(_K)))
    # Labels are not the step order.
    labels = np.argmax(self.batch.inputs[:, :, _SIZE:_SIZE + _K], -1)
    self.assertFalse(np.all(labels == np.arange(_K)))

  def test_target_is_nth_farthest_label(self):
    nearest_asked = 0
    for inputs, targets, mask in zip(*self.batch[:3]):
      vectors, labels, n, ref = _parse(inputs)
      answer, nearest_first = _expected_answer(vectors, labels, n, ref)
      self.assertEqual(targets[-1], answer)
      np.testing.assert_array_equal(targets[:-1], 0)
      np.testing.assert_array_equal(mask, np.eye(_K)[-1])
      # The reference (distance 0) is the nearest: the K-th farthest.
      self.assertEqual(nearest_first[0], ref)
      if n == _K - 1:
        nearest_asked += 1
        self.assertEqual(targets[-1], labels[ref])
    self.assertGreater(nearest_asked, 0)

  def test_refresh_steps_are_every_step(self):
    refresh = self.task.refresh_steps(self.batch)
    self.assertEqual(refresh.shape, (_BATCH, _K))
    np.testing.assert_array_equal(refresh, 1.0)

  def test_perfect_and_uniform_logits(self):
    evaluate = jax.jit(lambda z, b: (self.task.metrics(z, b),
                                     self.task.loss(z, b)))
    perfect = jax.nn.one_hot(self.batch.targets, _K) * 30.0
    metrics, loss = evaluate(perfect, self.batch)
    self.assertEqual(float(metrics['accuracy']), 1.0)
    self.assertEqual(float(metrics['error']), 0.0)
    self.assertLess(float(loss), 1e-6)
    # Only the last step counts: wrong logits elsewhere change nothing.
    noisy = perfect.at[:, :-1].set(-perfect[:, :-1])
    self.assertEqual(float(evaluate(noisy, self.batch)[0]['accuracy']), 1.0)
    _, loss = evaluate(np.zeros_like(perfect), self.batch)
    self.assertAlmostEqual(float(loss), np.log(_K), places=5)
    np.testing.assert_allclose(
        self.task.probabilities(np.zeros((2, _K))), 1.0 / _K)

  def test_evals_are_train_sampled_and_test_exhaustive(self):
    self.assertEqual(self.task.evals(),
                     {'train': base.Sampled(self.task),
                      'test': base.Exhaustive('test')})
    self.assertEqual(self.task.variants(), {})
    with self.assertRaisesRegex(ValueError, 'train'):
      next(self.task.batches('train', 8))

  def test_plot_examples_leave_its_test_split_alone(self):
    # Its `example(rng)` draws an example: only bAbI's are looked up by
    # index, so a config's `evals.plot_examples` is not applied here.
    evals = ml_collections.ConfigDict(dict(variants='all',
                                           plot_examples=(0, 10_000)))
    evaluate_lib.check_evals(evals, self.task)

  def test_test_set_is_fixed(self):
    task = self.task
    small = list(task.batches('test', 64))
    self.assertLen(small, 3)  # 150 examples: 2 x 64 + 22, padded to 64.
    small = jax.tree.map(np.asarray, _concat(small))
    whole = jax.tree.map(np.asarray, _concat(task.batches('test', 150)))
    np.testing.assert_array_equal(small.mask[:, -1], np.arange(192) < 150)
    np.testing.assert_array_equal(whole.mask[:, -1], 1.0)
    # The same examples whatever the batch size, and on every pass.
    for got in (whole, jax.tree.map(np.asarray,
                                    _concat(task.batches('test', 64)))):
      jax.tree.map(lambda x, y: np.testing.assert_array_equal(x[:150],
                                                              y[:150]),
                   small, got)
    # Example j is `example(fold_in(test_set_key(), j))`, one example at a
    # time (no vmap; one compiled program for the three calls).
    example = jax.jit(task.example)
    for j in (0, 149):
      key = jax.random.fold_in(task.test_set_key(), j)
      inputs, answer = example(key)
      np.testing.assert_allclose(small.inputs[j], inputs, rtol=1e-6)
      self.assertEqual(small.targets[j, -1], answer)
    # Another seed, another set.
    other = nth_farthest.NthFarthest(test_seed=1).test_set_key()
    inputs, _ = example(jax.random.fold_in(other, 0))
    self.assertFalse(np.allclose(inputs, small.inputs[0]))
    # Not a batch sampled from the seed's key (a run's training keys come
    # from config.seed).
    self.assertFalse(np.allclose(self.batch.inputs[:64], small.inputs[:64]))
    # The test set has right answers too.
    for inputs, target in zip(small.inputs[:20], small.targets[:20, -1]):
      self.assertEqual(target, _expected_answer(*_parse(inputs))[0])

  def test_exhaustive_evaluation_counts_every_test_example_once(self):
    task = self.task

    def run(params, batch, kwargs):
      del kwargs
      # Right on the first `params` labels (0 .. K-1), wrong on the others.
      right = batch.targets < params
      guess = jnp.where(right, batch.targets, (batch.targets + 1) % _K)
      return task.per_example(jax.nn.one_hot(guess, _K) * 30.0, batch)

    out = evaluate_lib.evaluate_split(None, 3, task, 'test', batch_size=64,
                                      run=jax.jit(run))
    self.assertEqual(set(out), set(task.metric_names()))
    self.assertEqual(out['num_examples'], 150.0)
    whole = _concat(task.batches('test', 150))
    answers = np.asarray(whole.targets[:, -1])
    want = float(np.mean(answers < 3))
    self.assertAlmostEqual(out['accuracy'], want, places=6)
    self.assertAlmostEqual(out['error'], 1.0 - want, places=6)
    # Accuracy per question n, the n read back from each example's inputs.
    questions = np.array([_parse(x)[2] for x in np.asarray(whole.inputs)])
    self.assertEqual(len(set(questions)), _K)  # 150 examples ask every n.
    for i in range(_K):
      self.assertAlmostEqual(out[f'accuracy_n{i}'],
                             float(np.mean(answers[questions == i] < 3)),
                             places=6)

  def test_per_question_accuracy_shows_the_reference_rule(self):
    # A model that answers the reference's own label (an input) is right on
    # every n = K-1 question and on no other: 1/K of the questions.
    task = nth_farthest.NthFarthest(test_size=400)
    batch = _concat(task.batches('test', 400))
    ref_label = batch.inputs[:, -1, _SIZE + 2 * _K:].argmax(-1)
    logits = jnp.broadcast_to(
        jax.nn.one_hot(ref_label, _K)[:, None] * 30.0, (400, _K, _K))
    out = task.summarize(jax.device_get(task.per_example(logits, batch)))
    self.assertEqual(out[f'accuracy_n{_K - 1}'], 1.0)
    for i in range(_K - 1):
      self.assertEqual(out[f'accuracy_n{i}'], 0.0)
    questions = np.array([_parse(x)[2] for x in np.asarray(batch.inputs)])
    self.assertAlmostEqual(out['accuracy'], np.mean(questions == _K - 1),
                           places=6)

  @parameterized.parameters(
      (dict(num_vectors=1), 'num_vectors'),
      (dict(num_vectors=2.0), 'num_vectors'),
      (dict(vector_size=0), 'vector_size'),
      (dict(test_size=0), 'test_size'),
      (dict(test_seed=-1), 'test_seed'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      nth_farthest.NthFarthest(**kwargs)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
