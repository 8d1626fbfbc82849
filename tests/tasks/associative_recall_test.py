"""Tests for the associative recall task."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax import tasks
from memax.tasks import associative_recall

_BATCH = 256
_NUM_BITS = 4
_ITEM_LENGTH = 2


def _parse(inputs):
  """Items, query and answer start of one example, read in NumPy.

  Returns:
    `(items, query, answer_start)`: a list of `[item_length, num_bits]`
    arrays, the query item, and the first output step.
  """
  item_starts = np.flatnonzero(inputs[:, -2])
  query_delims = np.flatnonzero(inputs[:, -1])
  assert len(query_delims) == 2, query_delims
  q0, q1 = query_delims
  items = [inputs[s + 1:s + 1 + _ITEM_LENGTH, :_NUM_BITS] for s in item_starts]
  return items, inputs[q0 + 1:q1, :_NUM_BITS], q1 + 1


class AssociativeRecallTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = associative_recall.AssociativeRecall(
        num_bits=_NUM_BITS, item_length=_ITEM_LENGTH, min_items=2, max_items=5)
    # staticmethod: a jitted function stored on a class binds like a method.
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray,
                             cls.sample(jax.random.key(0), _BATCH))

  def test_shapes(self):
    t = (5 + 2) * (_ITEM_LENGTH + 1)
    self.assertEqual(self.task.max_steps, t)
    self.assertEqual(self.batch.inputs.shape, (_BATCH, t, _NUM_BITS + 2))
    self.assertEqual(self.batch.targets.shape, (_BATCH, t, _NUM_BITS))
    self.assertEqual(self.batch.mask.shape, (_BATCH, t))
    self.assertEqual(associative_recall.AssociativeRecall().max_steps, 32)

  def test_target_is_item_after_query(self):
    inputs, targets, mask = self.batch[:3]
    for b in range(_BATCH):
      items, query, start = _parse(inputs[b])
      num_items = len(items)
      # The layout: items back to back, then the query between delimiters.
      self.assertEqual(start, (num_items + 1) * (_ITEM_LENGTH + 1) + 1)
      self.assertEqual(query.shape, (_ITEM_LENGTH, _NUM_BITS))
      matches = [k for k in range(num_items - 1)
                 if np.array_equal(items[k], query)]
      self.assertNotEmpty(matches, 'query is not among the first K-1 items')
      answer = targets[b, start:start + _ITEM_LENGTH]
      # Independent items can repeat (rarely); accept any matching successor.
      self.assertTrue(
          any(np.array_equal(answer, items[k + 1]) for k in matches))
      expected_mask = np.zeros(self.task.max_steps)
      expected_mask[start:start + _ITEM_LENGTH] = 1.0
      np.testing.assert_array_equal(mask[b], expected_mask)
      self.assertEqual(np.abs(targets[b] * (1 - mask[b, :, None])).sum(), 0.0)
      self.assertEqual(np.abs(inputs[b, start:]).sum(), 0.0)

  def test_counts_and_queries_vary_and_cover_range(self):
    parsed = [_parse(x) for x in self.batch.inputs]
    counts = np.array([len(items) for items, _, _ in parsed])
    np.testing.assert_array_equal(np.unique(counts), np.arange(2, 6))
    np.testing.assert_array_equal(self.batch.mask.sum(-1), _ITEM_LENGTH)
    # With 5 items the query position covers 0 .. 3 (never the last item).
    positions = set()
    for items, query, _ in parsed:
      if len(items) == 5:
        positions.update(k for k in range(5) if np.array_equal(items[k], query))
    self.assertContainsSubset({0, 1, 2, 3}, positions)

  def test_deterministic_for_a_key(self):
    again = self.sample(jax.random.key(0), _BATCH)
    other = self.sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.inputs, self.batch.inputs)
    self.assertFalse(np.array_equal(other.inputs, self.batch.inputs))

  def test_perfect_and_zero_logits(self):
    targets = self.batch.targets
    # One program for both logits (op by op, one per operation).
    evaluate = jax.jit(lambda z, b: (self.task.metrics(z, b),
                                     self.task.loss(z, b)))
    perfect, _ = evaluate((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero, zero_loss = evaluate(np.zeros_like(targets), self.batch)
    self.assertAlmostEqual(float(zero['cost_bits']), _ITEM_LENGTH * _NUM_BITS,
                           places=3)
    self.assertAlmostEqual(float(zero_loss), _ITEM_LENGTH * _NUM_BITS,
                           places=3)

  def test_variants(self):
    variants = associative_recall.AssociativeRecall().variants()
    self.assertEqual(sorted(variants), ['items_12', 'items_20', 'items_6'])
    self.assertEqual((variants['items_12'].min_items,
                      variants['items_12'].max_items), (12, 12))
    self.assertEqual(variants['items_20'].max_steps, 22 * 4)

  @parameterized.parameters(
      (dict(num_bits=0), 'num_bits'),
      (dict(item_length=0), 'item_length'),
      (dict(min_items=1), 'min_items'),
      (dict(min_items=7), 'min_items'),
      (dict(eval_items=(6, 1)), 'eval_items'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      associative_recall.AssociativeRecall(**kwargs)

  def test_registry_build(self):
    task = tasks.build({'name': 'associative_recall', 'eval_items': [3, 4]})
    self.assertEqual(task.eval_items, (3, 4))


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
