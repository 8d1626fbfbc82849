"""Tests for `memax.tasks.omniglot`: one-shot episodes sampled on the device.

Everything but RealDataTest runs on 12 synthetic classes (3 drawers each, a
distinct random 7x7 pattern of 15-pixel blocks per image, ink at the
centre), 7 of them for training and 5 for test. RealDataTest samples real
episodes when the Omniglot zips are there (MEMAX_OMNIGLOT_DIR, else
../shared/data/omniglot beside the repository).
"""

import os
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from memax.data import omniglot as omniglot_data
from memax.tasks import base
from memax.tasks import omniglot

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_DATA = (os.environ.get(omniglot_data.ENV_VAR) or
         os.path.join(_REPO, '..', 'shared', 'data', 'omniglot'))
_MISSING = not all(os.path.isfile(os.path.join(_DATA, z))
                   for z in (omniglot_data.BACKGROUND,
                             omniglot_data.EVALUATION))

_CLASSES, _DRAWERS, _TRAIN = 12, 3, 7
_N = 1024  # episodes of the main one-hot batch.
_PIXELS = 400  # 20 x 20


def _synthetic() -> omniglot_data.Omniglot:
  rng = np.random.default_rng(0)
  cells = rng.random((_CLASSES, _DRAWERS, 7, 7)) < 0.35
  cells[..., 3, 3] = True  # every image has ink near its centre.
  images = np.kron(cells, np.ones((15, 15))).astype(np.uint8)
  return omniglot_data.Omniglot(
      images=images,
      classes=tuple(f'Synthetic/character{i:02d}' for i in range(_CLASSES)),
      train=np.arange(_TRAIN, dtype=np.int32),
      test=np.arange(_TRAIN, _CLASSES, dtype=np.int32))


_SYNTHETIC = _synthetic()


def _task(**kwargs) -> omniglot.OmniglotEpisodes:
  fields = dict(num_classes=4, episode_length=20, supersample=2)
  fields.update(kwargs)
  return omniglot.OmniglotEpisodes(data=_SYNTHETIC, **fields)


_render = jax.jit(omniglot.render, static_argnames=('image_size',
                                                   'supersample'))


_JITTED = {}


def _sample(task, seed, batch_size, *, info=False):
  """Host arrays of a jitted `sample_with_info` (the data as an argument)."""
  if task not in _JITTED:
    _JITTED[task] = jax.jit(task.sample_with_info, static_argnums=1)
  out = jax.device_get(_JITTED[task](jax.random.key(seed), batch_size,
                                     task.device_data()))
  return out if info else out[0]


def _point_sampled(image, size, supersample):
  """NumPy: the mean of the nearest source pixels of a size x size grid.

  Output pixel i averages the source pixels under the centres of the
  supersample x supersample equal parts of its area (source pixel p spans
  [p, p + 1)); then the image is divided by its maximum.
  """
  n = size * supersample
  under = np.floor((np.arange(n) + 0.5) * image.shape[0] / n).astype(int)
  out = image[np.ix_(under, under)].reshape(size, supersample, size,
                                            supersample).mean((1, 3))
  return out / out.max() if out.max() > 0 else out


def _area_average(image, size):
  """NumPy: exact area-weighted down-sampling (fractional overlaps), max 1."""
  n = image.shape[0]
  width = n / size
  weights = np.zeros((size, n))
  for i in range(size):
    for p in range(n):
      weights[i, p] = max(0.0, min((i + 1) * width, p + 1) - max(i * width,
                                                                  p))
  out = weights @ image.astype(np.float64) @ weights.T / width ** 2
  return out / out.max()


def _xent(logits, targets):
  """NumPy: -log softmax(logits)[target] over the last axis, `[...]`."""
  z = np.asarray(logits, np.float64)
  z = z - z.max(-1, keepdims=True)
  log_norm = np.log(np.sum(np.exp(z), -1))
  return log_norm - np.take_along_axis(z, targets[..., None], -1)[..., 0]


class RenderTest(parameterized.TestCase):
  """`render`: the resampling of one image, against NumPy."""

  @parameterized.parameters((20, 2), (20, 3), (13, 4))
  def test_plain_is_numpy_point_sampling(self, size, supersample):
    for c, d in ((0, 0), (5, 2), (11, 1)):
      image = _SYNTHETIC.images[c, d]
      np.testing.assert_allclose(
          _render(image, image_size=size, supersample=supersample),
          _point_sampled(image, size, supersample), atol=1e-6)

  def test_plain_is_exact_block_mean_when_it_divides(self):
    # 105 = 21 x 5: 5 x 5 points per output pixel hit each source pixel once.
    image = _SYNTHETIC.images[3, 1]
    want = image.reshape(21, 5, 21, 5).mean((1, 3))
    np.testing.assert_allclose(
        _render(image, image_size=21, supersample=5),
        want / want.max(), atol=1e-6)

  def test_supersampling_approaches_the_area_average(self):
    image = _SYNTHETIC.images[8, 0]
    exact = _area_average(image, 20)
    errors = [np.abs(_render(image, supersample=s) - exact).mean()
              for s in (1, 2, 4, 8)]
    # The mean error falls about as 1 / supersample (0.09 ... 0.011 here).
    self.assertTrue(np.all(np.diff(errors) < 0), errors)
    self.assertLess(errors[-1], 0.015)

  @parameterized.parameters((20, 2), (20, 3), (21, 4))
  def test_quarter_turns_are_rot90(self, size, supersample):
    image = _SYNTHETIC.images[2, 0]
    plain = np.asarray(_render(image, image_size=size,
                                       supersample=supersample))
    for k in (1, 2, 3, 4, -1):
      np.testing.assert_allclose(
          _render(image, k, image_size=size,
                          supersample=supersample),
          np.rot90(plain, k), atol=1e-6, err_msg=f'k={k}')

  def test_directions(self):
    # Ink in the top-left 15 x 15 block only.
    image = np.zeros((105, 105), np.uint8)
    image[:15, :15] = 1
    ink = lambda x: np.argwhere(np.asarray(x) > 0)
    plain = ink(_render(image))
    self.assertEqual(plain.max(0).tolist(), [2, 2])
    # A quarter turn is counter-clockwise as displayed: to the bottom left.
    turned = ink(_render(image, 1))
    self.assertEqual(turned.min(0).tolist(), [17, 0])
    # 90 degrees as an angle is the same turn.
    np.testing.assert_allclose(_render(image, 0, 90.0),
                               _render(image, 1), atol=1e-6)
    # A shift of (rows, columns) = (21, 42) moves the ink down 4, right 8.
    moved = ink(_render(image, 0, 0.0, (21, 42)))
    np.testing.assert_array_equal(moved.min(0), plain.min(0) + [4, 8])
    # A small positive angle turns counter-clockwise: the top-left corner
    # region moves down (ink below row 2 in the left columns).
    small = ink(_render(image, 0, 10.0, (0, 0), supersample=8))
    self.assertGreater(small[:, 0].max(), 2)
    # All outside: no ink, no division by zero.
    np.testing.assert_array_equal(
        _render(image, 0, 0.0, (200, 0)), np.zeros((20, 20)))


class HelpersTest(absltest.TestCase):
  """`instance_indices`, `accuracy_by_instance`, `distinct_integers`."""

  def test_instance_indices_by_hand(self):
    targets = np.array([[2, 0, 2, 2, 1, 0], [1, 1, 1, 0, 0, 3]])
    np.testing.assert_array_equal(
        omniglot.instance_indices(targets),
        [[1, 1, 2, 3, 1, 2], [1, 2, 3, 1, 2, 1]])

  def test_instance_indices_of_strings(self):
    # Equal strings are one label; strings differing in one character not.
    targets = np.array([[[0, 1], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]]])
    np.testing.assert_array_equal(omniglot.instance_indices(targets),
                                  [[1, 1, 2, 1, 2, 3]])

  def test_accuracy_by_instance_by_hand(self):
    instance = np.array([[1, 1, 2, 3, 1, 2], [1, 2, 3, 1, 2, 1]])
    correct = np.array([[0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1]], bool)
    mask = np.ones((2, 6))
    mask[1, 5] = 0.0  # a masked first instance (correct) does not count.
    got = omniglot.accuracy_by_instance(correct, instance, mask,
                                        max_instance=4)
    # 1st: 5 counted, right at [0,1], [1,0]; 2nd: 4, right at [0,2], [1,4]
    # and not [0,5], [1,1] is right: 3/4; 3rd: [0,3] right, [1,2] wrong.
    np.testing.assert_allclose(got, [2 / 5, 3 / 4, 1 / 2, 0.0])

  def test_distinct_integers_are_distinct_and_uniform(self):
    @jax.jit  # both draws (and the keys) in one program.
    def draw(key, other):
      keys = jax.random.split(key, 20000)
      return (jax.vmap(lambda k: omniglot.distinct_integers(k, 5, 2))(keys),
              omniglot.distinct_integers(other, 7, 7))

    pairs, every = jax.device_get(draw(jax.random.key(0), jax.random.key(2)))
    self.assertTrue(np.all(pairs[:, 0] != pairs[:, 1]))
    counts = np.bincount(pairs[:, 0] * 5 + pairs[:, 1], minlength=25)
    counts = counts[[a * 5 + b for a in range(5) for b in range(5) if a != b]]
    self.assertLen(counts, 20)
    np.testing.assert_allclose(counts / 20000, 1 / 20, atol=0.008)
    self.assertEqual(sorted(every.tolist()), list(range(7)))


class OneHotEpisodesTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = _task()
    cls.batch, cls.info = _sample(cls.task, 0, _N, info=True)
    cls.plain = _task(augment=False, class_draw='uniform')
    cls.plain_batch, cls.plain_info = _sample(cls.plain, 1, 16, info=True)

  def test_sizes_and_shapes(self):
    task, batch = self.task, self.batch
    self.assertEqual((task.input_size, task.output_size, task.max_steps),
                     (_PIXELS + 4, 4, 20))
    self.assertIsNone(task.num_examples)
    self.assertEqual(batch.inputs.shape, (_N, 20, _PIXELS + 4))
    self.assertEqual(batch.inputs.dtype, np.float32)
    self.assertEqual(batch.targets.shape, (_N, 20))
    self.assertEqual(batch.targets.dtype, np.int32)
    np.testing.assert_array_equal(batch.mask, np.ones((_N, 20)))
    data = task.device_data()
    self.assertEqual(set(data), {'images', 'train', 'test'})
    self.assertEqual(data['images'].shape, (_CLASSES, _DRAWERS, 105, 105))
    self.assertIsInstance(data['images'], jax.Array)
    self.assertIs(task.device_data(), data)  # made once

  def test_label_of_the_previous_step_is_an_input(self):
    inputs, targets = self.batch.inputs, self.batch.targets
    np.testing.assert_array_equal(inputs[:, 0, _PIXELS:], 0.0)
    np.testing.assert_array_equal(inputs[:, 1:, _PIXELS:],
                                  np.eye(4)[targets[:, :-1]])

  def test_distinct_classes_of_the_split(self):
    episode = self.info['episode_classes']
    self.assertEqual(episode.shape, (_N, 4))
    self.assertTrue(np.all(np.diff(np.sort(episode, 1), axis=1) > 0))
    self.assertEqual(set(np.unique(episode)), set(range(_TRAIN)))
    # The step's class is the class of its label.
    np.testing.assert_array_equal(
        self.info['classes'],
        np.take_along_axis(episode, self.batch.targets, 1))
    test = _sample(self.task.variants()['test'], 0, 16, info=True)[1]
    self.assertTrue(np.all(test['episode_classes'] >= _TRAIN))
    self.assertTrue(np.all(np.diff(np.sort(test['episode_classes'], 1),
                                   axis=1) > 0))

  def test_images_are_the_drawn_ones(self):
    batch, info = self.plain_batch, self.plain_info
    for b in range(0, 16, 3):
      for t in range(20):
        c, d = info['classes'][b, t], info['drawers'][b, t]
        np.testing.assert_allclose(
            batch.inputs[b, t, :_PIXELS].reshape(20, 20),
            _point_sampled(_SYNTHETIC.images[c, d], 20, 2), atol=1e-6)
    # So the images identify (class, drawer): all renders differ.
    renders = np.stack([_point_sampled(im, 20, 2).ravel()
                        for im in _SYNTHETIC.images.reshape(-1, 105, 105)])
    self.assertLen(np.unique(renders, axis=0), _CLASSES * _DRAWERS)
    self.assertEqual(set(np.unique(self.info['drawers'])),
                     set(range(_DRAWERS)))

  def test_no_augmentation_when_off(self):
    info = self.plain_info
    for key in ('quarter_turns', 'angles', 'shifts'):
      np.testing.assert_array_equal(info[key], 0, err_msg=key)

  def test_augmentation_ranges(self):
    info, task = self.info, self.task
    angles, shifts = info['angles'], info['shifts']
    self.assertLessEqual(np.abs(angles).max(), task.max_rotation)
    self.assertGreater(np.abs(angles).max(), 11.0)
    self.assertAlmostEqual(np.mean(angles > 0), 0.5, delta=0.02)
    self.assertEqual(shifts.dtype.kind, 'i')
    np.testing.assert_allclose(
        np.bincount(shifts.ravel() + 10) / shifts.size, 1 / 21, atol=0.004)
    turns = info['quarter_turns']
    np.testing.assert_allclose(np.bincount(turns.ravel()) / turns.size,
                               0.25, atol=0.02)
    # One quarter turn per (episode, class).
    episode_step = np.repeat(np.arange(_N), 20)
    labels, turns = self.batch.targets.ravel(), turns.ravel()
    self.assertEqual(len(set(zip(episode_step, labels, turns))),
                     len(set(zip(episode_step, labels))))
    pixels = self.batch.inputs[..., :_PIXELS]
    self.assertGreaterEqual(pixels.min(), 0.0)
    peak = pixels.max(-1)
    np.testing.assert_allclose(peak[peak > 0], 1.0, rtol=1e-6)
    self.assertGreater(np.mean(peak > 0), 0.95)  # shifts rarely lose the ink.

  def test_labels_are_a_uniform_permutation(self):
    # The label of a fixed class, over the episodes that draw it: uniform
    # over 0..C-1 (labels are shuffled per episode).
    episode = self.info['episode_classes']
    for cls in range(_TRAIN):
      drawn = np.any(episode == cls, 1)
      labels = np.argmax(episode == cls, axis=1)[drawn]
      freq = np.bincount(labels, minlength=4) / len(labels)
      np.testing.assert_allclose(freq, 0.25, atol=0.07, err_msg=str(cls))
      # Each class equally likely to be drawn (4 of 7).
      self.assertAlmostEqual(np.mean(drawn), 4 / 7, delta=0.05)
    # 'random': the label of each step uniform.
    targets = self.batch.targets
    np.testing.assert_allclose(np.bincount(targets.ravel()) / targets.size,
                               0.25, atol=0.01)

  def test_uniform_draw_shows_each_class_t_over_c_times(self):
    targets = self.plain_batch.targets
    counts = np.stack([np.bincount(t, minlength=4) for t in targets])
    np.testing.assert_array_equal(counts, 5)
    self.assertLen({tuple(t) for t in targets}, 16)  # random orders

  def test_quarter_turns_alone_are_rot90(self):
    task = _task(max_rotation=0.0, max_shift=0)
    batch, info = _sample(task, 3, 8, info=True)
    self.assertGreater(len(np.unique(info['quarter_turns'])), 2)
    for b in range(8):
      for t in range(20):
        c, d = info['classes'][b, t], info['drawers'][b, t]
        plain = _point_sampled(_SYNTHETIC.images[c, d], 20, 2)
        np.testing.assert_allclose(
            batch.inputs[b, t, :_PIXELS].reshape(20, 20),
            np.rot90(plain, info['quarter_turns'][b, t]), atol=1e-6)

  def test_loss_and_metrics_against_numpy(self):
    batch, task = self.batch, self.task
    # The loss and the metrics in one compiled program.
    loss_and_metrics = jax.jit(lambda l, b: (task.loss(l, b),
                                             task.metrics(l, b)))
    loss = lambda l, b: loss_and_metrics(l, b)[0]
    metrics = lambda l, b: loss_and_metrics(l, b)[1]
    logits = np.asarray(jax.random.normal(jax.random.key(4), (_N, 20, 4)))
    xent = _xent(logits, batch.targets)
    correct = np.argmax(logits, -1) == batch.targets
    np.testing.assert_allclose(loss(logits, batch), xent.mean(), rtol=1e-5)
    got = metrics(logits, batch)
    self.assertEqual(set(got), {'accuracy', 'error', 'episode_loss'} | {
        f'accuracy_{k}' for k in range(1, 11)})
    self.assertAlmostEqual(float(got['error']), 1 - correct.mean(), places=6)
    np.testing.assert_allclose(got['episode_loss'], xent.sum(1).mean(),
                               rtol=1e-5)
    self.assertAlmostEqual(float(got['accuracy']), correct.mean(), places=6)
    instance = np.asarray(jax.jit(omniglot.instance_indices)(batch.targets))
    for k in (1, 2, 10):
      self.assertAlmostEqual(float(got[f'accuracy_{k}']),
                             correct[instance == k].mean(), places=6)
    # A masked step counts nowhere.
    masked = batch._replace(mask=batch.mask * (np.arange(20) < 19))
    np.testing.assert_allclose(loss(logits, masked), xent[:, :19].mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(metrics(logits, masked)['episode_loss'],
                               xent[:, :19].sum(1).mean(), rtol=1e-5)
    perfect = metrics(np.eye(4)[batch.targets] * 30.0, batch)
    for k, v in perfect.items():
      if k.startswith('accuracy'):
        self.assertEqual(float(v), 1.0, k)
    self.assertEqual(float(perfect['error']), 0.0)
    self.assertLess(float(perfect['episode_loss']), 1e-6)

  def test_probabilities(self):
    logits = jax.random.normal(jax.random.key(5), (2, 3, 4))
    probs = self.task.probabilities(logits)
    np.testing.assert_allclose(probs, jax.nn.softmax(logits, -1), rtol=1e-6)

  def test_deterministic_for_a_key(self):
    again = _sample(self.plain, 1, 16)
    other = _sample(self.plain, 2, 16)
    jax.tree.map(np.testing.assert_array_equal, again, self.plain_batch)
    self.assertFalse(np.array_equal(other.inputs, self.plain_batch.inputs))
    self.assertFalse(np.array_equal(other.targets, self.plain_batch.targets))

  def test_jit_shapes_follow_the_batch_size(self):
    task, data, key = self.task, self.task.device_data(), jax.random.key(9)

    @jax.jit
    def batches(step, data):
      # train_batch of any batch size, and sample on the step's data key
      # (data=None: the task's own device data).
      return ([task.train_batch(key, step, n, data) for n in (1, 3)],
              task.sample(base.step_keys(key, step)[0], 3))

    (one, three), want = batches(jnp.int32(5), data)
    self.assertEqual(one.inputs.shape, (1, 20, _PIXELS + 4))
    self.assertEqual(three.inputs.shape, (3, 20, _PIXELS + 4))
    jax.tree.map(np.testing.assert_array_equal, three, want)
    (_, other), _ = batches(jnp.int32(6), data)
    self.assertFalse(np.array_equal(other.inputs, three.inputs))

  def test_evals(self):
    evals = self.task.evals()
    self.assertEqual(set(evals), {'train', 'test'})
    self.assertIsInstance(evals['test'], base.Sampled)
    self.assertIs(evals['train'].task, self.task)
    test = evals['test'].task
    self.assertEqual((test.split, test.num_classes), ('test', 4))
    self.assertIs(test.device_data(), self.task.device_data())  # shared


class StringEpisodesTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = _task(labels='string', string_length=3, string_alphabet=2,
                     class_draw='uniform', eval_classes=(5,))
    cls.batch, cls.info = _sample(cls.task, 0, 64, info=True)

  def test_sizes_and_shapes(self):
    task, batch = self.task, self.batch
    self.assertEqual((task.label_size, task.output_size, task.input_size),
                     (6, 6, _PIXELS + 6))
    self.assertEqual(batch.targets.shape, (64, 20, 3))
    self.assertEqual(batch.inputs.shape, (64, 20, _PIXELS + 6))

  def test_strings_are_distinct_and_five_hot(self):
    batch, info = self.batch, self.info
    codes = info['codes']
    digits = np.stack([codes // 4, codes // 2 % 2, codes % 2], -1)
    for b in range(64):
      self.assertLen(set(codes[b].tolist()), 4)
      # Each step's string is one of the episode's, the same for a class.
      for t in range(20):
        j = list(info['episode_classes'][b]).index(info['classes'][b, t])
        np.testing.assert_array_equal(batch.targets[b, t], digits[b, j])
    self.assertTrue(np.all((codes >= 0) & (codes < 8)))
    self.assertEqual(set(np.unique(codes)), set(range(8)))
    # Five-hot (here three-hot) of the previous step: one block per char.
    previous = batch.inputs[:, 1:, _PIXELS:].reshape(64, 19, 3, 2)
    np.testing.assert_array_equal(previous,
                                  np.eye(2)[batch.targets[:, :-1]])
    np.testing.assert_array_equal(batch.inputs[:, 0, _PIXELS:], 0.0)

  def test_loss_metrics_and_probabilities(self):
    batch, task = self.batch, self.task
    logits = np.asarray(jax.random.normal(jax.random.key(1), (64, 20, 6)))
    per_char = logits.reshape(64, 20, 3, 2)
    xent = _xent(per_char, batch.targets).sum(-1)
    # The loss and the metrics in one compiled program.
    loss, metrics = jax.jit(lambda l, b: (task.loss(l, b), task.metrics(
        l, b)))(logits, batch)
    np.testing.assert_allclose(loss, xent.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics['episode_loss'], xent.sum(1).mean(),
                               rtol=1e-5)
    # Right only when every character is.
    correct = np.all(np.argmax(per_char, -1) == batch.targets, -1)
    self.assertAlmostEqual(float(metrics['accuracy']), correct.mean(),
                           places=6)
    probs = task.probabilities(logits)
    self.assertEqual(probs.shape, (64, 20, 3, 2))
    np.testing.assert_allclose(probs, jax.nn.softmax(per_char, -1),
                               rtol=1e-5)

  def test_uniform_draw_and_instances(self):
    instance = np.asarray(jax.jit(omniglot.instance_indices)(
        self.batch.targets))
    self.assertEqual(instance.max(), 5)  # 20 steps, 4 classes, 5 each.
    np.testing.assert_array_equal(np.sort(instance, 1),
                                  np.repeat(np.arange(1, 6), 4)[None]
                                  .repeat(64, 0))

  def test_plot_example(self):
    # One episode, as the final evaluation passes it (no batch axis).
    episode = jax.tree.map(lambda x: x[0], self.batch)
    probs = np.asarray(self.task.probabilities(np.zeros((20, 6))))
    self.assertEqual(probs.shape, (20, 3, 2))
    with tempfile.TemporaryDirectory() as tmp:
      path = self.task.plot_example(os.path.join(tmp, 'plots', 'e.png'),
                                    episode, probs, {}, title='x')
      self.assertGreater(os.path.getsize(path), 1000)

  def test_eval_classes_variant(self):
    variants = self.task.variants()
    self.assertEqual(set(variants), {'test', 'test_classes_5'})
    more = variants['test_classes_5']
    self.assertEqual((more.split, more.num_classes, more.episode_length,
                      more.eval_classes), ('test', 5, 25, ()))
    self.assertEqual(more.output_size, self.task.output_size)
    self.assertEqual(more.input_size, self.task.input_size)
    # Sampled with the training task's device data, as evaluation does.
    batch, info = jax.device_get(jax.jit(
        more.sample_with_info, static_argnums=1)(
            jax.random.key(0), 4, self.task.device_data()))
    self.assertEqual(batch.targets.shape, (4, 25, 3))
    for b in range(4):
      self.assertEqual(sorted(info['episode_classes'][b].tolist()),
                       list(range(_TRAIN, _CLASSES)))
    self.assertEqual(set(self.task.evals()),
                     {'train', 'test', 'test_classes_5'})


class ConfigTest(parameterized.TestCase):

  @parameterized.parameters(
      (dict(num_classes=0), 'num_classes'),
      (dict(num_classes=6), 'num_classes'),  # 5 test classes
      (dict(num_classes=True), 'num_classes'),
      (dict(episode_length=0), 'episode_length'),
      (dict(labels='onehot'), 'labels'),
      (dict(class_draw='balanced'), 'class_draw'),
      (dict(class_draw='uniform', episode_length=21), 'episode_length'),
      (dict(labels='string', string_length=0), 'string_length'),
      (dict(labels='string', string_alphabet=1, string_length=1),
       'num_classes'),
      (dict(labels='string', string_alphabet=100, string_length=5),
       'string_alphabet'),
      (dict(augment=1), 'augment'),
      (dict(max_rotation=-1.0), 'max_rotation'),
      (dict(max_shift=-1), 'max_shift'),
      (dict(image_size=0), 'image_size'),
      (dict(supersample=0), 'supersample'),
      (dict(eval_classes=(5,)), 'eval_classes'),  # one-hot
      (dict(labels='string', eval_classes=(6,)), 'eval_classes'),
      (dict(labels='string', eval_classes=[5]), 'eval_classes'),
      (dict(labels='string', eval_classes=(0,)), 'eval_classes'),
      (dict(split='valid'), 'split'),
      (dict(data_dir=3), 'data_dir'),
  )
  def test_bad_field_names_it(self, kwargs, field):
    with self.assertRaisesRegex(ValueError, rf'config\.task\.{field}'):
      _task(**kwargs)

  def test_fields_are_checked_before_loading(self):
    with self.assertRaisesRegex(ValueError, r'config\.task\.labels'):
      omniglot.OmniglotEpisodes(data_dir='/nonexistent', labels='bad')

  def test_missing_data_names_data_dir(self):
    with self.assertRaisesRegex(FileNotFoundError,
                                r'config\.task\.data_dir=.*/nonexistent'):
      omniglot.OmniglotEpisodes(data_dir='/nonexistent/omniglot')

  def test_bad_data_object(self):
    with self.assertRaisesRegex(ValueError, 'images'):
      omniglot.OmniglotEpisodes(data=object())


@absltest.skipIf(_MISSING, f'the Omniglot zips are not in {_DATA}')
class RealDataTest(absltest.TestCase):

  def test_real_episodes(self):
    task = omniglot.OmniglotEpisodes(data_dir=_DATA, labels='string',
                                     num_classes=15, episode_length=30,
                                     eval_classes=(25,))
    data = task.device_data()
    self.assertEqual(data['images'].shape, (1623, 20, 105, 105))
    self.assertEqual((len(data['train']), len(data['test'])), (1200, 423))
    more = task.variants()['test_classes_25']
    both = jax.device_get(jax.jit(lambda key, data: (
        task.sample_with_info(key, 8, data),
        more.sample_with_info(key, 8, data)))(jax.random.key(0), data))
    for (batch, info), variant in zip(both, (task, more)):
      c, t, split = variant.num_classes, variant.episode_length, variant.split
      self.assertEqual(batch.inputs.shape, (8, t, _PIXELS + 25), split)
      self.assertEqual(batch.targets.shape, (8, t, 5), split)
      pixels = batch.inputs[..., :_PIXELS]
      self.assertGreaterEqual(pixels.min(), 0.0)
      self.assertEqual(pixels.max(), 1.0)
      self.assertGreater(np.mean(pixels.max(-1) == 1.0), 0.99)
      self.assertGreater(pixels.mean(), 0.02)  # ink, not noise or nothing
      self.assertLess(pixels.mean(), 0.3)
      self.assertTrue(np.all((batch.targets >= 0) & (batch.targets < 5)))
      classes = info['episode_classes']
      self.assertEqual(classes.shape, (8, c))
      # The shipped split: train classes 0..1199, test 1200..1622.
      in_train = classes < 1200
      self.assertTrue(np.all(in_train) if split == 'train'
                      else not np.any(in_train), split)
      for b in range(8):
        self.assertLen(set(classes[b].tolist()), c)
        self.assertLen(set(info['codes'][b].tolist()), c)


if __name__ == '__main__':
  absltest.main()
