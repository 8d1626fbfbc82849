"""One-shot learning of Omniglot characters (MANN, Santoro et al. 2016).

An episode shows `T = episode_length` images of `C = num_classes` characters
drawn afresh for the episode. At step `t` the model sees the image of step `t`
and the label of step `t - 1` (zeros at step 0), and must output the label of
step `t`: it can only know a class's label after its first instance, so the
accuracy at the 2nd, 3rd, ... instance of a class measures one-shot learning.

Episodes are sampled on the device inside the jitted step from a key; the
105x105 images (`memax.data.omniglot`) are the task's `device_data()`:

- `C` distinct classes drawn without replacement from the split ('train': the
  1,200 training characters, 'test': the other 423), in random order: the
  class drawn `j`-th gets label `j`, so labels are a random permutation of
  the classes, afresh in every episode;
- per (episode, class) a rotation by `k * 90` degrees, `k` uniform in
  {0, 1, 2, 3} (new classes, as in the paper);
- the class of each step uniform ('random'), or exactly `T / C` steps per
  class in a random order ('uniform'); per step a random drawer (image) of
  that class;
- per step a small rotation uniform in `[-max_rotation, max_rotation]`
  degrees and an integer translation uniform in `[-max_shift, max_shift]`
  pixels per axis, at the 105-pixel scale;
- down-sampling to `image_size x image_size` (400 inputs for 20x20), then
  division by the image's maximum (if it has ink), as the seed
  implementation (snowkylin/ntm) does. Ink is 1, background 0.

Rotation, translation and down-sampling are one resampling (`render`): each
output pixel averages `supersample x supersample` points spread evenly over
its area at the source scale, each mapped back through the inverse of
(rotate about the image centre, then translate) and looked up (nearest
neighbour) in the binary source image, 0 outside it: an area-averaged,
anti-aliased image. `augment=False` leaves only the down-sampling.

The default `supersample=3` is a trade-off measured on 2 CPU cores (a batch
of 16 episodes x 50 steps under jit, median): 7 ms with 2, 12 ms with 3,
20 ms with 4 (an LSTM-200's gradient step on the same batch: 45 ms). The
mean absolute difference from the exact area average (real characters, no
augmentation) is 0.016, 0.010 and 0.008; 3 points per 5.25 source pixels
(1.75 apart) sample every stroke (about 5 pixels wide) and give 10 grey
levels. On an accelerator the cost is negligible whatever the setting.

Rotations turn the image counter-clockwise as displayed (row 0 at the top),
the direction of `np.rot90`: a quarter turn alone gives exactly
`np.rot90(render(image), k)`.

Labels: 'one_hot' (a one-hot vector of size `C`; targets `[B, T]` label ids)
or 'string' (each class a distinct random string of `string_length`
characters over `string_alphabet` symbols, shown five-hot: one one-hot block
per character; targets `[B, T, string_length]` character ids; the model
outputs a softmax per character). A string prediction is right when all its
characters are.

Batches: `inputs` float32 `[B, T, image_size**2 + label_size]` (image of step
`t`, label of step `t - 1`), `targets` as above, `mask` `[B, T]` ones.
Metrics: `accuracy` (and `error`, 1 - accuracy), `accuracy_1` ...
`accuracy_10` (by instance: the `k`-th time a class appears in its episode)
and `episode_loss`.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memax.data import omniglot as omniglot_data
from memax.tasks import base
from memax.types import Array, Batch, PRNGKey, PyTree

LABELS = ('one_hot', 'string')
CLASS_DRAWS = ('random', 'uniform')
SPLITS = ('train', 'test')
MAX_INSTANCE = 10  # metrics report the accuracy at instances 1..10.
_MAX_CODES = 2 ** 30  # string_alphabet ** string_length at most (int32).

# cos and sin of k quarter turns, exact.
_QUARTER_COS = (1.0, 0.0, -1.0, 0.0)
_QUARTER_SIN = (0.0, 1.0, 0.0, -1.0)


# ----------------------------------------------------------------------------
# Pure helpers (shared with notebooks and evaluation).


def distinct_integers(rng: PRNGKey, n: int, k: int) -> Array:
  """`k` distinct integers drawn uniformly without replacement from `[0, n)`.

  The `j`-th is uniform over the integers not drawn before it, so the result
  is a uniformly random ordered sample. Costs `O(k^2 log k)`, nothing in `n`
  (`n` may be large: string codes).

  Args:
    rng: key.
    n: size of the range (static), `n >= k`.
    k: how many (static).

  Returns:
    int32 `[k]`.
  """
  draws = jax.random.randint(rng, (k,), 0, n - jnp.arange(k))
  position = jnp.arange(k)

  def body(j, chosen):
    # The r-th integer not yet chosen is r + #{chosen s : s - (its rank) <= r}
    # (s - rank counts the unchosen integers below s); free slots hold n + k.
    taken = jnp.sort(chosen)
    r = draws[j]
    return chosen.at[j].set(r + jnp.sum(taken - position <= r))

  chosen = jnp.full((k,), n + k, jnp.int32)
  return jax.lax.fori_loop(0, k, body, chosen)


def render(image: Array, quarter_turns: Array | int = 0,
           angle: Array | float = 0.0, shift: Array | tuple[int, int] = (0, 0),
           *, image_size: int = 20, supersample: int = 3) -> Array:
  """One source image rotated, translated and down-sampled; max 1.

  Args:
    image: `[H, W]` source image, 1 = ink, 0 = background (any dtype).
    quarter_turns: counter-clockwise quarter turns (any int; mod 4).
    angle: a further counter-clockwise rotation in degrees.
    shift: `(rows, columns)` translation in source pixels (down, right).
    image_size: `S`, the output's side.
    supersample: points per output pixel and axis.

  Returns:
    float32 `[S, S]` in [0, 1], divided by its maximum when that is > 0.
  """
  height, width = image.shape
  return _resample(jnp.ravel(image), 0, height, width, quarter_turns, angle,
                   shift, image_size=image_size, supersample=supersample)


def _resample(flat: Array, offset: Array | int, height: int, width: int,
              quarter_turns: Array | int, angle: Array | float,
              shift: Array | tuple[int, int], *, image_size: int,
              supersample: int) -> Array:
  """`render` of the image at `flat[offset:offset + height * width]`."""
  n = image_size * supersample
  # Point a of n per axis, at the centre of its 1/n-th of the image, in
  # coordinates centred on the image centre (pixel p spans [p, p + 1)).
  ys = (jnp.arange(n, dtype=jnp.float32) + 0.5) * (height / n) - height / 2
  xs = (jnp.arange(n, dtype=jnp.float32) + 0.5) * (width / n) - width / 2
  shift = jnp.asarray(shift, jnp.float32)
  dy = (ys - shift[0])[:, None]
  dx = (xs - shift[1])[None, :]
  k = jnp.asarray(quarter_turns, jnp.int32) % 4
  cos_k = jnp.asarray(_QUARTER_COS)[k]
  sin_k = jnp.asarray(_QUARTER_SIN)[k]
  phi = jnp.deg2rad(jnp.asarray(angle, jnp.float32))
  # The angle k * 90 + phi, exact for phi = 0.
  cos = cos_k * jnp.cos(phi) - sin_k * jnp.sin(phi)
  sin = sin_k * jnp.cos(phi) + cos_k * jnp.sin(phi)
  # Inverse map of "rotate counter-clockwise (as displayed, rows down) about
  # the centre, then translate": source (row, column) of each output point.
  src_y = cos * dy + sin * dx + height / 2
  src_x = cos * dx - sin * dy + width / 2
  iy = jnp.floor(src_y).astype(jnp.int32)
  ix = jnp.floor(src_x).astype(jnp.int32)
  inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
  index = offset + jnp.clip(iy, 0, height - 1) * width + jnp.clip(
      ix, 0, width - 1)
  ink = jnp.where(inside, jnp.take(flat, index, mode='clip'), 0)
  pixels = ink.astype(jnp.float32).reshape(
      image_size, supersample, image_size, supersample).mean(axis=(1, 3))
  peak = jnp.max(pixels)
  return pixels / jnp.where(peak > 0, peak, 1.0)  # no ink: all zeros.


def instance_indices(targets: Array) -> Array:
  """How many times each step's label has appeared so far in its episode.

  Args:
    targets: `[B, T]` label ids, or `[B, T, L]` strings (equal when all `L`
      characters are).

  Returns:
    int32 `[B, T]`, 1-based: 1 at a label's first step, 2 at its second...
  """
  targets = jnp.asarray(targets)
  if targets.ndim == 2:
    targets = targets[..., None]
  same = jnp.all(targets[:, :, None, :] == targets[:, None, :, :], axis=-1)
  steps = targets.shape[1]
  upto = jnp.arange(steps)[None, :] <= jnp.arange(steps)[:, None]  # s <= t
  return jnp.sum(same & upto[None], axis=-1).astype(jnp.int32)


def accuracy_by_instance(correct: Array, instance: Array, mask: Array,
                         max_instance: int = MAX_INSTANCE) -> Array:
  """Accuracy at the k-th instance of a class, pooled over the batch.

  Args:
    correct: `[B, T]` bool, the prediction at the step is right.
    instance: `[B, T]` `instance_indices` of the targets.
    mask: `[B, T]` steps that count.
    max_instance: the largest `k` reported.

  Returns:
    float32 `[max_instance]`: entry `k - 1` is the fraction of the masked
    steps at the `k`-th instance predicted right (0 where there are none).
  """
  ks = jnp.arange(1, max_instance + 1)
  at = (instance[None] == ks[:, None, None]) & (mask[None] > 0)
  right = jnp.sum(at & correct[None].astype(bool), axis=(1, 2))
  count = jnp.sum(at, axis=(1, 2))
  return (right / jnp.maximum(count, 1)).astype(jnp.float32)


# ----------------------------------------------------------------------------
# The task.


class _Shared:
  """The loaded images, shared by a task and its variants (no reload)."""

  def __init__(self, omniglot: Any):
    self.images = np.asarray(omniglot.images)
    self.splits = {s: np.asarray(getattr(omniglot, s), np.int32)
                   for s in SPLITS}
    self.names = tuple(getattr(omniglot, 'classes', ()))
    self.device = None


def _check_int(value: Any, field: str, minimum: int = 1) -> None:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ValueError(f'config.task.{field} must be an integer >= {minimum}, '
                     f'got {value!r}.')


def _check_choice(value: Any, field: str, choices: tuple[str, ...]) -> None:
  if value not in choices:
    raise ValueError(f'config.task.{field} must be one of {choices}, got '
                     f'{value!r}.')


@dataclasses.dataclass(frozen=True, eq=False)
class OmniglotEpisodes:
  """Omniglot one-shot episodes. Input `[B, T, S*S + label_size]`.

  Tasks compare by identity (they hold the images), as bAbI's does. The
  variants share the loaded images (`dataclasses.replace` without `data=`
  would load them again).

  Attributes:
    data_dir: folder of the Omniglot zips ('' = `memax.data.omniglot`'s
      default path).
    num_classes: `C`, classes per episode (5).
    episode_length: `T`, steps per episode (50).
    labels: 'one_hot' or 'string' (five-hot strings).
    string_length: characters per string label (5).
    string_alphabet: symbols per character (5).
    class_draw: 'random' (the class of each step uniform) or 'uniform'
      (exactly `T / C` steps per class, in a random order).
    augment: random quarter turns per class, small rotations and
      translations per step; False: down-sampling only.
    max_rotation: the small rotation is uniform in +-this, degrees (11.25).
    max_shift: the translation is uniform in +-this, source pixels (10).
    image_size: `S`, the side of the down-sampled image (20: 400 inputs).
    supersample: points averaged per output pixel and axis (anti-aliasing;
      see the module docstring for the cost).
    eval_classes: string labels only: evaluation variants on the test
      classes with more classes per episode, 'test_classes_<c>', the
      episode length scaled by `c / num_classes`.
    split: the classes episodes are drawn from, 'train' or 'test' (the
      'test' evaluation sets it).
    data: not a config field: an `Omniglot`-like object (`images`, `train`,
      `test`) to use instead of loading `data_dir` (tests).
  """

  data_dir: str = ''
  num_classes: int = 5
  episode_length: int = 50
  labels: str = 'one_hot'
  string_length: int = 5
  string_alphabet: int = 5
  class_draw: str = 'random'
  augment: bool = True
  max_rotation: float = 11.25
  max_shift: int = 10
  image_size: int = 20
  supersample: int = 3
  eval_classes: tuple[int, ...] = ()
  split: str = 'train'
  name: str = 'omniglot'
  data: dataclasses.InitVar[Any] = None

  num_examples = None  # episodes are generated: no epochs.

  def __post_init__(self, data: Any):
    self._check_fields()
    if isinstance(data, _Shared):
      shared = data
    else:
      if data is None:
        data = self._load()
      try:
        shared = _Shared(data)
      except (AttributeError, TypeError, ValueError) as e:
        raise ValueError('The Omniglot data must have `images`, `train` and '
                         f'`test` arrays: {e}') from e
    object.__setattr__(self, '_shared', shared)
    self._check_data()

  # ---- configuration ------------------------------------------------------

  def _check_fields(self) -> None:
    """Every field on its own, before anything is loaded."""
    if not isinstance(self.data_dir, str):
      raise ValueError('config.task.data_dir must be a folder path (a '
                       f'string), got {self.data_dir!r}.')
    _check_int(self.num_classes, 'num_classes')
    _check_int(self.episode_length, 'episode_length')
    _check_choice(self.labels, 'labels', LABELS)
    _check_int(self.string_length, 'string_length')
    _check_int(self.string_alphabet, 'string_alphabet')
    _check_choice(self.class_draw, 'class_draw', CLASS_DRAWS)
    if (self.class_draw == 'uniform'
        and self.episode_length % self.num_classes):
      raise ValueError(
          f"config.task.episode_length ({self.episode_length}) must be a "
          f"multiple of config.task.num_classes ({self.num_classes}) with "
          "config.task.class_draw='uniform' (T / C steps per class).")
    if not isinstance(self.augment, bool):
      raise ValueError(f'config.task.augment must be True or False, got '
                       f'{self.augment!r}.')
    if (isinstance(self.max_rotation, bool)
        or not isinstance(self.max_rotation, (int, float))
        or not 0 <= self.max_rotation <= 180):
      raise ValueError('config.task.max_rotation must be a number of '
                       f'degrees in [0, 180], got {self.max_rotation!r}.')
    _check_int(self.max_shift, 'max_shift', minimum=0)
    _check_int(self.image_size, 'image_size')
    _check_int(self.supersample, 'supersample')
    _check_choice(self.split, 'split', SPLITS)
    if not isinstance(self.eval_classes, tuple):
      raise ValueError('config.task.eval_classes must be a tuple of class '
                       f'counts, got {self.eval_classes!r}.')
    for c in self.eval_classes:
      _check_int(c, 'eval_classes')
    if self.labels == 'one_hot' and self.eval_classes:
      raise ValueError(
          f'config.task.eval_classes={self.eval_classes} needs '
          "config.task.labels='string': with one-hot labels the output size "
          'is the number of classes, so a model cannot be evaluated with '
          'more; set eval_classes=().')
    if self.labels == 'string':
      codes = self.string_alphabet ** self.string_length
      if codes > _MAX_CODES:
        raise ValueError(
            f'config.task.string_alphabet ** config.task.string_length '
            f'({self.string_alphabet} ** {self.string_length}) must be at '
            f'most 2 ** 30 distinct strings.')
      for field, c in ([('num_classes', self.num_classes)]
                       + [('eval_classes', c) for c in self.eval_classes]):
        if c > codes:
          raise ValueError(
              f'config.task.{field} ({c}) exceeds the {codes} distinct '
              f'strings of config.task.string_length={self.string_length} '
              f'characters over config.task.string_alphabet='
              f'{self.string_alphabet} symbols.')

  def _load(self) -> Any:
    try:
      return omniglot_data.load(self.data_dir)
    except FileNotFoundError as e:
      raise FileNotFoundError(
          f'{e} (config.task.data_dir={self.data_dir!r})') from e
    except ValueError as e:
      raise ValueError(
          f'{e} (config.task.data_dir={self.data_dir!r})') from e

  def _check_data(self) -> None:
    """The fields that depend on the data: class counts of the splits."""
    images = self._shared.images
    if images.ndim != 4 or min(images.shape) < 1:
      raise ValueError('The Omniglot images must be [classes, drawers, '
                       f'height, width], got shape {images.shape}.')
    if images.size >= 2 ** 31:
      raise ValueError(f'The Omniglot images hold {images.size} pixels; '
                       'at most 2 ** 31 - 1 are supported (int32 indices).')
    num_images = len(images)
    for split, idx in self._shared.splits.items():
      if idx.ndim != 1 or (idx.size and not (
          0 <= idx.min() and idx.max() < num_images)):
        raise ValueError(f'The Omniglot {split} split must be a vector of '
                         f'class indices in [0, {num_images}).')
    train, test = (len(self._shared.splits[s]) for s in SPLITS)
    for field, c in [('num_classes', self.num_classes)] + [
        ('eval_classes', c) for c in self.eval_classes]:
      limit = min(train, test) if field == 'num_classes' else test
      if c > limit:
        raise ValueError(
            f'config.task.{field} ({c}) exceeds the classes of the Omniglot '
            f'split ({train} train, {test} test classes): episodes draw '
            'distinct classes.')

  def _replace(self, **changes: Any) -> 'OmniglotEpisodes':
    """A variant on the same loaded images."""
    return dataclasses.replace(self, data=self._shared, **changes)

  # ---- sizes ------------------------------------------------------------

  @property
  def label_size(self) -> int:
    if self.labels == 'string':
      return self.string_length * self.string_alphabet
    return self.num_classes

  @property
  def input_size(self) -> int:
    return self.image_size ** 2 + self.label_size

  @property
  def output_size(self) -> int:
    return self.label_size

  @property
  def max_steps(self) -> int:
    return self.episode_length

  @property
  def class_names(self) -> tuple[str, ...]:
    """'Alphabet/characterNN' of every dataset class (`info`'s indices)."""
    return self._shared.names

  @property
  def num_drawers(self) -> int:
    return self._shared.images.shape[1]

  # ---- sampling ---------------------------------------------------------

  def device_data(self) -> PyTree:
    """`{'images': uint8 [classes, drawers, H, W], 'train', 'test': int32}`.

    Made once, shared with the variants; passed into every jit.
    """
    shared = self._shared
    if shared.device is None:
      shared.device = {'images': jnp.asarray(shared.images, jnp.uint8),
                       **{s: jnp.asarray(v) for s, v in shared.splits.items()}}
    return shared.device

  def sample(self, rng: PRNGKey, batch_size: int, data: PyTree = None
             ) -> Batch:
    """`batch_size` independent episodes of this task's split; jittable.

    `data` is `device_data()` (that of any task on the same images; None:
    this task's own). Pass it into a jit as an argument: closed over, the
    images (358 MB) would become a constant of the program.
    """
    return self.sample_with_info(rng, batch_size, data)[0]

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree) -> Batch:
    """The batch of train step `step` of the run keyed by `key`; pure."""
    return self.sample(base.step_keys(key, step)[0], batch_size, data)

  def sample_with_info(self, rng: PRNGKey, batch_size: int,
                       data: PyTree = None) -> tuple[Batch, dict[str, Array]]:
    """`sample`, and what was drawn (tests, notebooks, plots).

    Args:
      rng: key.
      batch_size: `B`, episodes.
      data: as for `sample`.

    Returns:
      `(batch, info)`; `info` holds `episode_classes` `[B, C]` (the dataset
      class, an index into `Omniglot.classes`, of label `j` at `[:, j]`),
      `codes` `[B, C]` (string labels: label `j`'s string as an integer, its
      characters the base-`string_alphabet` digits, most significant
      first; one-hot: `j`), and per step `[B, T]`: `classes` (dataset class),
      `drawers`, `quarter_turns`, `angles` (degrees), `shifts` `[B, T, 2]`.
    """
    data = self.device_data() if data is None else data
    images, split = data['images'], data[self.split]
    num_drawers, height, width = images.shape[1:]
    c, t = self.num_classes, self.episode_length
    codes_size = (self.string_alphabet ** self.string_length
                  if self.labels == 'string' else c)

    def episode(key):
      keys = jax.random.split(key, 6)
      picked = distinct_integers(keys[0], split.shape[0], c)
      if self.class_draw == 'uniform':
        labels = jax.random.permutation(
            keys[1], jnp.repeat(jnp.arange(c, dtype=jnp.int32), t // c))
      else:
        labels = jax.random.randint(keys[1], (t,), 0, c)
      if self.labels == 'string':
        codes = distinct_integers(keys[2], codes_size, c)
      else:
        codes = jnp.arange(c, dtype=jnp.int32)
      turns = jax.random.randint(keys[3], (c,), 0, 4)
      # Per step: the drawer, and the shift of rows and of columns.
      draws = jax.random.randint(
          keys[4], (t, 3),
          jnp.array([[0, -self.max_shift, -self.max_shift]]),
          jnp.array([[num_drawers, self.max_shift + 1, self.max_shift + 1]]))
      drawers, shifts = draws[:, 0], draws[:, 1:]
      angles = jax.random.uniform(keys[5], (t,), minval=-self.max_rotation,
                                  maxval=self.max_rotation)
      if not self.augment:
        turns = jnp.zeros_like(turns)
        angles = jnp.zeros_like(angles)
        shifts = jnp.zeros_like(shifts)
      classes = split[picked]
      return {'episode_classes': classes, 'codes': codes, 'labels': labels,
              'classes': classes[labels], 'drawers': drawers,
              'quarter_turns': turns[labels], 'angles': angles,
              'shifts': shifts}

    info = jax.vmap(episode)(jax.random.split(rng, batch_size))
    flat = jnp.ravel(images)
    offsets = (info['classes'] * num_drawers
               + info['drawers']) * (height * width)
    one = lambda o, k, a, s: _resample(
        flat, o, height, width, k, a, s, image_size=self.image_size,
        supersample=self.supersample)
    pixels = jax.vmap(jax.vmap(one))(offsets, info['quarter_turns'],
                                     info['angles'], info['shifts'])
    pixels = pixels.reshape(batch_size, t, self.image_size ** 2)
    labels = info.pop('labels')
    if self.labels == 'string':
      # Digits of each step's code, most significant first.
      powers = self.string_alphabet ** jnp.arange(
          self.string_length - 1, -1, -1, dtype=jnp.int32)
      step_codes = jnp.take_along_axis(info['codes'], labels, axis=1)
      targets = (step_codes[..., None] // powers[None, None]
                 ) % self.string_alphabet
      vectors = jax.nn.one_hot(targets, self.string_alphabet).reshape(
          batch_size, t, self.label_size)
    else:
      targets = labels
      vectors = jax.nn.one_hot(targets, c)
    previous = jnp.concatenate(
        [jnp.zeros_like(vectors[:, :1]), vectors[:, :-1]], axis=1)
    inputs = jnp.concatenate([pixels, previous], axis=-1)
    batch = Batch(inputs=inputs, targets=targets.astype(jnp.int32),
                  mask=jnp.ones((batch_size, t), jnp.float32))
    return batch, info

  # ---- loss and metrics --------------------------------------------------

  def _per_symbol(self, logits: Array) -> Array:
    """String logits as `[..., string_length, string_alphabet]`."""
    if self.labels == 'string':
      return logits.reshape(*logits.shape[:-1], self.string_length,
                            self.string_alphabet)
    return logits

  def step_losses(self, logits: Array, batch: Batch) -> Array:
    """Cross-entropy of every step, `[B, T]` (summed over characters)."""
    xent = optax.softmax_cross_entropy_with_integer_labels(
        self._per_symbol(logits), batch.targets)
    return xent.sum(-1) if self.labels == 'string' else xent

  def correct(self, logits: Array, batch: Batch) -> Array:
    """`[B, T]` bool: the argmax label (every character of it) is right."""
    right = jnp.argmax(self._per_symbol(logits), -1) == batch.targets
    return jnp.all(right, -1) if self.labels == 'string' else right

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Cross-entropy per step: the masked mean over the batch and time.

    Strings sum the characters' cross-entropies. This is the per-step mean;
    `metrics` also reports `episode_loss`, the sum over an episode's steps
    averaged over episodes (`T` times this with the full mask).

    Args:
      logits: `[B, T, O]`.
      batch: targets `[B, T]` (`[B, T, string_length]`), mask `[B, T]`.
    """
    total = jnp.sum(self.step_losses(logits, batch) * batch.mask)
    return total / jnp.maximum(jnp.sum(batch.mask), 1.0)

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`accuracy`, `error`, `accuracy_1` ... `accuracy_10`, `episode_loss`.

    `accuracy` and `error` (1 - accuracy, what the trainer's 'auto' best
    checkpoint minimises) count every masked step; `accuracy_k` pools the
    masked steps of the batch at the `k`-th instance of their class
    (`accuracy_by_instance`), 0 when there are none.
    """
    correct = self.correct(logits, batch)
    mask = batch.mask
    by_instance = accuracy_by_instance(
        correct, instance_indices(batch.targets), mask)
    accuracy = jnp.sum(correct * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    out = {'accuracy': accuracy, 'error': 1.0 - accuracy}
    out.update({f'accuracy_{k + 1}': by_instance[k]
                for k in range(MAX_INSTANCE)})
    out['episode_loss'] = jnp.mean(
        jnp.sum(self.step_losses(logits, batch) * mask, axis=-1))
    return out

  def probabilities(self, logits: Array) -> Array:
    """Softmax over the labels `[..., C]`, or per character `[..., L, A]`."""
    return jax.nn.softmax(self._per_symbol(logits), axis=-1)

  def plot_example(self, path: str, batch: Batch, probabilities: Array,
                   aux: Any, title: str = '') -> str:
    """One episode as a PNG: its images, labels, predictions and memory.

    Args:
      path: output PNG path.
      batch: one episode (no batch axis): `inputs` `[T, D]`, `targets`
        `[T]` (`[T, string_length]`).
      probabilities: `probabilities` of the episode's logits, `[T, C]`
        (`[T, string_length, string_alphabet]`).
      aux: the model's `aux` for the episode (memory weightings, usage).
      title: figure title.

    Returns:
      `path`.
    """
    from memax.training import plots  # pylint: disable=g-import-not-at-top
    size = self.image_size
    images = np.asarray(batch.inputs)[:, :size * size].reshape(-1, size, size)
    text = lambda label: ''.join(str(int(c)) for c in np.ravel(label))
    labels = [text(t) for t in np.asarray(batch.targets)]
    predictions = [text(p) for p in np.argmax(np.asarray(probabilities), -1)]
    return plots.plot_episode(path, images, labels, predictions, aux or {},
                              title)

  # ---- evaluation ---------------------------------------------------------

  def variants(self) -> dict[str, 'OmniglotEpisodes']:
    """'test' (this task on the test classes) and 'test_classes_<c>'."""
    out = {'test': self._replace(split='test', eval_classes=())}
    for c in self.eval_classes:
      length = max(1, round(self.episode_length * c / self.num_classes))
      out[f'test_classes_{c}'] = self._replace(
          split='test', num_classes=c, episode_length=length,
          eval_classes=())
    return out

  def evals(self) -> dict[str, base.Sampled]:
    """'train' (this task: the training distribution) and the variants."""
    return {'train': base.Sampled(self),
            **{k: base.Sampled(v) for k, v in self.variants().items()}}
