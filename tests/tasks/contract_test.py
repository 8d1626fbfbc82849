"""The task contract of `memax.tasks.base` for every registered task.

Generated tasks: `evals()` is 'train' plus one `Sampled` evaluation per
variant, `probabilities` is the sigmoid, there is no device data, and
`train_batch` is `sample` on the step's data key. Omniglot: the same, but
episodes are drawn from device data (its images) and `probabilities` is the
softmax. bAbI: `evals()` are `Exhaustive` splits and `probabilities` is the
softmax. And the categorical loss and metrics the QA tasks share, by hand.
"""

import os

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from configs import tasks as task_configs
from memax import tasks
from memax.data import omniglot as omniglot_data
from memax.tasks import babi
from memax.tasks import base
from memax.tasks import omniglot
from memax.types import Batch

_DATA = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared',
                     'data', 'babi')


# Config fragments of tasks that read a dataset (their own tests below).
_DATASETS = {'omniglot', 'babi_words'}
# Generated tasks with class outputs (a softmax), not bits.
_SOFTMAX = {'nth_farthest', 'convex_hull'}
# Generated tasks with an exhaustive evaluation of a fixed set.
_FIXED_SETS = {'nth_farthest': 'test'}


def _normal(seed, shape):
  """`jax.random.normal(key(seed), shape) * 4`: logits of every sign."""
  return jax.random.normal(jax.random.key(seed), shape) * 4.0


@jax.jit
def _categorical(logits, batch):
  """Each categorical function of `base` on one input, as one program (op
  by op, every operation and shape compiles a program of its own)."""
  return {'loss': base.categorical_loss(logits, batch),
          'loss_sum': base.categorical_loss(logits, batch, reduction='sum'),
          'xent': base.categorical_xent(logits, batch),
          'metrics': base.categorical_metrics(logits, batch),
          'per_example': base.categorical_per_example(logits, batch)}


def _generated(small=False):
  """Every registered generated task, by name, from its config."""
  out = {}
  for name in set(task_configs.REGISTRY) - _DATASETS:
    config = task_configs.get(name)
    if small:
      config.update(task_configs.RUNLOCAL[name])
    out[name] = tasks.build(config)
  return out


class GeneratedTaskContractTest(absltest.TestCase):

  def test_every_registered_task_but_babi_is_generated(self):
    generated = {name for name, cls in tasks.REGISTRY.items()
                 if issubclass(cls, base.Generator)}
    self.assertEqual(generated, set(task_configs.REGISTRY) - _DATASETS)
    self.assertEqual(set(tasks.REGISTRY) - generated,
                     {'babi', 'babi_words', 'omniglot'})

  def test_evals_are_train_plus_one_sampled_per_variant(self):
    for name, task in _generated().items():
      with self.subTest(name):
        evals = task.evals()
        variants = task.variants()
        fixed = {_FIXED_SETS[name]} if name in _FIXED_SETS else set()
        self.assertEqual(set(evals), {'train'} | set(variants) | fixed)
        for k, ev in evals.items():
          self.assertIsInstance(
              ev, base.Exhaustive if k in fixed else base.Sampled, k)
        self.assertEqual(evals['train'].task, task)
        for k, variant in variants.items():
          self.assertEqual(evals[k].task, variant, k)
        self.assertIsNone(task.num_examples)
        self.assertIsNone(task.device_data())

  def test_variants_of_copy_are_its_eval_lengths(self):
    # A task with variants other than 'train': each becomes an evaluation.
    evals = _generated()['copy'].evals()
    self.assertEqual(sorted(evals), ['length_120', 'length_20', 'length_40',
                                     'length_80', 'train'])
    self.assertEqual(evals['length_120'].task.max_steps, 241)

  def test_probabilities_are_the_sigmoid_or_the_softmax(self):
    generated = _generated()

    @jax.jit  # every task's, as one program
    def probabilities():
      logits = _normal(0, (2, 3, 5))
      return ({name: task.probabilities(logits)
               for name, task in generated.items()}, jax.nn.sigmoid(logits),
              jax.nn.softmax(logits, axis=-1))

    probs, sigmoid, softmax = probabilities()
    for name in generated:
      with self.subTest(name):
        np.testing.assert_allclose(
            probs[name], softmax if name in _SOFTMAX else sigmoid, rtol=1e-6)

  def test_train_batch_is_sample_on_the_step_data_key(self):
    key, batch_size = jax.random.key(11), 3
    generated = _generated(small=True)
    # One program for every task; `step` traced, as in the train step.
    both = jax.jit(lambda step: {
        name: (task.train_batch(key, step, batch_size, task.device_data()),
               task.sample(base.step_keys(key, step)[0], batch_size))
        for name, task in generated.items()})
    at_7, at_8 = both(jnp.int32(7)), both(jnp.int32(8))
    for name in generated:
      with self.subTest(name):
        got, want = at_7[name]
        self.assertEqual(jax.tree.structure(got), jax.tree.structure(want))
        jax.tree.map(np.testing.assert_array_equal, got, want)
        self.assertEqual(got.inputs.shape[0], batch_size)
        # Another step, another batch.
        other, _ = at_8[name]
        self.assertFalse(np.array_equal(other.inputs, got.inputs))

  def test_step_keys_split_the_step_folded_key(self):
    @jax.jit  # one program rather than one per operation
    def keys():
      key = jax.random.key(5)
      data_key, model_key = base.step_keys(key, 3)
      want = jax.random.split(jax.random.fold_in(key, 3))
      return jax.tree.map(jax.random.key_data,
                          (data_key, model_key, want[0], want[1]))

    data_key, model_key, want_data, want_model = keys()
    np.testing.assert_array_equal(data_key, want_data)
    np.testing.assert_array_equal(model_key, want_model)


class OmniglotContractTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    # Six classes of three random 105x105 drawings: four train, two test.
    images = np.random.default_rng(0).integers(
        0, 2, (6, 3, 105, 105)).astype(np.uint8)
    data = omniglot_data.Omniglot(
        images=images, classes=tuple(f'A/character{i:02d}' for i in range(6)),
        train=np.arange(4, dtype=np.int32),
        test=np.arange(4, 6, dtype=np.int32))
    config = task_configs.get('omniglot')
    config.update(task_configs.RUNLOCAL['omniglot'])
    fields = {k: v for k, v in config.items() if k != 'name'}
    fields['num_classes'] = 2
    cls.task = omniglot.OmniglotEpisodes(**fields, data=data)

  def test_evals_are_train_and_test_classes_sampled(self):
    evals = self.task.evals()
    self.assertEqual(set(evals), {'train', 'test'})
    self.assertIs(evals['train'].task, self.task)
    self.assertEqual(evals['test'].task.split, 'test')
    for ev in evals.values():
      self.assertIsInstance(ev, base.Sampled)
    self.assertIsNone(self.task.num_examples)
    self.assertEqual(set(self.task.device_data()),
                     {'images', 'train', 'test'})

  def test_train_batch_is_sample_on_the_step_data_key(self):
    key, data = jax.random.key(11), self.task.device_data()
    both = jax.jit(lambda step, data: (
        self.task.train_batch(key, step, 3, data),
        self.task.sample(base.step_keys(key, step)[0], 3, data)))
    got, want = both(jnp.int32(7), data)
    jax.tree.map(np.testing.assert_array_equal, got, want)
    other, _ = both(jnp.int32(8), data)
    self.assertFalse(np.array_equal(other.inputs, got.inputs))

  def test_probabilities_are_the_softmax(self):
    probs, softmax = jax.jit(lambda: (  # one program
        lambda logits: (self.task.probabilities(logits),
                        jax.nn.softmax(logits, -1)))(_normal(0, (2, 3, 2))))()
    np.testing.assert_allclose(probs, softmax, rtol=1e-6)


class BabiTaskContractTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = babi.BabiTask(data_dir=_DATA, tasks=1, memory_size=10)

  def test_evals_are_exhaustive_splits(self):
    evals = self.task.evals()
    self.assertEqual(set(evals), {'train', 'valid', 'test'})
    for name, ev in evals.items():
      self.assertIsInstance(ev, base.Exhaustive)
      self.assertEqual(ev.split, name)
    self.assertEqual(self.task.absent_evals, ())
    self.assertEqual(self.task.num_examples, 900)

  def test_no_valid_split_without_a_valid_fraction(self):
    task = babi.BabiTask(data_dir=_DATA, tasks=1, memory_size=10,
                         val_fraction=0.0)
    self.assertEqual(task.evals(), {'train': base.Exhaustive('train'),
                                    'test': base.Exhaustive('test')})
    self.assertEqual(task.absent_evals, ('valid',))

  def test_probabilities_are_the_softmax(self):
    @jax.jit  # one program rather than one per operation
    def probabilities():
      logits = _normal(0, (4, self.task.output_size))
      return (self.task.probabilities(logits),
              jax.nn.softmax(logits, axis=-1))

    probs, softmax = probabilities()
    np.testing.assert_allclose(probs, softmax, rtol=1e-6)
    np.testing.assert_allclose(np.sum(probs, -1), 1.0, rtol=1e-5)

  def test_loss_metrics_and_per_example_are_the_categorical_ones(self):
    task = self.task
    summed = babi.BabiTask(data_dir=_DATA, tasks=1, memory_size=10,
                           loss_reduction='sum')

    @jax.jit  # one program rather than one per operation
    def run(data):
      batch = task.sample(jax.random.key(1), 6, data)
      batch = batch._replace(mask=jnp.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0]))
      logits = jax.random.normal(jax.random.key(2), (6, task.output_size))
      return batch, {
          'loss': task.loss(logits, batch),
          'summed': summed.loss(logits, batch),
          'metrics': task.metrics(logits, batch),
          'per_example': task.per_example(logits, batch)}, {
              'loss': base.categorical_loss(logits, batch),
              'summed': base.categorical_loss(logits, batch,
                                              reduction='sum'),
              'metrics': base.categorical_metrics(logits, batch),
              'per_example': base.categorical_per_example(logits, batch)}

    batch, got, want = run(task.device_data())
    np.testing.assert_allclose(got['loss'], want['loss'], rtol=1e-6)
    np.testing.assert_allclose(got['summed'], want['summed'], rtol=1e-6)
    self.assertEqual(got['metrics'], want['metrics'])
    per_example, shared = got['per_example'], want['per_example']
    self.assertEqual(set(per_example), set(shared) | {'task'})
    for k, v in shared.items():
      np.testing.assert_array_equal(per_example[k], v, err_msg=k)
    np.testing.assert_array_equal(per_example['task'], batch.inputs['task'])


class CategoricalTest(absltest.TestCase):
  """`categorical_loss`, `_metrics` and `_per_example`, by hand."""

  def setUp(self):
    super().setUp()
    # Three examples over 3 classes; the last one is padding (mask 0).
    # (NumPy arrays: indexing and stacking them compiles nothing; the
    # functions run as one program, `_categorical`.)
    self.logits = np.array([[2.0, 0.0, 0.0],   # right (target 0)
                            [0.0, 1.0, 3.0],   # wrong (target 1)
                            [5.0, 0.0, 0.0]],  # wrong, but masked
                           np.float32)
    self.batch = Batch(inputs={}, targets=np.array([0, 1, 2], np.int32),
                       mask=np.array([1.0, 1.0, 0.0], np.float32))

  def _xent(self, row, target):
    z = np.asarray(self.logits[row], np.float64)
    return np.log(np.sum(np.exp(z))) - z[target]

  def test_loss_by_hand(self):
    x0, x1 = self._xent(0, 0), self._xent(1, 1)
    out = _categorical(self.logits, self.batch)
    np.testing.assert_allclose(out['loss'], (x0 + x1) / 2, rtol=1e-6)
    np.testing.assert_allclose(out['loss_sum'], x0 + x1, rtol=1e-6)
    np.testing.assert_allclose(out['xent'], [x0, x1, self._xent(2, 2)],
                               rtol=1e-6)

  def test_all_masked_is_zero_not_nan(self):
    batch = self.batch._replace(mask=np.zeros(3, np.float32))
    out = _categorical(self.logits, batch)
    self.assertEqual(float(out['loss']), 0.0)
    self.assertEqual(float(out['metrics']['error']), 0.0)

  def test_metrics_count_masked_errors(self):
    metrics = _categorical(self.logits, self.batch)['metrics']
    self.assertEqual(set(metrics), {'error'})
    self.assertAlmostEqual(float(metrics['error']), 0.5)

  def test_per_example(self):
    out = _categorical(self.logits, self.batch)['per_example']
    self.assertEqual(set(out), {'correct', 'loss', 'prediction', 'mask'})
    np.testing.assert_array_equal(out['correct'], [True, False, False])
    np.testing.assert_array_equal(out['prediction'], [0, 2, 0])
    np.testing.assert_array_equal(out['mask'], self.batch.mask)
    np.testing.assert_allclose(
        out['loss'], [self._xent(r, t) for r, t in enumerate((0, 1, 2))],
        rtol=1e-6)

  def test_sequence_targets(self):
    # `[B, T, V]` logits and `[B, T]` targets and mask.
    logits = np.stack([self.logits, self.logits[::-1]])
    targets = np.array([[0, 1, 2], [0, 0, 0]], np.int32)
    mask = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    batch = Batch(inputs={}, targets=targets, mask=mask)
    x = lambda z, t: np.log(np.sum(np.exp(z))) - z[t]
    want = (self._xent(0, 0) + self._xent(1, 1)
            + x(np.asarray(self.logits[2], np.float64), 0)) / 3
    out = _categorical(logits, batch)
    np.testing.assert_allclose(out['loss'], want, rtol=1e-6)
    # Wrong: row 0 step 1; row 1 step 0 predicts 0 (logits [5, 0, 0]): right.
    self.assertAlmostEqual(float(out['metrics']['error']), 1 / 3, places=6)


if __name__ == '__main__':
  absltest.main()
