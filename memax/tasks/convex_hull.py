"""The planar convex hull task (Vinyals et al. 2015), as in the DAM paper.

Pointer Networks (Vinyals, Fortunato & Jaitly 2015, sec. 4.2) pose the task:
given `n` points uniform in the unit square, output the points of their
convex hull. The DAM paper (Park, Choi & Lee 2021; code taewonpark/DAM)
trains recurrent memory models on it and tests at `N = 5` and `N = 10`;
here training examples have 5 to 20 points by default (`min_points`,
`max_points`) and the evaluations are at 5 and 10 points (`eval_points`).

Data files (the Pointer Networks release; the DAM README asks for
`convex_hull_5-50_train.txt`, `convex_hull_5_test.txt` and
`convex_hull_10_test.txt`), one example per line:

  x1 y1 x2 y2 ... xn yn output i1 i2 ... ik i1

with coordinates written to 8 decimals and 1-based indices `i` of the hull's
`k` vertices, the first repeated at the end. Ordering convention, read off
`data/convex_hull_5_test.txt` in the GitHub repository
JoseVillagranE/Pointer-Networks (a copy of the release, commit 29ecd2b0):
on all 10,000 of its lines the hull starts at its lowest-index vertex, runs
COUNTER-CLOCKWISE (positive signed area), and is closed by repeating the
first index (k = 3, 4, 5 on 404, 3,608 and 5,988 lines). Lines end with a
space. This module writes and generates hulls in that convention; a point
inside an edge of the hull (collinear with two vertices) is not a vertex.

Generated examples use the same distribution with exact hulls. On the
device, coordinates are uniform on the grid `m / 2^23`, `m` in
`0 .. 2^23-1` (what `jax.random.uniform` yields in float32), and every
orientation test is computed exactly in int32 limbs (`orientation`), so the
hull is exact: point `i` is a vertex iff some `j` makes `i -> j` a hull edge,
with every other point strictly left of it or strictly inside the segment;
vertices are ranked counter-clockwise around the lowest-index vertex by
the same exact test (an `O(n^3)` vectorised test, no loop). Of coincident
points only the lowest-index copy counts. Collinear triples and coincident
points have probability below about `1e-9` per example on this grid (an
estimate); both are handled as above, and tested. On the host
(`generate_examples`, `write_file`), coordinates are uniform on the files'
grid `m / 10^8` and the hull is Andrew's monotone chain in exact int64
arithmetic.

Encoding for a recurrent model (the DAM code's), `P = max_points`, one step
`[x, y, one_hot(label, P + 1)]` (`D = P + 3` inputs; class 0 is the end
token), for an example of `n` points whose hull has `k` vertices
`h_0 .. h_{k-1}` in the convention above:

  t = 0 .. n-1         point t: `[x_t, y_t, one_hot(label_t)]`, where
                       `label = perm + 1` for a random permutation `perm` of
                       `0 .. n-1`, drawn afresh for every example (in
                       training and in every evaluation), so a label names a
                       point only within its example.
  t = n                end of input: `[0, 0, one_hot(0)]`.
  t = n+1 .. n+k+1     output: targets `label[h_0], ..., label[h_{k-1}],
                       label[h_0]` (the closing repeat included);
  t = n+k+2            target 0 (end); inputs zero on all output steps.
  t > n+k+2            padding: inputs zero, target 0, mask 0.

  targets `[T]` int32, mask `[T]` = 1 on the `k + 2` output steps.

The output starts at the hull vertex shown first (the files' lowest index),
whatever its label, and runs counter-clockwise.

An example uses `n + k + 3` steps; batches are padded to `max_steps =
2P + 3` (43 for `P = 20`). Outputs are a `(P + 1)`-way softmax per step; the
loss is `base.categorical_loss` (mean over output steps); metrics are the
per-step `error` and `accuracy` and `sequence_accuracy` (every output step
of an example right, averaged over the batch). `refresh_steps` marks the
point steps for DAM's memory refreshing loss.

With `train_file`, training examples come from that file (those with
`min_points <= n <= max_points`; the 5-50 file holds `n` up to 50), kept on
the device as padded arrays and visited in a pseudo-random order per epoch
(`dataset.epoch_indices`). With `test_file`, the evaluation 'test' scores
every example of that file once (`base.Exhaustive`), labelled by its
file indices (label `i` for the file's point `i`), as taewonpark/DAM's
test batches are (its loader shuffles the labels of training batches
only); `permute_test_labels` draws a permutation per row instead, from
`fold_in(key(0), row)`. The evaluations 'points_N' (N in `eval_points`)
are always generated, with permuted labels as in training.
"""

import dataclasses
import functools
import os
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from memax.tasks import base
from memax.tasks import dataset
from memax.types import Array, Batch, PRNGKey

GRID_BITS = 23  # device coordinates are m / 2^23, m in 0 .. 2^23-1.
FILE_GRID = 10 ** 8  # host coordinates are m / 10^8 (the files' 8 decimals).
MIN_POINTS = 3
SPLITS = ('test',)
_LIMB = 12


# ---- exact geometry on the device ------------------------------------------


def _split(x: Array) -> tuple[Array, Array]:
  """`x = hi * 2^12 + lo` with `lo` in `0 .. 2^12-1` (int32)."""
  hi = jnp.right_shift(x, _LIMB)
  return hi, x - jnp.left_shift(hi, _LIMB)


def orientation(a: Array, b: Array, c: Array, d: Array) -> Array:
  """The exact sign of `a * b - c * d` for int32 `|a|, |b|, |c|, |d| < 2^23`.

  The products need 47 bits; each factor is split into 12-bit limbs so that
  every partial sum fits in int32, and carries are propagated until the
  value is `H * 2^24 + L` with `0 <= L < 2^24`, whose sign is read off `H`
  (and `L` when `H = 0`).

  Args:
    a, b, c, d: int32 arrays of one broadcast shape.

  Returns:
    int32 array in {-1, 0, 1}.
  """
  ah, al = _split(a)
  bh, bl = _split(b)
  ch, cl = _split(c)
  dh, dl = _split(d)
  high = ah * bh - ch * dh  # weight 2^24, |.| <= 2^23
  mid = (ah * bl + al * bh) - (ch * dl + cl * dh)  # weight 2^12, <= 2^25
  low = al * bl - cl * dl  # weight 1, |.| < 2^24
  mid_hi, mid_lo = _split(mid)
  high = high + mid_hi
  low = low + jnp.left_shift(mid_lo, _LIMB)  # |.| < 2^25
  low_hi = jnp.right_shift(low, 2 * _LIMB)
  high = high + low_hi
  low = low - jnp.left_shift(low_hi, 2 * _LIMB)  # 0 <= low < 2^24
  return jnp.where(high != 0, jnp.sign(high), jnp.sign(low)).astype(jnp.int32)


def hull_order(coords: Array, n: Array) -> tuple[Array, Array]:
  """The exact convex hull of the first `n` points, in the files' order.

  Batch-free (vmap it). See the module docstring for the test; it costs
  `O(P^3)` integer operations.

  Args:
    coords: `[P, 2]` int32 grid coordinates in `0 .. 2^23-1`.
    n: `[]` int, points of the example (rows `>= n` are padding).

  Returns:
    `(order [P + 1] int32, k [] int32)`: `order[:k]` the 0-based indices of
    the hull's `k` vertices counter-clockwise from the lowest index,
    `order[k]` that index again, 0 after.
  """
  p = coords.shape[0]
  idx = jnp.arange(p)
  same = jnp.all(coords[:, None] == coords[None, :], axis=-1)  # [P, P]
  duplicate = jnp.any(same & (idx[None, :] < idx[:, None]), axis=1)
  live = (idx < n) & ~duplicate
  delta = coords[None, :, :] - coords[:, None, :]  # [i, j]: p_j - p_i
  dx, dy = delta[..., 0], delta[..., 1]
  # [i, j, k]: cross(p_j - p_i, p_k - p_i) and (p_k - p_i) . (p_j - p_i).
  cross = orientation(dx[:, :, None], dy[:, None, :], dy[:, :, None],
                      dx[:, None, :])
  dot = orientation(dx[:, None, :], dx[:, :, None], dy[:, None, :],
                    -dy[:, :, None])
  inside = (dot > 0) & (jnp.swapaxes(dot, 0, 1) > 0)  # strictly in i -- j
  other = (live[None, None, :] & (idx[None, None, :] != idx[:, None, None])
           & (idx[None, None, :] != idx[None, :, None]))
  fine = ~other | (cross > 0) | ((cross == 0) & inside)
  edge = (live[:, None] & live[None, :] & (idx[:, None] != idx[None, :])
          & jnp.all(fine, axis=-1))  # [i, j]: i -> j a counter-clockwise edge
  vertex = jnp.any(edge, axis=1)
  k = jnp.sum(vertex, dtype=jnp.int32)
  start = jnp.argmax(vertex)
  # Around a vertex of a convex polygon, w precedes v counter-clockwise iff
  # v is left of start -> w.
  precedes = vertex[:, None] & (cross[start] > 0)  # [w, v]
  rank = jnp.where(idx == start, 0, 1 + jnp.sum(precedes, axis=0))
  order = jnp.zeros((p + 1,), jnp.int32)
  order = order.at[jnp.where(vertex, rank, p + 1)].set(idx, mode='drop')
  return order.at[k].set(start), k


# ---- host NumPy: hulls, files ----------------------------------------------


class Example(NamedTuple):
  """One convex hull example, as in a data file.

  Attributes:
    points: `[n, 2]` float64 coordinates.
    hull: `[k]` int64 0-based indices of the hull's vertices in the file's
      order, without the closing repeat.
  """

  points: np.ndarray
  hull: np.ndarray


def hull_indices(points: np.ndarray) -> np.ndarray:
  """Andrew's monotone chain in the files' convention (host NumPy).

  Exact for integer coordinates below 2^31 (int64 products); for floats the
  orientation test is rounded. Points inside a hull edge are not vertices;
  of coincident points only the lowest index can be one.

  Args:
    points: `[n, 2]` coordinates, `n >= 1`.

  Returns:
    `[k]` int64 0-based vertex indices, counter-clockwise from the lowest.
  """
  points = np.asarray(points)
  if points.dtype.kind in 'iu':
    points = points.astype(np.int64)
  # np.unique returns each distinct point's first index, in lexicographic
  # (x, then y) order: the monotone chain's sort.
  unique, first = np.unique(points, axis=0, return_index=True)
  if len(unique) < 3:
    return np.sort(first).astype(np.int64)

  def cross(o, a, b):
    return ((unique[a, 0] - unique[o, 0]) * (unique[b, 1] - unique[o, 1]) -
            (unique[a, 1] - unique[o, 1]) * (unique[b, 0] - unique[o, 0]))

  def chain(order):
    out = []
    for b in order:
      while len(out) >= 2 and cross(out[-2], out[-1], b) <= 0:
        out.pop()
      out.append(b)
    return out

  m = len(unique)
  lower = chain(range(m))
  upper = chain(range(m - 1, -1, -1))
  hull = first[np.asarray(lower[:-1] + upper[:-1])]
  return np.roll(hull, -int(np.argmin(hull))).astype(np.int64)


def generate_examples(num_examples: int, *, min_points: int = 5,
                      max_points: int = 20, seed: int = 0) -> list[Example]:
  """Examples of the files' distribution with exact hulls (host NumPy).

  Coordinates are uniform on the grid `m / 10^8` (the files' 8 decimals, so
  `write_file` writes them exactly); `n` is uniform in
  `min_points .. max_points`.
  """
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(num_examples):
    n = int(rng.integers(min_points, max_points + 1))
    grid = rng.integers(0, FILE_GRID, (n, 2), dtype=np.int64)
    out.append(Example(points=grid / FILE_GRID, hull=hull_indices(grid)))
  return out


def format_line(example: Example, decimals: int = 8) -> str:
  """One line of a data file (see the module docstring), no newline."""
  coords = ' '.join(f'{v:.{decimals}f}' for v in np.ravel(example.points))
  hull = [int(i) + 1 for i in example.hull]
  return f'{coords} output {" ".join(map(str, hull + hull[:1]))}'


def write_file(path: str, examples: Sequence[Example], *,
               decimals: int = 8) -> None:
  """Writes `examples` in the data file format, one line each.

  The hulls are written as given: they must be those of the points as
  written (`generate_examples` draws points on the 8-decimal grid).
  """
  with open(path, 'w') as f:
    for example in examples:
      f.write(format_line(example, decimals) + '\n')


def make_file(path: str, num_examples: int, *, min_points: int = 5,
              max_points: int = 20, seed: int = 0) -> str:
  """Generates `num_examples` examples and writes them to `path`."""
  write_file(path, generate_examples(num_examples, min_points=min_points,
                                     max_points=max_points, seed=seed))
  return path


def parse_line(text: str, path: str, line: int) -> Example:
  """Parses one line of a data file.

  Raises:
    ValueError: naming `path` and `line` when the line is malformed.
  """
  where = f'{path}, line {line}'
  tokens = text.split()
  if tokens.count('output') != 1:
    raise ValueError(f"{where}: expected 'x1 y1 ... xn yn output i1 ... ik "
                     f"i1' with one 'output', found "
                     f"{tokens.count('output')}.")
  cut = tokens.index('output')
  coords, hull = tokens[:cut], tokens[cut + 1:]
  if not coords or len(coords) % 2:
    raise ValueError(f'{where}: expected an even, positive number of '
                     f'coordinates before "output", got {len(coords)}.')
  try:
    points = np.asarray([float(c) for c in coords]).reshape(-1, 2)
  except ValueError:
    bad = next(c for c in coords if not _is_float(c))
    raise ValueError(f'{where}: coordinate {bad!r} is not a number.') from None
  if not np.all(np.isfinite(points)):
    raise ValueError(f'{where}: coordinates must be finite.')
  try:
    indices = [int(i) for i in hull]
  except ValueError:
    bad = next(i for i in hull if not _is_int(i))
    raise ValueError(f'{where}: hull index {bad!r} is not an integer.'
                     ) from None
  n = len(points)
  if len(indices) < 2:
    raise ValueError(f'{where}: the hull needs its indices and the first '
                     f'again, got {hull}.')
  out = [i for i in indices if not 1 <= i <= n]
  if out:
    raise ValueError(f'{where}: hull index {out[0]} out of range 1 .. {n} '
                     f'({n} points).')
  if indices[0] != indices[-1]:
    raise ValueError(f'{where}: the hull is not closed: it must end with its '
                     f'first index {indices[0]}, not {indices[-1]}.')
  if len(set(indices[:-1])) != len(indices) - 1:
    raise ValueError(f'{where}: the hull repeats an index: {indices}.')
  return Example(points=points,
                 hull=np.asarray(indices[:-1], np.int64) - 1)


def _is_float(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def _is_int(text: str) -> bool:
  try:
    int(text)
  except ValueError:
    return False
  return True


def _lines(path: str) -> Iterator[tuple[int, str]]:
  """`(line number, text)` of the non-blank lines of a data file."""
  try:
    f = open(path)
  except FileNotFoundError:
    raise FileNotFoundError(
        f'Convex hull data file not found: {path!r}.') from None
  with f:
    for number, text in enumerate(f, start=1):
      if text.strip():
        yield number, text


def read_file(path: str) -> list[Example]:
  """Every example of a data file (see the module docstring).

  Raises:
    FileNotFoundError: naming `path`.
    ValueError: naming `path` and the line of a malformed line.
  """
  return [parse_line(text, path, number) for number, text in _lines(path)]


def pack(examples: Sequence[Example], max_points: int) -> dict[str, np.ndarray]:
  """Examples as padded arrays (the device data of a file).

  Returns:
    `points [M, P, 2]` float32 (0 past `n`), `size [M]` int32 (`n`),
    `order [M, P + 1]` int32 (the hull with its closing repeat, 0 after) and
    `hull_size [M]` int32 (`k`), with `P = max_points`.
  """
  m = len(examples)
  points = np.zeros((m, max_points, 2), np.float32)
  order = np.zeros((m, max_points + 1), np.int32)
  size = np.zeros((m,), np.int32)
  hull_size = np.zeros((m,), np.int32)
  for row, (pts, hull) in enumerate(examples):
    points[row, :len(pts)] = pts
    order[row, :len(hull) + 1] = np.append(hull, hull[0])
    size[row], hull_size[row] = len(pts), len(hull)
  return {'points': points, 'size': size, 'order': order,
          'hull_size': hull_size}


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, stamp: tuple[int, int], min_points: int,
                 max_points: int) -> tuple[dict[str, np.ndarray], int]:
  del stamp  # part of the cache key: a rewritten file is read again.
  kept, dropped = [], 0
  for number, text in _lines(path):
    example = parse_line(text, path, number)
    if min_points <= len(example.points) <= max_points:
      kept.append(example)
    else:
      dropped += 1
  arrays = pack(kept, max_points)
  for array in arrays.values():
    array.flags.writeable = False
  return arrays, dropped


def load(path: str, *, min_points: int, max_points: int
         ) -> tuple[dict[str, np.ndarray], int]:
  """The examples of a file with `min_points <= n <= max_points`, packed.

  Read once per process while the file is unchanged.

  Returns:
    `(pack(kept, max_points), number dropped)`.
  """
  try:
    stat = os.stat(path)
  except FileNotFoundError:
    raise FileNotFoundError(
        f'Convex hull data file not found: {path!r}.') from None
  return _load_cached(os.path.abspath(path), (stat.st_mtime_ns, stat.st_size),
                      min_points, max_points)


# ---- the task --------------------------------------------------------------


class Hulls(NamedTuple):
  """Point sets and their hulls, padded to `P` points.

  Attributes:
    points: `[B, P, 2]` float32 coordinates (0 past `n`).
    size: `[B]` int32 `n`.
    order: `[B, P + 1]` int32 hull vertices with the closing repeat.
    hull_size: `[B]` int32 `k`.
  """

  points: Array
  size: Array
  order: Array
  hull_size: Array


def encode(hulls: Hulls, noise: Array) -> Batch:
  """The recurrent encoding of the module docstring.

  Args:
    hulls: point sets and hulls, `P` points at most.
    noise: `[B, P]` uniform noise in [0, 1): its ranks over the `n` points
      are the label permutation.

  Returns:
    `Batch(inputs [B, T, P + 3], targets int32 [B, T], mask [B, T])`,
    `T = 2P + 3`.
  """
  p = hulls.points.shape[1]
  steps = 2 * p + 3
  n = hulls.size[:, None]  # [B, 1]
  k = hulls.hull_size[:, None]
  real = jnp.arange(p)[None, :] < n  # [B, P]
  ranks = jnp.argsort(jnp.argsort(jnp.where(real, noise, 2.0), axis=-1),
                      axis=-1)
  labels = jnp.where(real, ranks + 1, 0).astype(jnp.int32)  # [B, P]
  t = jnp.arange(steps)[None, :]  # [1, T]
  is_point = t < n
  is_end = t == n
  out = t - n - 1  # position in the output sequence
  is_hull = (out >= 0) & (out <= k)
  is_stop = out == k + 1
  pad = ((0, 0), (0, steps - p))
  xy = jnp.pad(hulls.points, pad + ((0, 0),))
  xy = jnp.where(is_point[..., None], xy, 0.0)
  label_in = jnp.where(is_point, jnp.pad(labels, pad), 0)
  one_hot = jax.nn.one_hot(label_in, p + 1, dtype=jnp.float32)
  one_hot = one_hot * (is_point | is_end)[..., None]
  vertex = jnp.take_along_axis(hulls.order, jnp.clip(out, 0, p), axis=1)
  target = jnp.take_along_axis(labels, vertex, axis=1)
  return Batch(inputs=jnp.concatenate([xy, one_hot], axis=-1),
               targets=jnp.where(is_hull, target, 0).astype(jnp.int32),
               mask=(is_hull | is_stop).astype(jnp.float32))


def per_step_wrong(logits: Array, batch: Batch) -> Array:
  """`[B, T]` bool: a wrong argmax on an output step."""
  return (jnp.argmax(logits, -1) != batch.targets) & (batch.mask > 0)


def sequence_metrics(logits: Array, batch: Batch) -> dict[str, Array]:
  """`error` and `accuracy` per output step, and `sequence_accuracy`.

  Args:
    logits: `[B, T, V]`.
    batch: targets int `[B, T]`, mask `[B, T]`.

  Returns:
    Scalars: `error` (wrong output steps / output steps), `accuracy`
    (1 - error) and `sequence_accuracy` (the share of examples with output
    steps whose every output step is right).
  """
  wrong = per_step_wrong(logits, batch)
  error = jnp.sum(wrong) / jnp.maximum(jnp.sum(batch.mask), 1.0)
  scored = jnp.sum(batch.mask, axis=-1) > 0
  right = scored & ~jnp.any(wrong, axis=-1)
  return {'error': error, 'accuracy': 1.0 - error,
          'sequence_accuracy': (jnp.sum(right) /
                                jnp.maximum(jnp.sum(scored), 1))}


def _check_points(value: Any, field: str, maximum: int | None = None
                  ) -> None:
  if (isinstance(value, bool) or not isinstance(value, int)
      or value < MIN_POINTS or (maximum is not None and value > maximum)):
    bound = f' and <= {maximum}' if maximum is not None else ''
    raise ValueError(f'config.task.{field} must be an integer >= '
                     f'{MIN_POINTS}{bound}, got {value!r}.')


@dataclasses.dataclass(frozen=True)
class ConvexHull(base.Generator):
  """Convex hull. Inputs `[B, T, P + 3]`, targets int `[B, T]`, `P + 1` classes.

  Attributes:
    min_points: fewest points of a training example (5).
    max_points: `P`, most points of a training example and of any example
      (20): it fixes the label classes (`P + 1`) and `T = 2P + 3`.
    eval_points: `N` of the generated evaluation variants 'points_N' (5, 10).
    num_points: 0: `n` uniform in `min_points .. max_points`; otherwise every
      example has `num_points` points (set by the variants).
    train_file: a data file to train on ('' = generate on the device).
    test_file: a data file for the exhaustive evaluation 'test' ('' = none).
    permute_test_labels: label the 'test' examples by a permutation keyed
      by their row instead of by their file indices (the code's).
  """

  min_points: int = 5
  max_points: int = 20
  eval_points: tuple[int, ...] = (5, 10)
  num_points: int = 0
  train_file: str = ''
  test_file: str = ''
  permute_test_labels: bool = False
  name: str = 'convex_hull'
  _host: dict[str, Any] = dataclasses.field(
      default_factory=dict, init=False, repr=False, compare=False)
  _device: dict[str, Any] = dataclasses.field(
      default_factory=dict, init=False, repr=False, compare=False)

  def __post_init__(self):
    _check_points(self.min_points, 'min_points')
    _check_points(self.max_points, 'max_points')
    base.check_range(self.min_points, self.max_points, 'task.min_points',
                     'task.max_points')
    if not isinstance(self.eval_points, (tuple, list)):
      raise ValueError('config.task.eval_points must be a tuple of integers, '
                       f'got {self.eval_points!r}.')
    for n in self.eval_points:
      _check_points(n, 'eval_points', self.max_points)
    object.__setattr__(self, 'eval_points', tuple(self.eval_points))
    if self.num_points != 0:
      _check_points(self.num_points, 'num_points', self.max_points)
    if not isinstance(self.permute_test_labels, bool):
      raise ValueError('config.task.permute_test_labels must be true or '
                       f'false, got {self.permute_test_labels!r}.')
    for field, (lo, hi) in (('train_file', (self.min_points,
                                            self.max_points)),
                            ('test_file', (MIN_POINTS, self.max_points))):
      path = getattr(self, field)
      if path is None:
        object.__setattr__(self, field, '')
        continue
      if not isinstance(path, str):
        raise ValueError(f'config.task.{field} must be a path (a string), '
                         f'got {path!r}.')
      if path:
        self._host[field] = self._load(field, path, lo, hi)

  def _load(self, field: str, path: str, lo: int, hi: int
            ) -> dict[str, np.ndarray]:
    try:
      arrays, dropped = load(path, min_points=lo, max_points=hi)
    except FileNotFoundError as e:
      raise FileNotFoundError(f'{e} (config.task.{field})') from e
    except ValueError as e:
      raise ValueError(f'{e} (config.task.{field})') from e
    kept = len(arrays['size'])
    if not kept:
      raise ValueError(
          f'{path} (config.task.{field}) has no example of {lo} to {hi} '
          'points (config.task.min_points / max_points).')
    if dropped:
      logging.info('Convex hull %s: kept %d examples of %d to %d points, '
                   'dropped %d others.', path, kept, lo, hi, dropped)
    return arrays

  @property
  def input_size(self) -> int:
    return self.max_points + 3

  @property
  def output_size(self) -> int:
    return self.max_points + 1

  @property
  def max_steps(self) -> int:
    return 2 * self.max_points + 3

  @property
  def num_examples(self) -> int | None:
    """Training examples of `train_file`; None when generated."""
    if not self.train_file:
      return None
    return int(len(self._host['train_file']['size']))

  def steps_per_epoch(self, batch_size: int) -> int:
    return max((self.num_examples or 0) // batch_size, 1)

  # ---- sampling -----------------------------------------------------------

  def generate(self, rng: PRNGKey, batch_size: int) -> Hulls:
    """Point sets with exact hulls, drawn on the device (pure, jittable).

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Hulls` with `P = max_points`; `n` is `num_points`, or uniform in
      `min_points .. max_points`.
    """
    count_rng, point_rng = jax.random.split(rng)
    p = self.max_points
    if self.num_points:
      size = jnp.full((batch_size,), self.num_points, jnp.int32)
    else:
      size = jax.random.randint(count_rng, (batch_size,), self.min_points,
                                p + 1, dtype=jnp.int32)
    bits = jax.random.bits(point_rng, (batch_size, p, 2), jnp.uint32)
    grid = jnp.right_shift(bits, 32 - GRID_BITS).astype(jnp.int32)
    real = jnp.arange(p)[None, :] < size[:, None]
    grid = jnp.where(real[..., None], grid, 0)
    order, hull_size = jax.vmap(hull_order)(grid, size)
    points = grid.astype(jnp.float32) * (2.0 ** -GRID_BITS)  # exact
    return Hulls(points=points, size=size, order=order, hull_size=hull_size)

  def device_data(self) -> dict[str, Any] | None:
    """`{'train': packed train_file}` on the device, or None (generated)."""
    if not self.train_file:
      return None
    return {'train': self._on_device('train_file')}

  def _on_device(self, field: str) -> dict[str, Array]:
    if field not in self._device:
      self._device[field] = {k: jnp.asarray(v)
                             for k, v in self._host[field].items()}
    return self._device[field]

  def _noise(self, rng: PRNGKey, batch_size: int) -> Array:
    return jax.random.uniform(rng, (batch_size, self.max_points))

  def sample(self, rng: PRNGKey, batch_size: int, data: Any = None
             ) -> Batch:
    """A batch of the training distribution (pure, jittable).

    Generated on the device, or, with `train_file`, examples drawn
    uniformly with replacement from `data['train']` (`device_data()`).

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.
      data: `device_data()` (taken from the task when None).

    Returns:
      `Batch(inputs [B, T, P + 3], targets int32 [B, T], mask [B, T])`,
      `T = max_steps`.
    """
    hull_rng, noise_rng = jax.random.split(rng)
    noise = self._noise(noise_rng, batch_size)
    if not self.train_file:
      return encode(self.generate(hull_rng, batch_size), noise)
    data = self.device_data() if data is None else data
    rows = jax.random.randint(hull_rng, (batch_size,), 0, self.num_examples)
    return encode(Hulls(**dataset.gather(data['train'], rows)), noise)

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: Any = None) -> Batch:
    """The batch of train step `step`; a file is visited once per epoch."""
    if not self.train_file:
      return super().train_batch(key, step, batch_size, data)
    data = self.device_data() if data is None else data
    rows = dataset.epoch_indices(key, step, batch_size, self.num_examples)
    noise = self._noise(base.step_keys(key, step)[0], batch_size)
    return encode(Hulls(**dataset.gather(data['train'], rows)), noise)

  # The memory refreshing loss (`memax.tasks.refresh`).
  refresh_reconstruction = 'squared'
  refresh_alpha = 'per_target'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: the point steps (a label in 1 .. P is set)."""
    return (jnp.max(batch.inputs[..., 3:], axis=-1) > 0).astype(jnp.float32)

  # ---- loss and metrics ---------------------------------------------------

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Cross-entropy of the output steps (`logits [B, T, P + 1]`), mean."""
    return base.categorical_loss(logits, batch)

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`error`, `accuracy` (per output step) and `sequence_accuracy`."""
    return sequence_metrics(logits, batch)

  def probabilities(self, logits: Array) -> Array:
    return jax.nn.softmax(logits, axis=-1)

  # ---- evaluation -------------------------------------------------------

  def variants(self) -> dict[str, 'ConvexHull']:
    """'points_N': generated examples of exactly N points."""
    return {f'points_{n}': dataclasses.replace(
        self, num_points=n, train_file='', test_file='')
            for n in self.eval_points}

  def evals(self) -> dict[str, base.Sampled | base.Exhaustive]:
    """'train', the 'points_N' variants and, with `test_file`, 'test'."""
    evals = super().evals()
    if self.test_file:
      evals['test'] = base.Exhaustive('test')
    return evals

  @property
  def num_test_examples(self) -> int:
    """Examples of `test_file` (0 without one)."""
    if not self.test_file:
      return 0
    return int(len(self._host['test_file']['size']))

  def batches(self, split: str, batch_size: int) -> Iterator[Batch]:
    """Every example of `test_file` once, in file order, on the device.

    Batches of `batch_size`; rows past the end repeat the last example and
    are masked out (mask all zero).
    """
    if split not in SPLITS or not self.test_file:
      raise ValueError(f'Unknown split {split!r} of task {self.name!r}; it '
                       f'has {list(SPLITS) if self.test_file else []} '
                       '(config.task.test_file).')
    data = self._on_device('test_file')
    count = self.num_test_examples
    for start in range(0, count, batch_size):
      index = np.arange(start, start + batch_size, dtype=np.int32)
      yield _test_batch(self, data, jnp.asarray(index))

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """Per example `[B]`: `correct` (whole sequence), `wrong` and `steps`
    (output steps), `loss` (summed over them), `mask` (a real example)."""
    wrong = per_step_wrong(logits, batch)
    xent = optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           batch.targets)
    steps = jnp.sum(batch.mask, axis=-1)
    return {'correct': ~jnp.any(wrong, axis=-1),
            'wrong': jnp.sum(wrong, axis=-1).astype(jnp.float32),
            'steps': steps, 'loss': jnp.sum(xent * batch.mask, axis=-1),
            'mask': (steps > 0).astype(jnp.float32)}

  def metric_names(self) -> tuple[str, ...]:
    return ('accuracy', 'error', 'loss', 'num_examples', 'sequence_accuracy')

  def summarize(self, per_example: Mapping[str, np.ndarray]
                ) -> dict[str, float]:
    """Per-step `accuracy`, `error` and `loss` (means over output steps),
    `sequence_accuracy` and `num_examples` of a whole split."""
    flat = {k: np.asarray(v, np.float64).reshape(-1)
            for k, v in per_example.items()}
    keep = flat['mask'] > 0
    steps = max(float(np.sum(flat['steps'][keep])), 1.0)
    error = float(np.sum(flat['wrong'][keep])) / steps
    count = int(np.sum(keep))
    return {'accuracy': 1.0 - error, 'error': error,
            'loss': float(np.sum(flat['loss'][keep])) / steps,
            'num_examples': float(count),
            'sequence_accuracy': (float(np.mean(flat['correct'][keep]))
                                  if count else float('nan'))}


@functools.partial(jax.jit, static_argnums=0)
def _test_batch(task: ConvexHull, data: Mapping[str, Array], index: Array
                ) -> Batch:
  """Rows `index` (`[B]`) of `test_file`; rows past its end are masked."""
  count = data['size'].shape[0]
  rows = jnp.minimum(index, count - 1)
  if task.permute_test_labels:
    noise = jax.vmap(lambda j: jax.random.uniform(
        jax.random.fold_in(jax.random.key(0), j), (task.max_points,)))(rows)
  else:  # increasing noise in [0, 1): its ranks are the identity.
    p = task.max_points
    noise = jnp.broadcast_to(jnp.arange(p, dtype=jnp.float32) / p,
                             (rows.shape[0], p))
  batch = encode(Hulls(**dataset.gather(data, rows)), noise)
  real = (index < count).astype(jnp.float32)
  return batch._replace(mask=batch.mask * real[:, None])
