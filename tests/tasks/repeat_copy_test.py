"""Tests for the repeat copy task."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax import tasks
from memax.tasks import repeat_copy

_BATCH = 256
_NUM_BITS = 3


def _decode(inputs, normaliser):
  """Length and repeats of one example, read from its inputs in NumPy."""
  count_step = np.flatnonzero(inputs[:, -1])
  assert len(count_step) == 1, count_step
  length = int(count_step[0]) - 1
  repeats = int(round(inputs[count_step[0], -1] * normaliser))
  return length, repeats


class RepeatCopyTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = repeat_copy.RepeatCopy(num_bits=_NUM_BITS, max_length=4,
                                      max_repeats=5, repeat_normaliser=5)
    # staticmethod: a jitted function stored on a class binds like a method.
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray,
                             cls.sample(jax.random.key(0), _BATCH))

  def test_shapes(self):
    t = 4 * 5 + 4 + 3
    self.assertEqual(self.task.max_steps, t)
    self.assertEqual(self.batch.inputs.shape, (_BATCH, t, _NUM_BITS + 2))
    self.assertEqual(self.batch.targets.shape, (_BATCH, t, _NUM_BITS + 1))
    self.assertEqual(self.batch.mask.shape, (_BATCH, t))
    self.assertEqual(self.task.input_size, _NUM_BITS + 2)
    self.assertEqual(self.task.output_size, _NUM_BITS + 1)
    self.assertEqual(repeat_copy.RepeatCopy().max_steps, 113)

  def test_targets_match_numpy_reconstruction(self):
    inputs, targets, mask = self.batch[:3]
    t = self.task.max_steps
    for b in range(_BATCH):
      length, repeats = _decode(inputs[b], self.task.repeat_normaliser)
      sequence = inputs[b, 1:length + 1, :_NUM_BITS]
      expected_inputs = np.zeros((t, _NUM_BITS + 2))
      expected_inputs[0, _NUM_BITS] = 1.0
      expected_inputs[1:length + 1, :_NUM_BITS] = sequence
      expected_inputs[length + 1, -1] = repeats / 5
      np.testing.assert_allclose(inputs[b], expected_inputs)
      expected_targets = np.zeros((t, _NUM_BITS + 1))
      first, end = length + 2, length + 2 + repeats * length
      expected_targets[first:end, :_NUM_BITS] = np.tile(sequence,
                                                        (repeats, 1))
      expected_targets[end, -1] = 1.0
      np.testing.assert_array_equal(targets[b], expected_targets)
      expected_mask = np.zeros(t)
      expected_mask[first:end + 1] = 1.0
      np.testing.assert_array_equal(mask[b], expected_mask)

  def test_lengths_and_repeats_vary_and_cover_range(self):
    decoded = np.array([_decode(x, 5) for x in self.batch.inputs])
    np.testing.assert_array_equal(np.unique(decoded[:, 0]), np.arange(1, 5))
    np.testing.assert_array_equal(np.unique(decoded[:, 1]), np.arange(1, 6))
    np.testing.assert_array_equal(self.batch.mask.sum(-1),
                                  decoded[:, 0] * decoded[:, 1] + 1)

  def test_deterministic_for_a_key(self):
    again = self.sample(jax.random.key(0), _BATCH)
    other = self.sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.targets, self.batch.targets)
    self.assertFalse(np.array_equal(other.targets, self.batch.targets))

  def test_perfect_and_zero_logits(self):
    targets, mask = self.batch.targets, self.batch.mask
    # One program for both logits (op by op, one per operation).
    evaluate = jax.jit(lambda z, b: (self.task.metrics(z, b),
                                     self.task.loss(z, b)))
    perfect, _ = evaluate((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero, zero_loss = evaluate(np.zeros_like(targets), self.batch)
    masked_bits = mask.sum(-1).mean() * (_NUM_BITS + 1)
    self.assertAlmostEqual(float(zero['cost_bits']), masked_bits, places=2)
    self.assertAlmostEqual(float(zero_loss), masked_bits, places=2)

  def test_variants_keep_training_normaliser(self):
    variants = repeat_copy.RepeatCopy().variants()
    self.assertEqual(sorted(variants),
                     ['length_10_repeats_10', 'length_20_repeats_20'])
    long = variants['length_20_repeats_20']
    self.assertEqual((long.min_length, long.max_length, long.min_repeats,
                      long.max_repeats, long.repeat_normaliser),
                     (20, 20, 20, 20, 10))
    self.assertEqual(long.max_steps, 20 * 20 + 20 + 3)
    small = repeat_copy.RepeatCopy(num_bits=2, max_length=3, max_repeats=3,
                                   eval_settings=((2, 4),))
    variant = small.variants()['length_2_repeats_4']
    batch = jax.jit(variant.sample, static_argnums=1)(jax.random.key(3), 2)
    np.testing.assert_allclose(np.asarray(batch.inputs)[:, 3, -1], [0.4, 0.4])
    np.testing.assert_array_equal(np.asarray(batch.mask).sum(-1), [9, 9])

  @parameterized.parameters(
      (dict(num_bits=0), 'num_bits'),
      (dict(min_length=0), 'min_length'),
      (dict(min_length=11), 'min_length'),
      (dict(max_repeats=0), 'max_repeats'),
      (dict(min_repeats=4, max_repeats=3), 'min_repeats'),
      (dict(repeat_normaliser=0), 'repeat_normaliser'),
      (dict(eval_settings=((10, 0),)), 'eval_settings'),
      (dict(eval_settings=((10,),)), 'eval_settings'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      repeat_copy.RepeatCopy(**kwargs)

  def test_registry_build_with_lists(self):
    task = tasks.build({'name': 'repeat_copy', 'eval_settings': [[3, 4]]})
    self.assertEqual(task.eval_settings, ((3, 4),))
    hash(task)  # jit needs a hashable task.


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
