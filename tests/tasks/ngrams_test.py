"""Tests for the dynamic N-grams task."""

import functools
import math

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax import tasks
from memax.tasks import ngrams
from memax.types import Batch

_BATCH = 64


def _numpy_optimal_cost(bits, context_size):
  """Cost in bits of the Bayesian estimator on one sequence, by plain loops.

  Counts are kept per context tuple, so this does not depend on how the task
  numbers its contexts. Bit 0 is an input, never a prediction, so it adds to
  the counts (when `context_size == 0`) but not to the cost.
  """
  counts = {}
  cost = 0.0
  for s in range(context_size, len(bits)):
    context = tuple(bits[s - context_size:s])
    n0, n1 = counts.get(context, (0, 0))
    p1 = (n1 + 0.5) / (n0 + n1 + 1.0)
    if s >= 1:
      cost -= math.log2(p1 if bits[s] == 1 else 1.0 - p1)
    counts[context] = (n0 + (bits[s] == 0), n1 + (bits[s] == 1))
  return cost


def _batch_from_bits(bits, context_size):
  """The documented layout, built in NumPy from `[B, L]` bits."""
  mask = np.zeros(bits.shape[1] - 1, np.float32)
  mask[max(context_size - 1, 0):] = 1.0
  return Batch(inputs=bits[:, :-1, None].astype(np.float32),
               targets=bits[:, 1:, None].astype(np.float32),
               mask=np.broadcast_to(mask, (bits.shape[0], mask.size)))


@functools.lru_cache()
def _jitted(task):
  """`task`'s functions, jitted; those of a batch as one program each."""
  return (
      # A batch and the sequences it is built from (one compilation).
      jax.jit(lambda key, n: (task.sample(key, n),
                              task.sample_sequences(key, n)),
              static_argnums=1),
      jax.jit(task.sample_sequences, static_argnums=1),
      jax.jit(task.optimal_cost),
      # Metrics, loss and optimal cost of logits (one compilation).
      jax.jit(lambda logits, batch: (task.metrics(logits, batch),
                                     task.loss(logits, batch),
                                     task.optimal_cost(batch))))


class DynamicNGramsTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = ngrams.DynamicNGrams()
    sample = _jitted(cls.task)[0]
    cls.batch, cls.sequences = jax.tree.map(
        np.asarray, sample(jax.random.key(0), _BATCH))

  def test_shapes_and_shift(self):
    inputs, targets, mask = self.batch[:3]
    self.assertEqual(self.task.max_steps, 199)
    self.assertEqual(inputs.shape, (_BATCH, 199, 1))
    self.assertEqual(targets.shape, (_BATCH, 199, 1))
    self.assertEqual(mask.shape, (_BATCH, 199))
    self.assertEqual((self.task.input_size, self.task.output_size), (1, 1))
    self.assertTrue(np.all((inputs == 0.0) | (inputs == 1.0)))
    # The target at step t is the input at step t + 1.
    np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])

  def test_mask_skips_bits_without_full_context(self):
    expected = np.zeros(199)
    expected[4:] = 1.0  # predictions of bits 5 .. 199
    np.testing.assert_array_equal(self.batch.mask,
                                  np.broadcast_to(expected, (_BATCH, 199)))

  def test_deterministic_for_a_key(self):
    sample = _jitted(self.task)[0]
    again, _ = sample(jax.random.key(0), _BATCH)
    other, _ = sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.inputs, self.batch.inputs)
    self.assertFalse(np.array_equal(other.inputs, self.batch.inputs))

  @parameterized.parameters((1, 12), (3, 40))
  def test_optimal_cost_matches_numpy_reference(self, order, length):
    task = ngrams.DynamicNGrams(order=order, length=length)
    # Biased bits, drawn in NumPy, so contexts repeat with uneven counts.
    bits = (np.random.default_rng(order).random((3, length)) < 0.3)
    batch = _batch_from_bits(bits.astype(int), order - 1)
    got = np.asarray(_jitted(task)[2](batch))
    expected = [_numpy_optimal_cost(list(seq), order - 1)
                for seq in bits.astype(int)]
    np.testing.assert_allclose(got, expected, rtol=1e-4)

  def test_sampled_optimal_cost_matches_numpy_reference(self):
    metrics = _jitted(self.task)[3]
    bits = np.concatenate(
        [self.batch.inputs[:, :1, 0], self.batch.targets[..., 0]], 1)
    expected = [_numpy_optimal_cost(list(seq), 5) for seq in bits.astype(int)]
    logits = np.full(self.batch.targets.shape, 0.3, np.float32)
    result, _, _ = metrics(logits, self.batch)
    self.assertAlmostEqual(float(result['optimal_cost_bits']),
                           np.mean(expected), places=2)
    self.assertAlmostEqual(
        float(result['excess_cost_bits']),
        float(result['cost_bits']) - float(result['optimal_cost_bits']),
        places=3)
    # The model's cost counts the same 195 masked predictions.
    targets = self.batch.targets[:, 4:, 0]
    p_target = np.where(targets == 1, 1 / (1 + np.exp(-0.3)),
                        1 / (1 + np.exp(0.3)))
    self.assertAlmostEqual(float(result['cost_bits']),
                           -np.log2(p_target).sum(-1).mean(), places=2)

  def test_optimal_beats_chance(self):
    # (`optimal_cost`, in the program of the batch's metrics.)
    _, _, optimal_cost = _jitted(self.task)[3](
        np.zeros_like(self.batch.targets), self.batch)
    # Beta(1/2, 1/2) tables are far from 1/2 on average: the estimator
    # learns them and pays well under one bit per prediction.
    self.assertLess(float(np.mean(np.asarray(optimal_cost))), 0.85 * 195)

  def test_bit_frequencies_follow_table(self):
    task = ngrams.DynamicNGrams(order=4, length=10000)
    bits, tables = _jitted(task)[1](jax.random.key(7), 2)
    bits, tables = np.asarray(bits).astype(int), np.asarray(tables)
    self.assertEqual(bits.shape, (2, 10000))
    self.assertEqual(tables.shape, (2, 8))
    k = 3
    # Documented index: the most recent bit is the least significant.
    contexts = sum(bits[:, k - j:-j] << (j - 1) for j in range(1, k + 1))
    following = bits[:, k:]
    checked = 0
    for b in range(2):
      for c in range(8):
        seen = following[b][contexts[b] == c]
        if len(seen) >= 300:
          checked += 1
          self.assertAlmostEqual(seen.mean(), tables[b, c], delta=0.08)
    self.assertGreaterEqual(checked, 4)

  def test_tables_are_beta_half_half(self):
    # (`sample_sequences(key(0), _BATCH)`, in the program of `sample`.)
    bits, tables = self.sequences
    # `sample` is built from the same sequences.
    np.testing.assert_array_equal(bits[:, :-1], self.batch.inputs[..., 0])
    tables = np.asarray(tables)
    self.assertEqual(tables.shape, (_BATCH, 32))
    self.assertTrue(np.all((tables >= 0.0) & (tables <= 1.0)))
    self.assertAlmostEqual(tables.mean(), 0.5, delta=0.03)
    # Beta(a, b) variance ab / ((a + b)^2 (a + b + 1)) = 1/8.
    self.assertAlmostEqual(tables.var(), 0.125, delta=0.01)

  def test_perfect_and_zero_logits(self):
    metrics = _jitted(self.task)[3]
    targets = self.batch.targets
    perfect, _, _ = metrics((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero, zero_loss, _ = metrics(np.zeros_like(targets), self.batch)
    self.assertAlmostEqual(float(zero['cost_bits']), 195.0, places=2)
    self.assertAlmostEqual(float(zero_loss), 195.0, places=2)
    self.assertAlmostEqual(float(zero['excess_cost_bits']),
                           195.0 - float(zero['optimal_cost_bits']), places=2)

  def test_variants(self):
    self.assertEqual(self.task.variants(), {'train': self.task})

  @parameterized.parameters(
      (dict(order=0), 'order'),
      (dict(order=13), 'order'),
      (dict(length=0), 'length'),
      (dict(order=6, length=5), 'length'),
      (dict(order=1, length=1), 'length'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      ngrams.DynamicNGrams(**kwargs)

  def test_registry_build(self):
    self.assertEqual(tasks.build({'name': 'ngrams', 'order': 3}),
                     ngrams.DynamicNGrams(order=3))


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
