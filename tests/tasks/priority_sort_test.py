"""Tests for the priority sort task."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax import tasks
from memax.tasks import priority_sort

_BATCH = 64


class PrioritySortTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = priority_sort.PrioritySort()
    # staticmethod: a jitted function stored on a class binds like a method.
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray,
                             cls.sample(jax.random.key(0), _BATCH))

  def test_shapes(self):
    self.assertEqual(self.task.max_steps, 37)
    self.assertEqual(self.batch.inputs.shape, (_BATCH, 37, 10))
    self.assertEqual(self.batch.targets.shape, (_BATCH, 37, 8))
    self.assertEqual(self.batch.mask.shape, (_BATCH, 37))
    self.assertEqual(self.task.input_size, 10)
    self.assertEqual(self.task.output_size, 8)

  def test_targets_are_inputs_sorted_by_priority(self):
    inputs, targets, mask = self.batch[:3]
    for b in range(_BATCH):
      vectors, priority = inputs[b, :20, :8], inputs[b, :20, 8]
      order = np.argsort(-priority, kind='stable')[:16]
      np.testing.assert_array_equal(targets[b, 21:], vectors[order])
      np.testing.assert_array_equal(targets[b, :21], 0.0)
      np.testing.assert_array_equal(inputs[b, :20, 9], 0.0)
      np.testing.assert_array_equal(inputs[b, 20], [0.0] * 9 + [1.0])
      np.testing.assert_array_equal(inputs[b, 21:], 0.0)
      np.testing.assert_array_equal(mask[b], [0.0] * 21 + [1.0] * 16)

  def test_priorities_uniform_in_range(self):
    priority = self.batch.inputs[:, :20, 8]
    self.assertTrue(np.all((priority >= -1.0) & (priority <= 1.0)))
    self.assertAlmostEqual(priority.mean(), 0.0, delta=0.05)
    self.assertAlmostEqual(priority.var(), 1.0 / 3.0, delta=0.05)
    self.assertLess(priority.min(), -0.95)
    self.assertGreater(priority.max(), 0.95)

  def test_deterministic_for_a_key(self):
    again = self.sample(jax.random.key(0), _BATCH)
    other = self.sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.inputs, self.batch.inputs)
    self.assertFalse(np.array_equal(other.inputs, self.batch.inputs))

  def test_perfect_and_zero_logits(self):
    targets = self.batch.targets
    perfect = self.task.metrics((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero = self.task.metrics(np.zeros_like(targets), self.batch)
    self.assertAlmostEqual(float(zero['cost_bits']), 16 * 8, places=3)
    self.assertAlmostEqual(
        float(self.task.loss(np.zeros_like(targets), self.batch)), 16 * 8,
        places=3)

  def test_variants(self):
    self.assertEqual(self.task.variants(), {'train': self.task})

  def test_small_setting(self):
    task = priority_sort.PrioritySort(num_bits=3, num_inputs=5, num_outputs=5)
    sample = jax.jit(task.sample, static_argnums=1)
    batch = jax.tree.map(np.asarray, sample(jax.random.key(2), 4))
    self.assertEqual(batch.inputs.shape, (4, 11, 5))
    for b in range(4):
      order = np.argsort(-batch.inputs[b, :5, 3])
      np.testing.assert_array_equal(batch.targets[b, 6:],
                                    batch.inputs[b, order, :3])

  @parameterized.parameters(
      (dict(num_bits=0), 'num_bits'),
      (dict(num_inputs=0), 'num_inputs'),
      (dict(num_outputs=0), 'num_outputs'),
      (dict(num_outputs=21), 'num_outputs'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      priority_sort.PrioritySort(**kwargs)

  def test_registry_build(self):
    self.assertEqual(tasks.build({'name': 'priority_sort', 'num_outputs': 4}),
                     priority_sort.PrioritySort(num_outputs=4))


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
