"""Tests for the representation recall task."""

import itertools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from memax.tasks import base
from memax.tasks import representation_recall

_BATCH = 64
_K, _S, _SEG = 8, 8, 8  # items, segments, bits per segment.
_HALF = _S // 2
# Every choice of S/2 zeroed segments, in increasing order: [70, S/2].
_SUBSETS = np.array(list(itertools.combinations(range(_S), _HALF)))


def _items(inputs, k=_K, s=_S, seg=_SEG):
  """The stored items of one example, `[K, S, seg]`."""
  return inputs[1:1 + k, :s * seg].reshape(k, s, seg)


class RepresentationRecallTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = representation_recall.RepresentationRecall()
    cls.sample = staticmethod(jax.jit(cls.task.sample, static_argnums=1))
    cls.batch = jax.tree.map(np.asarray, cls.sample(jax.random.key(0), _BATCH))

  def test_sizes_and_shapes(self):
    t = 1 + _K + 1 + 16
    self.assertEqual((self.task.input_size, self.task.output_size,
                      self.task.max_steps), (66, 32, t))
    self.assertEqual(self.batch.inputs.shape, (_BATCH, t, 66))
    self.assertEqual(self.batch.targets.shape, (_BATCH, t, 32))
    self.assertEqual(self.batch.mask.shape, (_BATCH, t))

  @parameterized.parameters((8, 8, 8), (7, 4, 3), (5, 2, 3))
  def test_items_are_bits_distinct_in_every_segment(self, k, s, seg):
    # (7, 4, 3): 2^3 - 1 = 7 non-zero values for 7 items, so every one is
    # used; no segment is all zero.
    task = representation_recall.RepresentationRecall(
        num_items=k, num_segments=s, segment_size=seg)
    inputs = np.asarray(jax.jit(task.sample, static_argnums=1)(
        jax.random.key(1), 32).inputs)
    for example in inputs:
      items = _items(example, k, s, seg)
      self.assertTrue(np.all((items == 0) | (items == 1)))
      for j in range(s):
        self.assertLen(np.unique(items[:, j], axis=0), k)
      self.assertTrue(np.all(items.any(-1)))

  def test_flags_and_padding(self):
    inputs, mask = self.batch.inputs, self.batch.mask
    bits, flags = inputs[..., :-2], inputs[..., -2:]
    np.testing.assert_array_equal(flags[:, 0], [[1.0, 0.0]] * _BATCH)
    np.testing.assert_array_equal(flags[:, _K + 1], [[0.0, 1.0]] * _BATCH)
    rest = np.delete(flags, [0, _K + 1], axis=1)
    np.testing.assert_array_equal(rest, 0.0)
    np.testing.assert_array_equal(bits[:, [0, _K + 1]], 0.0)
    # The mask: 1 on the q query steps right after the query flag.
    q = mask.sum(-1).astype(int)
    self.assertEqual(set(q), set(range(8, 17)))
    for b in range(_BATCH):
      want = np.zeros(self.task.max_steps)
      want[_K + 2:_K + 2 + q[b]] = 1.0
      np.testing.assert_array_equal(mask[b], want)
      # Past the q queries, and at every step off the mask: nothing.
      np.testing.assert_array_equal(inputs[b, _K + 2 + q[b]:], 0.0)
    np.testing.assert_array_equal(
        self.batch.targets * (1 - mask[..., None]), 0.0)

  def test_queries_and_targets(self):
    # An independent parse: exactly one stored item k and one set Z of S/2
    # segments make the query (item k with Z zeroed) and the target (item
    # k's segments Z, in order); no stored segment is zero, so nothing is
    # ambiguous.
    zeroed = np.zeros((len(_SUBSETS), _S), bool)
    np.put_along_axis(zeroed, _SUBSETS, True, axis=1)
    hidden_counts = np.zeros(_S)
    items_asked = set()
    for inputs, targets, mask in zip(*self.batch[:3]):
      items = _items(inputs)  # [K, S, seg]
      queries = np.flatnonzero(mask)
      # Each query, for every (item, Z): [K, 70, S, seg] and [K, 70, S/2*seg].
      as_query = np.where(zeroed[None, :, :, None], 0.0, items[:, None])
      as_target = items[:, _SUBSETS].reshape(_K, len(_SUBSETS), -1)
      for t in queries:
        query = inputs[t, :-2].reshape(_S, _SEG)
        ok = (np.all(as_query == query, axis=(2, 3))
              & np.all(as_target == targets[t], axis=2))
        self.assertEqual(ok.sum(), 1, f'step {t}: not one item and half')
        k, z = np.argwhere(ok)[0]
        items_asked.add(k)
        hidden_counts += zeroed[z]
        # Exactly S/2 segments zeroed.
        self.assertEqual(np.all(query == 0, axis=1).sum(), _HALF)
    self.assertEqual(items_asked, set(range(_K)))
    # Every segment gets hidden, about half the time.
    frac = hidden_counts / hidden_counts.sum() * _HALF
    np.testing.assert_allclose(frac, 0.5, atol=0.1)

  def test_refresh_steps_are_none(self):
    refresh = self.task.refresh_steps(self.batch)
    self.assertEqual(refresh.shape, self.batch.mask.shape)
    np.testing.assert_array_equal(refresh, 0.0)

  def test_deterministic_for_a_key(self):
    again = self.sample(jax.random.key(0), _BATCH)
    other = self.sample(jax.random.key(1), _BATCH)
    np.testing.assert_array_equal(again.inputs, self.batch.inputs)
    self.assertFalse(np.array_equal(other.inputs, self.batch.inputs))

  def test_perfect_and_zero_logits(self):
    targets = self.batch.targets
    evaluate = jax.jit(lambda z, b: (self.task.metrics(z, b),
                                     self.task.loss(z, b)))
    perfect, _ = evaluate((2 * targets - 1) * 20.0, self.batch)
    self.assertLess(float(perfect['cost_bits']), 1e-4)
    self.assertEqual(float(perfect['bit_errors']), 0.0)
    zero, zero_loss = evaluate(np.zeros_like(targets), self.batch)
    bits = self.batch.mask.sum(-1).mean() * 32
    self.assertAlmostEqual(float(zero['cost_bits']), bits, places=2)
    self.assertAlmostEqual(float(zero_loss), bits, places=2)

  def test_evals_and_variants(self):
    self.assertEqual(self.task.evals(), {'train': base.Sampled(self.task)})
    task = representation_recall.RepresentationRecall(eval_queries=[16, 32])
    self.assertEqual(task.eval_queries, (16, 32))
    variants = task.variants()
    self.assertEqual(sorted(variants), ['queries_16', 'queries_32'])
    self.assertEqual((variants['queries_32'].min_queries,
                      variants['queries_32'].max_queries), (32, 32))
    self.assertEqual(variants['queries_32'].max_steps, 1 + _K + 1 + 32)

  @parameterized.parameters(
      (dict(num_items=0), 'num_items'),
      (dict(num_segments=0), 'num_segments'),
      (dict(num_segments=7), 'num_segments'),
      (dict(segment_size=0), 'segment_size'),
      (dict(segment_size=3), 'segment_size'),  # 7 values for 8 items.
      (dict(segment_size=31), 'segment_size'),
      (dict(min_queries=0), 'min_queries'),
      (dict(min_queries=17), 'min_queries'),
      (dict(max_queries=0), 'max_queries'),
      (dict(eval_queries=(8, 0)), 'eval_queries'),
  )
  def test_bad_config_names_field(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      representation_recall.RepresentationRecall(**kwargs)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
