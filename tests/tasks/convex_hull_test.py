"""Tests for the convex hull task."""

import os
import shutil
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np
from scipy import spatial

from memax.tasks import base
from memax.tasks import convex_hull
from memax.types import Batch

_SMALL = 8  # max_points of the encoding tests: a quick compile.
_ROWS = 9  # rows of the hand-made hulls (padding after each one's points).
_jit_hull_order = jax.jit(convex_hull.hull_order)


def _hull_order(points) -> tuple[np.ndarray, int]:
  """`hull_order` of hand-made points padded to `_ROWS` rows (one compiled
  program for all; the padding must not count)."""
  padded = np.zeros((_ROWS, 2), np.int32)
  padded[:len(points)] = points
  order, k = _jit_hull_order(jnp.asarray(padded), len(points))
  return np.asarray(order), int(k)


def _scipy_hull(points: np.ndarray) -> np.ndarray:
  """An independent hull: qhull's counter-clockwise vertices, rotated to
  start at the lowest index (the files' convention)."""
  vertices = spatial.ConvexHull(np.asarray(points, np.float64)).vertices
  return np.roll(vertices, -int(np.argmin(vertices)))


def _signed_area(points: np.ndarray, hull: np.ndarray) -> float:
  q = points[hull]
  return 0.5 * float(np.sum(q[:, 0] * np.roll(q[:, 1], -1) -
                            np.roll(q[:, 0], -1) * q[:, 1]))


class OrientationTest(absltest.TestCase):

  def test_exact_sign_of_products(self):
    rng = np.random.default_rng(0)
    top = 2 ** 23 - 1
    x = rng.integers(-top, top + 1, (4, 20000))
    x[:, :4] = [[top, -top, top, 0], [top, top, -top, 0],
                [top, top, -top, 0], [top, -top, top, 0]]  # equal products
    # a * b - c * d = +-1 near 2^46: the sign hides in the last bit.
    x[:, 4] = [top - 1, top - 1, top, top - 2]
    x[:, 5] = [top, top - 2, top - 1, top - 1]
    y = rng.integers(-top, top + 1, (2, 1000))
    x[:, 6:1006] = [y[0], y[1], y[1], y[0]]  # a * b == c * d exactly
    expected = np.sign(x[0] * x[1] - x[2] * x[3])
    got = convex_hull.orientation(*[jnp.asarray(v, jnp.int32) for v in x])
    np.testing.assert_array_equal(np.asarray(got), expected)
    np.testing.assert_array_equal(expected[4:6], [1, -1])
    self.assertTrue(np.all(expected[6:1006] == 0))


class DeviceHullTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = convex_hull.ConvexHull(min_points=3, max_points=20)
    generate = jax.jit(cls.task.generate, static_argnums=1)
    cls.hulls = jax.tree.map(np.asarray, generate(jax.random.key(0), 600))

  def test_hull_equals_scipy_and_monotone_chain(self):
    h = self.hulls
    self.assertEqual(set(h.size.tolist()), set(range(3, 21)))
    for b in range(len(h.size)):
      n, k = h.size[b], h.hull_size[b]
      points = h.points[b, :n]
      expected = _scipy_hull(points)
      np.testing.assert_array_equal(h.order[b, :k], expected, err_msg=str(b))
      self.assertEqual(h.order[b, k], expected[0])
      np.testing.assert_array_equal(h.order[b, k + 1:], 0)
      # The exact host hull on the integer grid agrees too.
      grid = np.round(points.astype(np.float64) * 2 ** 23).astype(np.int64)
      np.testing.assert_array_equal(convex_hull.hull_indices(grid), expected)
      np.testing.assert_array_equal(h.points[b, n:], 0.0)

  def test_ordering_convention(self):
    # Counter-clockwise from the lowest-index vertex (the Pointer Networks
    # files), on a hand-made example: a square around an inner point 0.
    points = np.array([[2, 2], [4, 0], [0, 0], [0, 4], [4, 4]])
    order, k = _hull_order(points)
    self.assertEqual(k, 4)
    np.testing.assert_array_equal(order, [1, 4, 3, 2, 1] + [0] * 5)
    np.testing.assert_array_equal(convex_hull.hull_indices(points),
                                  [1, 4, 3, 2])
    h = self.hulls
    for b in range(len(h.size)):
      hull = h.order[b, :h.hull_size[b]]
      self.assertEqual(hull[0], hull.min())
      self.assertGreater(_signed_area(h.points[b].astype(np.float64), hull),
                         0.0)

  def test_collinear_and_coincident_points(self):
    # Points 1, 3, 6 inside hull edges, 7 a copy of vertex 2, 0 inside; all
    # collinear points are not vertices, the copy is not one either.
    points = np.array([[3, 3], [3, 0], [6, 0], [6, 3], [6, 6], [0, 6],
                       [0, 3], [6, 0], [0, 0]])
    order, k = _hull_order(points)
    np.testing.assert_array_equal(order[:k + 1], [2, 4, 5, 8, 2])
    np.testing.assert_array_equal(convex_hull.hull_indices(points),
                                  [2, 4, 5, 8])
    # All points on one line: the two ends.
    line = np.array([[2, 2], [0, 0], [4, 4], [1, 1]])
    order, k = _hull_order(line)
    np.testing.assert_array_equal(order[:k + 1], [1, 2, 1])
    np.testing.assert_array_equal(convex_hull.hull_indices(line), [1, 2])


class EncodingTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = convex_hull.ConvexHull(min_points=3, max_points=_SMALL,
                                      eval_points=(5,))
    sample = jax.jit(cls.task.sample, static_argnums=1)
    cls.batch = jax.tree.map(np.asarray, sample(jax.random.key(1), 256))

  def test_sizes(self):
    default = convex_hull.ConvexHull()
    self.assertEqual((default.input_size, default.output_size,
                      default.max_steps), (23, 21, 43))
    t = 2 * _SMALL + 3
    self.assertEqual(self.batch.inputs.shape, (256, t, _SMALL + 3))
    self.assertEqual(self.batch.targets.shape, (256, t))
    self.assertEqual(self.batch.targets.dtype, np.int32)
    self.assertEqual(self.batch.mask.shape, (256, t))

  def test_layout(self):
    inputs, targets, mask = self.batch[:3]
    labels_seen, sizes = set(), set()
    for b in range(len(inputs)):
      label = inputs[b, :, 2:].argmax(-1)
      on = inputs[b, :, 2:].sum(-1)
      n = int(np.sum((on > 0) & (label > 0)))
      sizes.add(n)
      # n point steps, labels a permutation of 1 .. n.
      np.testing.assert_array_equal(on[:n + 1], 1.0)
      np.testing.assert_array_equal(np.sort(label[:n]), np.arange(1, n + 1))
      labels_seen.add(tuple(label[:n]))
      # The end step: label 0, x = y = 0; nothing after it.
      self.assertEqual(label[n], 0)
      np.testing.assert_array_equal(inputs[b, n, :2], 0.0)
      np.testing.assert_array_equal(inputs[b, n + 1:], 0.0)
      # Outputs: the hull's labels, the first again, then the end token 0.
      xy = inputs[b, :n, :2].astype(np.float64)
      hull = _scipy_hull(xy)
      k = len(hull)
      expected = list(label[hull]) + [label[hull[0]], 0]
      np.testing.assert_array_equal(targets[b, n + 1:n + k + 3], expected)
      expected_mask = np.zeros(self.task.max_steps)
      expected_mask[n + 1:n + k + 3] = 1.0
      np.testing.assert_array_equal(mask[b], expected_mask)
      np.testing.assert_array_equal(targets[b, :n + 1], 0)
      np.testing.assert_array_equal(targets[b, n + k + 3:], 0)
    self.assertEqual(sizes, set(range(3, _SMALL + 1)))
    self.assertGreater(len(labels_seen), 100)  # permuted per example

  def test_refresh_steps_are_point_steps(self):
    steps = np.asarray(self.task.refresh_steps(self.batch))
    on = (self.batch.inputs[..., 2:].sum(-1) > 0) & (
        self.batch.inputs[..., 2:].argmax(-1) > 0)
    np.testing.assert_array_equal(steps, on.astype(np.float32))
    n = steps.sum(-1).astype(int)
    np.testing.assert_array_equal(
        steps, np.arange(self.task.max_steps)[None, :] < n[:, None])

  def test_metrics_and_loss_on_hand_made_logits(self):
    targets = np.array([[0, 2, 1, 2, 0], [0, 1, 3, 1, 0]], np.int32)
    mask = np.array([[0, 1, 1, 1, 1], [0, 1, 1, 1, 1]], np.float32)
    batch = Batch(inputs=np.zeros((2, 5, 7), np.float32),
                  targets=jnp.asarray(targets), mask=jnp.asarray(mask))
    logits = 10.0 * jax.nn.one_hot(targets, 4)
    logits = logits.at[1, 2].set(10.0 * jax.nn.one_hot(2, 4))  # one wrong
    logits = logits.at[0, 0].set(10.0 * jax.nn.one_hot(3, 4))  # unmasked
    m = self.task.metrics(logits, batch)
    self.assertAlmostEqual(float(m['sequence_accuracy']), 0.5)
    self.assertAlmostEqual(float(m['error']), 1 / 8)
    self.assertAlmostEqual(float(m['accuracy']), 7 / 8)
    right = self.task.metrics(10.0 * jax.nn.one_hot(targets, 4), batch)
    self.assertEqual(float(right['sequence_accuracy']), 1.0)
    self.assertLess(float(self.task.loss(10.0 * jax.nn.one_hot(targets, 4),
                                         batch)), 1e-3)
    self.assertEqual(float(base.categorical_loss(logits, batch)),
                     float(self.task.loss(logits, batch)))

  def test_evals(self):
    evals = self.task.evals()
    self.assertEqual(sorted(evals), ['points_5', 'train'])
    variant = evals['points_5'].task
    self.assertEqual((variant.num_points, variant.input_size),
                     (5, self.task.input_size))
    batch = jax.jit(variant.sample, static_argnums=1)(jax.random.key(2), 8)
    np.testing.assert_array_equal(self.task.refresh_steps(batch).sum(-1), 5)


class FileTest(parameterized.TestCase):

  def _tmp(self):
    path = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, path)
    return path

  def _write(self, lines):
    path = os.path.join(self._tmp(), 'hulls.txt')
    with open(path, 'w') as f:
      f.write(''.join(line + '\n' for line in lines))
    return path

  def test_round_trip(self):
    path = os.path.join(self._tmp(), 'train.txt')
    examples = convex_hull.generate_examples(50, min_points=3, max_points=9,
                                             seed=3)
    convex_hull.write_file(path, examples)
    with open(path) as f:
      first = f.readline().split()
    self.assertEqual(first[first.index('output') + 1], str(
        examples[0].hull[0] + 1))
    self.assertLen(first[0], 10)  # '0.xxxxxxxx', the files' 8 decimals
    read = convex_hull.read_file(path)
    self.assertLen(read, 50)
    for got, want in zip(read, examples):
      np.testing.assert_array_equal(got.points, want.points)
      np.testing.assert_array_equal(got.hull, want.hull)
      np.testing.assert_array_equal(got.hull, _scipy_hull(got.points))

  @parameterized.named_parameters(
      ('odd', '0.1 0.2 0.3 output 1 1', 'even'),
      ('no_output', '0.1 0.2 0.3 0.4 0.5 0.6 1 2 3 1', "'output'"),
      ('two_outputs', '0.1 0.2 output 1 1 output 1 1', "'output'"),
      ('not_a_number', '0.1 0.2 abc 0.4 0.5 0.6 output 1 2 3 1', "'abc'"),
      ('not_finite', '0.1 0.2 nan 0.4 0.5 0.6 output 1 2 3 1', 'finite'),
      ('index_not_int', '0.1 0.2 0.3 0.4 0.5 0.6 output 1 2.5 3 1',
       "'2.5'"),
      ('index_too_big', '0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 4 1',
       'out of range'),
      ('index_zero', '0.1 0.2 0.3 0.4 0.5 0.6 output 0 2 3 0',
       'out of range'),
      ('not_closed', '0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 3', 'not closed'),
      ('repeated', '0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 2 1', 'repeats'),
      ('empty_hull', '0.1 0.2 0.3 0.4 0.5 0.6 output', 'first again'),
  )
  def test_malformed_line(self, bad, message):
    good = '0.1 0.1 0.9 0.1 0.5 0.9 output 1 2 3 1'
    path = self._write([good, '', bad])
    with self.assertRaisesRegex(ValueError, message) as e:
      convex_hull.read_file(path)
    self.assertIn(f'{path}, line 3:', str(e.exception))
    with self.assertRaisesRegex(ValueError, 'config.task.train_file') as e:
      convex_hull.ConvexHull(min_points=3, max_points=4, eval_points=(4,),
                             train_file=path)
    self.assertIn(f'{path}, line 3:', str(e.exception))

  def test_missing_file(self):
    path = os.path.join(self._tmp(), 'absent.txt')
    with self.assertRaisesRegex(FileNotFoundError, 'absent.txt'):
      convex_hull.read_file(path)
    with self.assertRaisesRegex(FileNotFoundError,
                                'absent.txt.*config.task.test_file'):
      convex_hull.ConvexHull(test_file=path)

  def test_task_from_files(self):
    tmp = self._tmp()
    train = convex_hull.make_file(os.path.join(tmp, 'train.txt'), 40,
                                  min_points=3, max_points=8, seed=1)
    test = convex_hull.make_file(os.path.join(tmp, 'test.txt'), 7,
                                 min_points=5, max_points=5, seed=2)
    task = convex_hull.ConvexHull(min_points=3, max_points=6,
                                  eval_points=(5,), train_file=train,
                                  test_file=test)
    examples = convex_hull.read_file(train)
    kept = [e for e in examples if len(e.points) <= 6]
    self.assertEqual(task.num_examples, len(kept))
    self.assertLess(len(kept), 40)  # n = 7, 8 dropped
    self.assertEqual(sorted(task.evals()), ['points_5', 'test', 'train'])
    self.assertIsInstance(task.evals()['test'], base.Exhaustive)
    data = task.device_data()
    batch = jax.jit(task.train_batch, static_argnums=2)(
        jax.random.key(0), jnp.asarray(0), 4, data)
    self._check_against(batch, kept)
    batch = jax.jit(task.sample, static_argnums=1)(jax.random.key(1), 16, data)
    self._check_against(batch, kept)
    # 'test': every example once, the last batch's extra rows masked.
    batches = list(task.batches('test', 4))
    self.assertLen(batches, 2)
    test_examples = convex_hull.read_file(test)
    masks = np.concatenate([np.asarray(b.mask) for b in batches])
    np.testing.assert_array_equal(masks.sum(-1) > 0, np.arange(8) < 7)
    for j, b in enumerate(batches):
      self._check_against(b, test_examples, first=4 * j)
      # The code's test labels: the file's indices, 1 .. n.
      labels = np.asarray(b.inputs[:, :5, 2:]).argmax(-1)
      np.testing.assert_array_equal(labels, np.arange(1, 6)[None].repeat(4, 0))
    permuted = convex_hull.ConvexHull(
        min_points=3, max_points=6, eval_points=(5,), test_file=test,
        permute_test_labels=True)
    first = next(permuted.batches('test', 4))
    self._check_against(first, test_examples, first=0)
    self.assertFalse(np.array_equal(
        np.asarray(first.inputs[:, :5, 2:]).argmax(-1),
        np.arange(1, 6)[None].repeat(4, 0)))
    per = [task.per_example(10.0 * jax.nn.one_hot(b.targets, 7), b)
           for b in batches]
    summary = task.summarize({k: np.concatenate([p[k] for p in per])
                              for k in per[0]})
    self.assertEqual(set(summary), set(task.metric_names()))
    self.assertEqual(summary['num_examples'], 7.0)
    self.assertEqual(summary['sequence_accuracy'], 1.0)

  def _check_against(self, batch, examples, first=None):
    """Each row of `batch` decodes to an example of `examples` (to
    `examples[first + row]` when `first` is given) and its hull's labels."""
    inputs, targets, mask = jax.tree.map(np.asarray, tuple(batch[:3]))
    for b in range(len(inputs)):
      if not mask[b].any():
        continue
      n = int(((inputs[b, :, 2:].argmax(-1) > 0)
               & (inputs[b, :, 2:].sum(-1) > 0)).sum())
      xy = inputs[b, :n, :2]
      match = [e for e in examples if len(e.points) == n and np.allclose(
          e.points, xy, atol=1e-7)]
      self.assertLen(match, 1)
      if first is not None:
        self.assertIs(match[0], examples[first + b])
      label = inputs[b, :n, 2:].argmax(-1)
      hull = match[0].hull
      expected = list(label[hull]) + [label[hull[0]], 0]
      np.testing.assert_array_equal(targets[b][mask[b] > 0], expected)


class FieldsTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('min_points', {'min_points': 2}, 'config.task.min_points'),
      ('max_points', {'max_points': 4}, 'config.task.min_points'),
      ('eval_points', {'eval_points': (5, 30)}, 'config.task.eval_points'),
      ('num_points', {'num_points': 21}, 'config.task.num_points'),
      ('train_file', {'train_file': 3}, 'config.task.train_file'),
      ('permute_test_labels', {'permute_test_labels': 1},
       'config.task.permute_test_labels'),
  )
  def test_bad_field(self, fields, message):
    with self.assertRaisesRegex(ValueError, message):
      convex_hull.ConvexHull(**fields)


if __name__ == '__main__':
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  absltest.main()
