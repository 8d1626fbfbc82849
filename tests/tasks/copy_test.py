"""Tests for the shared task helpers in `memax.tasks.base` and the copy task."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax import tasks
from memax.tasks import base
from memax.tasks import copy
from memax.types import Batch

_BATCH = 256


class BaseTest(parameterized.TestCase):

  def test_bit_cost_and_errors_by_hand(self):
    targets = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)  # [1, 2, 2]
    mask = np.array([[1.0, 0.0]], np.float32)
    batch = Batch(inputs=np.zeros((1, 2, 1), np.float32), targets=targets,
                  mask=mask)
    logits = np.array([[[0.0, 5.0], [-9.0, -9.0]]], np.float32)
    # Step 0 counts: bit 0 costs 1 bit (p = 1/2) and bit 1 is a wrong guess
    # costing log2(1 + e^5); step 1 is masked out. A logit of exactly 0
    # thresholds to 0, so both bits of step 0 are errors.
    expected = 1.0 + np.log2(1.0 + np.exp(5.0))
    cost, errors, metrics, loss = jax.jit(lambda z, b: (  # one program
        base.bit_cost(z, b), base.bit_errors(z, b), base.bit_metrics(z, b),
        base.bit_loss(z, b)))(logits, batch)
    np.testing.assert_allclose(cost, [expected], rtol=1e-5)
    np.testing.assert_allclose(errors, [2.0])
    self.assertAlmostEqual(float(metrics['cost_bits']), expected, places=4)
    self.assertAlmostEqual(float(loss), expected, places=4)
    self.assertEqual(float(metrics['perfect']), 0.0)

  def test_perfect_is_the_fraction_of_sequences_without_an_error(self):
    rng = np.random.default_rng(3)
    targets = rng.integers(0, 2, (6, 4, 3)).astype(np.float32)
    mask = np.ones((6, 4), np.float32)
    mask[:, 3] = 0.0  # the last step never counts.
    logits = np.where(targets > 0, 2.0, -2.0).astype(np.float32)
    logits[1, 0, 2] *= -1  # one wrong bit in sequence 1,
    logits[4, 1, 0] *= -1  # two in sequence 4,
    logits[4, 2, 1] *= -1
    logits[5, 3, 0] *= -1  # and one at a masked step of sequence 5.
    batch = Batch(inputs=np.zeros((6, 4, 1), np.float32), targets=targets,
                  mask=mask)
    errors = np.sum(np.abs((logits > 0) - targets).sum(-1) * mask, -1)
    np.testing.assert_array_equal(errors, [0, 1, 0, 0, 2, 0])
    metrics = jax.jit(base.bit_metrics)(logits, batch)
    self.assertAlmostEqual(float(metrics['perfect']), 4 / 6, places=6)
    self.assertAlmostEqual(float(metrics['bit_errors']), 3 / 6, places=6)

  def test_random_bits(self):
    bits = np.asarray(jax.jit(lambda: base.random_bits(  # one program
        jax.random.key(0), (64, 64)))())
    self.assertEqual(bits.dtype, np.float32)
    self.assertTrue(np.all((bits == 0.0) | (bits == 1.0)))
    self.assertAlmostEqual(bits.mean(), 0.5, delta=0.05)

  @parameterized.parameters(0, -3, 2.5, None)
  def test_check_positive_names_field(self, value):
    with self.assertRaisesRegex(ValueError, r'config\.task\.foo'):
      base.check_positive(value, 'task.foo')

  def test_check_range(self):
    base.check_range(2, 2, 'task.lo', 'task.hi')
    with self.assertRaisesRegex(ValueError, r'config\.task\.lo \(3\).*'
                                r'config\.task\.hi \(2\)'):
      base.check_range(3, 2, 'task.lo', 'task.hi')


class CopyTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = copy.Copy(num_bits=4, min_length=1, max_length=6)
    # staticmethod: a jitted function stored on a class binds like a method.
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray,
                             cls.sample(jax.random.key(0), _BATCH))

  def test_shapes(self):
    t = self.task.max_steps
    self.assertEqual(t, 13)
    self.assertEqual(self.batch.inputs.shape, (_BATCH, t, 5))
    self.assertEqual(self.batch.targets.shape, (_BATCH, t, 4))
    self.assertEqual(self.batch.mask.shape, (_BATCH, t))
    self.assertEqual(self.task.input_size, 5)
    self.assertEqual(self.task.output_size, 4)

  def test_targets_match_numpy_reconstruction(self):
    inputs, targets, mask = self.batch[:3]
    for b in range(_BATCH):
      delimiter = np.flatnonzero(inputs[b, :, -1])
      self.assertLen(delimiter, 1)
      length = int(delimiter[0])
      expected_mask = np.zeros(self.task.max_steps)
      expected_mask[length + 1:2 * length + 1] = 1.0
      np.testing.assert_array_equal(mask[b], expected_mask)
      np.testing.assert_array_equal(targets[b, length + 1:2 * length + 1],
                                    inputs[b, :length, :-1])
      # Nothing is shown after the delimiter, nothing expected outside.
      self.assertEqual(np.abs(inputs[b, length:, :-1]).sum(), 0.0)
      self.assertEqual(np.abs(targets[b] * (1 - mask[b, :, None])).sum(), 0.0)

  def test_lengths_vary_and_cover_range(self):
    lengths = self.batch.mask.sum(-1)
    np.testing.assert_array_equal(np.unique(lengths), np.arange(1, 7))

  def test_one_length_per_batch(self):
    task = copy.Copy(num_bits=4, min_length=1, max_length=6,
                     length_per_batch=True)
    self.assertIsNone(self.batch.num_steps)
    seen = set()
    sample = jax.jit(task.sample, static_argnums=1)  # compiled once
    for seed in range(12):
      batch = jax.tree.map(np.asarray, sample(jax.random.key(seed), 8))
      lengths = batch.mask.sum(-1)
      self.assertLen(set(lengths.tolist()), 1)  # one length per batch
      length = int(lengths[0])
      seen.add(length)
      self.assertEqual(int(batch.num_steps), 2 * length + 1)
      np.testing.assert_array_equal(batch.mask[:, 2 * length + 1:], 0.0)
      np.testing.assert_array_equal(batch.inputs[:, 2 * length + 1:], 0.0)
      np.testing.assert_array_equal(
          batch.targets[:, length + 1:2 * length + 1],
          batch.inputs[:, :length, :-1])
    self.assertGreater(len(seen), 3)

  def test_deterministic_for_a_key(self):
    again = self.sample(jax.random.key(0), _BATCH)
    other = self.sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.inputs, self.batch.inputs)
    self.assertFalse(np.array_equal(other.inputs, self.batch.inputs))

  def test_perfect_and_zero_logits(self):
    targets, mask = self.batch.targets, self.batch.mask
    # One program for both logits (op by op, one per operation).
    evaluate = jax.jit(lambda z, b: (self.task.metrics(z, b),
                                     self.task.loss(z, b)))
    perfect, _ = evaluate((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero, zero_loss = evaluate(np.zeros_like(targets), self.batch)
    masked_bits = mask.sum(-1).mean() * self.task.output_size
    self.assertAlmostEqual(float(zero['cost_bits']), masked_bits, places=3)
    self.assertAlmostEqual(float(zero_loss), masked_bits, places=3)

  def test_variants(self):
    variants = copy.Copy().variants()
    self.assertEqual(sorted(variants),
                     ['length_120', 'length_20', 'length_40', 'length_80'])
    self.assertEqual(variants['length_120'].min_length, 120)
    self.assertEqual(variants['length_120'].max_steps, 241)

  def test_several_sequences_in_a_row(self):
    task = copy.Copy(num_bits=3, min_length=1, max_length=4, num_sequences=3,
                     eval_sequences=(5,))
    self.assertEqual(task.max_steps, 27)
    batch = jax.tree.map(np.asarray, jax.jit(task.sample, static_argnums=1)(
        jax.random.key(2), 16))
    all_lengths, firsts = [], []
    for b in range(16):
      inputs, targets, mask = (batch.inputs[b], batch.targets[b],
                               batch.mask[b])
      # Rebuild the row from its delimiters: each sequence, its delimiter,
      # its copy, and the next sequence right after.
      want_in = np.zeros_like(inputs)
      want_target = np.zeros_like(targets)
      want_mask = np.zeros_like(mask)
      start = 0
      for delimiter in np.flatnonzero(inputs[:, -1]):
        length = delimiter - start
        all_lengths.append(length)
        firsts.append(tuple(inputs[start, :-1]))
        self.assertBetween(length, 1, 4)
        want_in[start:delimiter] = inputs[start:delimiter]
        want_in[delimiter, -1] = 1.0
        copied = slice(delimiter + 1, delimiter + 1 + length)
        want_target[copied] = inputs[start:delimiter, :-1]
        want_mask[copied] = 1.0
        start = delimiter + 1 + length
      self.assertLen(np.flatnonzero(inputs[:, -1]), 3)
      np.testing.assert_array_equal(inputs, want_in)
      np.testing.assert_array_equal(targets, want_target)
      np.testing.assert_array_equal(mask, want_mask)
    self.assertLen(set(all_lengths), 4)
    # Every sequence draws its own bits: 48 first vectors of 3 bits take
    # most of the 8 values.
    self.assertGreater(len(set(firsts)), 5)
    variants = task.variants()
    self.assertEqual(variants['sequences_5'].num_sequences, 5)
    self.assertEqual(variants['sequences_5'].max_steps, 45)

  def test_several_sequences_with_one_length_per_batch(self):
    task = copy.Copy(num_bits=3, min_length=1, max_length=4, num_sequences=2,
                     length_per_batch=True)
    batch = jax.tree.map(np.asarray, jax.jit(task.sample, static_argnums=1)(
        jax.random.key(5), 8))
    delimiters = np.flatnonzero(batch.inputs[0, :, -1])
    first = delimiters[0]
    second = delimiters[1] - (2 * first + 1)
    self.assertEqual(int(batch.num_steps), 2 * first + 2 * second + 2)
    for b in range(8):
      np.testing.assert_array_equal(np.flatnonzero(batch.inputs[b, :, -1]),
                                    delimiters)
    np.testing.assert_array_equal(batch.mask[:, int(batch.num_steps):], 0.0)

  @parameterized.parameters(
      (dict(num_bits=0), 'num_bits'),
      (dict(min_length=0), 'min_length'),
      (dict(min_length=5, max_length=4), 'min_length'),
      (dict(eval_lengths=(20, -1)), 'eval_lengths'),
      (dict(num_sequences=0), 'num_sequences'),
      (dict(eval_sequences=(0,)), 'eval_sequences'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      copy.Copy(**kwargs)

  def test_registry_build(self):
    task = tasks.build({'name': 'copy', 'max_length': 7,
                        'eval_lengths': [7, 14]})
    self.assertEqual(task, copy.Copy(max_length=7, eval_lengths=(7, 14)))
    with self.assertRaisesRegex(ValueError, r'config\.task\.name'):
      tasks.build({'name': 'nope'})
    with self.assertRaisesRegex(ValueError, 'config.task'):
      tasks.build({'name': 'copy', 'bogus': 1})


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
