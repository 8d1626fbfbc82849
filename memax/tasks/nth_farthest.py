"""The N-th farthest task (Santoro et al. 2018, sec. 4.1), as in the DAM paper.

Per example, `K = num_vectors` vectors uniform in `[-1, 1]^vector_size`
carry the labels of a random permutation `perm` of `0 .. K-1` (vector `i`
carries label `perm[i]`). A question `n` and a reference vector `m` are each
uniform over `0 .. K-1`. The answer is the label of the `(n+1)`-th farthest
vector from the reference by Euclidean distance: `n = 0` asks for the
farthest; the reference itself (distance 0) is the nearest, the `K`-th
farthest, and is the answer when `n = K-1`.

Layout of one example (`K` steps `t`, one vector per step, in index order;
the labels make the order uninformative):

  inputs `[T, vector_size + 3K]`, `T = K`, step `t`:
    `[vector t | one_hot(perm[t]) | one_hot(n) | one_hot(perm[m])]`;
    the last two blocks are the same on every step.
  targets `[T]` int32: the answer's label at the last step, 0 elsewhere.
  mask `[T]`: 1 at the last step only.

Output: a `K`-way softmax per step; the loss is the masked cross-entropy
(`base.categorical_loss`), the metrics `accuracy` and `error` of the last
step's argmax, and on 'test' also `accuracy_n<i>`, the accuracy on the
questions `n = i` (`n = K-1`, the reference itself, is answered by copying
an input label: 25 % overall for `K = 8` is that rule alone).

Evaluations: 'train', fresh batches of the training distribution, and
'test', a fixed set of `test_size` (3,200) examples, the papers' test set.
'test' is a `base.Exhaustive` split rather than a `base.Sampled` variant: a
sampled evaluation sees `config.evals.num_batches` batches drawn from keys it
folds itself, so a fixed set could only be sampled from with replacement,
while a split is evaluated on every example once, whatever the evaluation
batch size. Test example `j` is drawn from `fold_in(test_set_key(), j)`, a
stream of its own keyed by `test_seed`, so the set depends on `test_seed` and
`test_size` alone, never on the batch size, on jit, or on training keys
(which come from `config.seed`); `batches('test', B)` generates it on the
device, `B` examples at a time, with the last batch padded by masked rows.
"""

import dataclasses
import functools
from typing import Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memax.tasks import base
from memax.types import Array, Batch, PRNGKey

SPLITS = ('test',)
# The test set's stream: example j's key is fold_in(fold_in(key(test_seed),
# _TEST_STREAM), j), not `sample(key(test_seed), B)`'s j-th key.
_TEST_STREAM = 0x7E57


def _check_int(value: int, field: str, minimum: int) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'config.{field} must be an integer >= {minimum}, got '
                     f'{value!r}.')


@functools.partial(jax.jit, static_argnums=0)
def _indexed_batch(task: 'NthFarthest', index: Array) -> Batch:
  """Test examples `index` (`[B]` int32); rows `>= test_size` are masked."""
  keys = jax.vmap(lambda j: jax.random.fold_in(task.test_set_key(), j))(index)
  batch = task.examples(keys)
  real = (index < task.test_size).astype(jnp.float32)
  return batch._replace(mask=batch.mask * real[:, None])


@dataclasses.dataclass(frozen=True)
class NthFarthest(base.Generator):
  """N-th farthest. Input `[B, K, vector_size + 3K]`, targets int `[B, K]`.

  Attributes:
    num_vectors: `K`, vectors (and labels, and steps) per example (8).
    vector_size: dimensions of each vector (16).
    test_size: examples of the fixed 'test' set (3,200).
    test_seed: the key of the fixed 'test' set.
  """

  num_vectors: int = 8
  vector_size: int = 16
  test_size: int = 3200
  test_seed: int = 0
  name: str = 'nth_farthest'

  def __post_init__(self):
    _check_int(self.num_vectors, 'task.num_vectors', 2)
    base.check_positive(self.vector_size, 'task.vector_size')
    base.check_positive(self.test_size, 'task.test_size')
    _check_int(self.test_seed, 'task.test_seed', 0)

  @property
  def input_size(self) -> int:
    return self.vector_size + 3 * self.num_vectors

  @property
  def output_size(self) -> int:
    return self.num_vectors

  @property
  def max_steps(self) -> int:
    return self.num_vectors

  def example(self, rng: PRNGKey) -> tuple[Array, Array]:
    """One example, batch-free.

    Args:
      rng: a `jax.random` key, consumed.

    Returns:
      `(inputs [K, vector_size + 3K], answer [])`: the answer is an int32
      label in `0 .. K-1`.
    """
    k = self.num_vectors
    vec_rng, perm_rng, n_rng, ref_rng = jax.random.split(rng, 4)
    vectors = jax.random.uniform(vec_rng, (k, self.vector_size),
                                 minval=-1.0, maxval=1.0)
    labels = jax.random.permutation(perm_rng, k)  # [K], vector i: labels[i].
    n = jax.random.randint(n_rng, (), 0, k)
    ref = jax.random.randint(ref_rng, (), 0, k)
    # Squared distances order the vectors as the distances do.
    dist = jnp.sum(jnp.square(vectors - vectors[ref]), axis=-1)  # [K]
    farthest_first = jnp.argsort(-dist, stable=True)
    answer = labels[farthest_first[n]].astype(jnp.int32)
    one_hot = lambda x: jax.nn.one_hot(x, k, dtype=jnp.float32)
    inputs = jnp.concatenate([
        vectors,
        one_hot(labels),
        jnp.broadcast_to(one_hot(n), (k, k)),
        jnp.broadcast_to(one_hot(labels[ref]), (k, k)),
    ], axis=-1)
    return inputs, answer

  def examples(self, keys: PRNGKey) -> Batch:
    """One example per key (`[B]` keys), as a Batch with `T = K` steps."""
    inputs, answer = jax.vmap(self.example)(keys)  # [B, T, D], [B]
    last = jnp.arange(self.max_steps) == self.max_steps - 1  # [T]
    targets = jnp.where(last[None, :], answer[:, None], 0)
    mask = jnp.broadcast_to(last.astype(jnp.float32), targets.shape)
    return Batch(inputs=inputs, targets=targets.astype(jnp.int32), mask=mask)

  def sample(self, rng: PRNGKey, batch_size: int, data: None = None
             ) -> Batch:
    """Samples a batch of the training distribution.

    Args:
      rng: a `jax.random` key, consumed.
      batch_size: `B`, a static Python int.

    Returns:
      `Batch(inputs [B, T, vector_size + 3K], targets int32 [B, T],
      mask [B, T])` with `T = K`; the target counts at the last step only.
    """
    del data
    return self.examples(jax.random.split(rng, batch_size))

  # The memory refreshing loss (`memax.tasks.refresh`).
  refresh_reconstruction = 'squared'
  refresh_alpha = 'per_example'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: every step's input may be reproduced (all ones)."""
    return jnp.ones_like(batch.mask)

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Cross-entropy of the answer (`logits [B, T, K]`), batch mean."""
    return base.categorical_loss(logits, batch)

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`accuracy` and `error` (1 - accuracy) of the answers (argmax)."""
    error = base.categorical_metrics(logits, batch)['error']
    return {'accuracy': 1.0 - error, 'error': error}

  def probabilities(self, logits: Array) -> Array:
    return jax.nn.softmax(logits, axis=-1)

  # ---- evaluation -------------------------------------------------------

  def test_set_key(self) -> PRNGKey:
    """The fixed test set's key: example `j` is drawn from its `fold_in` `j`."""
    return jax.random.fold_in(jax.random.key(self.test_seed), _TEST_STREAM)

  def evals(self) -> dict[str, base.Sampled | base.Exhaustive]:
    """'train' (fresh batches) and 'test' (the fixed set, every example)."""
    return {'train': base.Sampled(self), 'test': base.Exhaustive('test')}

  def batches(self, split: str, batch_size: int) -> Iterator[Batch]:
    """Every example of the fixed 'test' set once, on the device.

    Batches of `batch_size` examples; the rows of the last past `test_size`
    are masked (their mask is all zero).
    """
    if split not in SPLITS:
      raise ValueError(f'Unknown split {split!r} of task {self.name!r}; '
                       f'expected one of {SPLITS}.')
    for start in range(0, self.test_size, batch_size):
      index = jnp.arange(start, start + batch_size, dtype=jnp.int32)
      yield _indexed_batch(self, index)

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`correct`, `loss`, `mask` and question `n` of each answer, `[B]` each."""
    logits, targets = logits[:, -1], batch.targets[:, -1]
    k = self.num_vectors
    question = batch.inputs[:, 0, self.vector_size + k:self.vector_size + 2 * k]
    return {'correct': jnp.argmax(logits, -1) == targets,
            'loss': optax.softmax_cross_entropy_with_integer_labels(
                logits, targets),
            'mask': batch.mask[:, -1],
            'n': jnp.argmax(question, -1).astype(jnp.int32)}

  def metric_names(self) -> tuple[str, ...]:
    """The names `summarize` returns."""
    return ('accuracy', 'error', 'loss', 'num_examples') + tuple(
        f'accuracy_n{i}' for i in range(self.num_vectors))

  def summarize(self, per_example: Mapping[str, np.ndarray]
                ) -> dict[str, float]:
    """`accuracy`, `error`, mean `loss`, `num_examples`, and `accuracy_n<i>`.

    `accuracy_n<i>` is the accuracy on the questions `n = i`. The last,
    `n = K-1`, asks for the reference itself, whose label is an input: a
    model that has learned only that answers `1/K + (K-1)/K * 1/(K-1)`
    (25 % for `K = 8`) of all questions, with `accuracy_n<K-1>` at 1 and
    the others at chance among the other labels, `1/(K-1)`.
    """
    keep = np.asarray(per_example['mask']).reshape(-1) > 0
    correct = np.asarray(per_example['correct']).reshape(-1)[keep]
    loss = np.asarray(per_example['loss']).reshape(-1)[keep]
    question = np.asarray(per_example['n']).reshape(-1)[keep]
    mean = lambda x: float(np.mean(x)) if x.size else float('nan')
    accuracy = mean(correct)
    return {'accuracy': accuracy, 'error': 1.0 - accuracy,
            'loss': mean(loss), 'num_examples': float(correct.size),
            **{f'accuracy_n{i}': mean(correct[question == i])
               for i in range(self.num_vectors)}}
