"""bAbI word by word for recurrent models (Graves et al. 2016, Methods).

The protocol of the DNC paper: one sequence per bAbI story, one word per
step, and after each question as many '-' steps as its answer has words; the
model must output the answer words at those steps (encoding:
`memax.data.babi_words`). The loss is the cross-entropy of the answer words,
averaged over the answer steps of the batch; no other step counts. A
question is right only when all its answer words are (argmax), and the
metrics are those of the sentence-level bAbI task (`memax.tasks.babi`):
error over all questions, the error of every bAbI task, and the failed tasks
(error > `babi.FAILED_ABOVE`, 5 %).

Batches (`B` stories, `T` steps, `V` vocabulary size: 159 on all 20 tasks,
'en' or 'en-10k'; see `memax.data.babi_words`):

  inputs     float32 [B, T, V] one-hot ids (`inputs='one_hot'`, what the
             recurrent models of `memax.models` take: their first dense
             layer on a one-hot vector is a learned embedding), or int32
             [B, T] ids (`inputs='ids'`, for a model that embeds ids
             itself: `SequenceModel` with `model.embedding_size` > 0, as
             DAM's recipe, `configs/dam_babi.py`). Padded steps are
             all-zero vectors (id `PAD_ID`, -1).
  targets    `WordTargets`: `words` int32 [B, T], the answer word at answer
             steps (0 elsewhere), and `task` int32 [B], each story's task.
  mask       float32 [B, T], 1 at the answer steps of real stories.
  num_steps  int32 [], the longest story in the batch: steps from there on
             are padding for every story, and `SequenceModel` skips them.

Training batches are gathered on the device inside the jitted step from the
train split's flat arrays (`device_data()`), padded to the longest train
story. Story lengths range from 24 to 1,393 steps (the longest in qa3's test
file), so a batch of random stories is mostly padding; `pool_batches` groups
stories of similar length instead. Epoch `e` visits the stories in the
order of a pseudo-random permutation (`dataset.permute`, keyed by
`(key, e)`), cut into pools of `pool_batches` consecutive batches; each
pool's stories are sorted by length and cut into batches, and the pool's
batches are taken in a random order. Every story is seen once per epoch
(the last `n mod B` of the epoch's order are dropped), a step sorts one pool
of `pool_batches * B` stories on the device, and training stays a pure
function of `(key, step)`. `pool_batches=1` is plain epoch shuffling. The
share of computed steps that are not padding (a NumPy simulation on the
en-10k joint train split, 54,595 stories of 24 to 820 steps, mean 78):
B=32: 0.36 with 1, 0.75 with 10, 0.92 with 50, 0.96 with 100; B=16: 0.43,
0.79, 0.94, 0.96. Length correlates with the task (all of task 4's stories
have 24 steps, task 19's 53), so with large pools many batches hold one
task only. The trainer passes `num_steps` to the model, whose scan skips
the steps past it (`SequenceModel`, `lax.cond`);
`config.train.length_buckets` > 0 cuts each batch to its length bucket
instead.

Evaluation batches hold every story of a split once, sorted by length,
padded to the longest story of all splits (`max_steps`, one compilation),
each with its own `num_steps`.
"""

import functools
from typing import Any, Iterator, Mapping, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from memax.data import babi as babi_data
from memax.data import babi_words
from memax.tasks import babi
from memax.tasks import base
from memax.tasks import dataset
from memax.types import Array, Batch, PRNGKey, PyTree

INPUTS = ('one_hot', 'ids')
PAD_ID = babi_words.PAD_ID
_SPLITS = {'train': 'train', 'valid': 'val', 'test': 'test'}
_DEVICE_KEYS = ('tokens', 'answers', 'offset', 'length', 'task')


class WordTargets(NamedTuple):
  """The targets of a word-level bAbI batch.

  Attributes:
    words: `[B, T]` int32, the answer word id at answer steps, 0 elsewhere.
    task: `[B]` int32, the bAbI task of each story (0 for padding rows).
  """

  words: Array
  task: Array


def question_index(mask: Array) -> Array:
  """The question each answer step belongs to, counted within its story.

  The answer steps of one question are consecutive, and two questions are
  separated by at least their question's words, so each run of answer steps
  is one question.

  Args:
    mask: `[B, T]`, nonzero at answer steps.

  Returns:
    `[B, T]` int32: 0 for the first question's answer steps, 1 for the
    second's, ...; -1 off the answer steps.
  """
  on = mask > 0
  before = jnp.pad(on[:, :-1], ((0, 0), (1, 0)))
  starts = on & ~before
  return jnp.where(on, jnp.cumsum(starts, axis=1, dtype=jnp.int32) - 1, -1)


def per_question(logits: Array, batch: Batch, num_questions: int
                 ) -> dict[str, Array]:
  """Per-question correctness and loss of a batch.

  Args:
    logits: `[B, T, V]`.
    batch: a word-level batch (targets `WordTargets`, mask `[B, T]`).
    num_questions: `Q`, question slots per story (at least the most
      questions of any story; answer steps of later questions are dropped).

  Returns:
    `{'correct', 'loss', 'mask', 'words_wrong'}`: `correct` `[B, Q]` bool,
    every answer word of the question right (argmax); `loss` `[B, Q]`, the
    cross-entropy summed over its answer words; `mask` `[B, Q]` float32, 1
    for the questions the stories hold; `words_wrong` `[B, T]` bool, a wrong
    answer word at that step.
  """
  words = batch.targets.words
  on = batch.mask > 0
  col = jnp.where(on, question_index(batch.mask), num_questions)
  row = jnp.broadcast_to(jnp.arange(words.shape[0])[:, None], words.shape)
  wrong = on & (jnp.argmax(logits, -1) != words)
  xent = optax.softmax_cross_entropy_with_integer_labels(logits, words)
  zeros = jnp.zeros((words.shape[0], num_questions), jnp.float32)
  add = lambda x: zeros.at[row, col].add(x.astype(jnp.float32), mode='drop')
  count, num_wrong = add(on), add(wrong)
  exists = count > 0
  return {'correct': exists & (num_wrong == 0),
          'loss': add(jnp.where(on, xent, 0.0)),
          'mask': exists.astype(jnp.float32),
          'words_wrong': wrong}


def pooled_indices(key: PRNGKey, step: Array, batch_size: int,
                   lengths: Array, pool_batches: int) -> Array:
  """The stories of train step `step`, from a length-sorted pool.

  See the module docstring. Pure in `(key, step)`; shapes are static.

  Args:
    key: the run's data key.
    step: `[]` int, the train step.
    batch_size: `B`.
    lengths: `[n]` int, the length of every train story.
    pool_batches: `k`, batches per pool (>= 1; at most an epoch's steps).

  Returns:
    `[B]` int32 story indices, sorted by length.
  """
  n = lengths.shape[0]
  steps_per_epoch = max(n // batch_size, 1)
  k = min(pool_batches, steps_per_epoch)
  size = k * batch_size
  epoch, within = step // steps_per_epoch, step % steps_per_epoch
  pool, j = within // k, within % k
  # The last pool of an epoch may hold fewer batches.
  batches_here = jnp.minimum(k, steps_per_epoch - pool * k)
  epoch_key = jax.random.fold_in(key, epoch)
  slot = jnp.arange(size)
  idx = dataset.permute(epoch_key, (pool * size + slot) % n, n)
  sort_key = jnp.where(slot < batches_here * batch_size,
                       jnp.take(lengths, idx), jnp.iinfo(jnp.int32).max)
  pooled = idx[jnp.argsort(sort_key, stable=True)]
  order = jnp.where(jnp.arange(k) < batches_here,
                    jax.random.uniform(jax.random.fold_in(epoch_key, pool),
                                       (k,)), 2.0)
  b = jnp.argsort(order)[j]
  return jax.lax.dynamic_slice(pooled, (b * batch_size,), (batch_size,))


def gather(data: Mapping[str, Array], rows: Array, real: Array, *,
           steps: int, vocab_size: int, inputs: str = 'one_hot') -> Batch:
  """A batch of stories `rows` of an encoded split (pure, jittable).

  Args:
    data: the flat arrays of `babi_words.encode` ('tokens', 'answers',
      'offset', 'length', 'task').
    rows: `[B]` int story indices.
    real: `[B]` bool; False rows are padding (no steps, mask 0).
    steps: `T`, at least the longest story of `rows`.
    vocab_size: `V`.
    inputs: 'one_hot' or 'ids' (see the module docstring).

  Returns:
    A Batch; `num_steps` is the longest real story (at least 1).
  """
  length = jnp.where(real, jnp.take(data['length'], rows), 0)
  t = jnp.arange(steps)
  valid = t[None] < length[:, None]
  pos = jnp.take(data['offset'], rows)[:, None] + t[None]
  pos = jnp.clip(pos, 0, data['tokens'].shape[0] - 1)
  tokens = jnp.where(valid, jnp.take(data['tokens'], pos), PAD_ID)
  answers = jnp.where(valid, jnp.take(data['answers'], pos), PAD_ID)
  if inputs == 'one_hot':
    tokens = jax.nn.one_hot(tokens, vocab_size, dtype=jnp.float32)
  task = jnp.where(real, jnp.take(data['task'], rows), 0)
  return Batch(inputs=tokens,
               targets=WordTargets(words=jnp.maximum(answers, 0), task=task),
               mask=(answers >= 0).astype(jnp.float32),
               num_steps=jnp.maximum(jnp.max(length), 1).astype(jnp.int32))


def word_ids(inputs: Array, one_hot: bool) -> Array:
  """The word id at each step of `inputs` (one-hot vectors when `one_hot`,
  else ids already); all-zero (padded) steps are `PAD_ID`."""
  if not one_hot:
    return inputs
  return jnp.where(jnp.any(inputs != 0, -1), jnp.argmax(inputs, -1), PAD_ID)


def _check_int(value: Any, field: str, minimum: int) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'config.task.{field} must be an integer >= {minimum}, '
                     f'got {value!r}.')


class BabiWordsTask:
  """bAbI stories word by word: one task or several trained jointly.

  Attributes:
    name: 'babi_words'.
    tasks: the bAbI task ids in the data (tested).
    trained_tasks: those with training stories (en-10k from the shared copy
      of the data lacks task 3's train file: 19 tasks).
    vocab: `memax.data.babi_words.WordVocab`.
    input_size / output_size: `V`, the vocabulary size (159 for all tasks).
    max_steps: `T` of evaluation batches, the longest story of any split.
    train_steps: `T` of training batches, the longest train story.
    max_questions: `Q`, the most questions in one story.
    num_examples: train stories (an epoch).
    missing: train files that were absent and skipped.
    max_train_length: > 0: training stories longer than this many steps
      are dropped (DAM's recipe: 800); 0 keeps them all.
  """

  name = 'babi_words'

  def __init__(self, data_dir: str = '', set_name: str = 'en-10k',
               tasks: Any = 0, val_fraction: float = 0.1,
               split_seed: int = 0, pool_batches: int = 50,
               inputs: str = 'one_hot', allow_missing: bool = True,
               strict_counts: bool = True, max_train_length: int = 0):
    if set_name not in babi_data.SETS:
      raise ValueError(f'config.task.set_name must be one of '
                       f'{babi_data.SETS}, got {set_name!r}.')
    if (isinstance(val_fraction, bool) or
        not isinstance(val_fraction, (int, float)) or
        not 0.0 <= val_fraction < 1.0):
      raise ValueError('config.task.val_fraction must be in [0, 1), got '
                       f'{val_fraction!r}.')
    _check_int(split_seed, 'split_seed', 0)
    _check_int(pool_batches, 'pool_batches', 1)
    _check_int(max_train_length, 'max_train_length', 0)
    if inputs not in INPUTS:
      raise ValueError(f'config.task.inputs must be one of {INPUTS}, got '
                       f'{inputs!r}.')
    self.tasks = babi.parse_tasks(tasks)
    self.set_name = set_name
    self.pool_batches = pool_batches
    self.inputs = inputs
    self.max_train_length = max_train_length
    path = data_dir or babi_data.default_path()
    fields = (f'config.task.data_dir={data_dir!r}, config.task.set_name='
              f'{set_name!r}, config.task.allow_missing={allow_missing}')
    try:
      loaded = babi_words.load(path, self.tasks, set_name,
                               val_fraction=val_fraction, seed=split_seed,
                               allow_missing=allow_missing,
                               strict_counts=strict_counts,
                               max_train_length=max_train_length)
    except FileNotFoundError as e:
      raise FileNotFoundError(f'{e} ({fields})') from e
    except babi_data.BabiCountError as e:
      raise babi_data.BabiCountError(
          f'{e} In a config: --config.task.strict_counts=False ({fields}).'
      ) from e
    self.vocab = loaded.vocab
    self.input_size = self.output_size = len(loaded.vocab)
    self.max_steps = loaded.max_length
    self.max_questions = loaded.max_questions
    self.missing = tuple(loaded.missing)
    self._splits = {k: getattr(loaded, v) for k, v in _SPLITS.items()}
    train = self._splits['train']
    self.num_examples = int(len(train['length']))
    if self.num_examples == 0:
      raise ValueError(f'No training stories for config.task.tasks='
                       f'{tasks!r} in {path} ({fields}).')
    self.train_steps = int(train['length'].max())
    self.trained_tasks = tuple(sorted(set(train['task'].tolist())))
    if self.missing:
      untrained = sorted(set(self.tasks) - set(self.trained_tasks))
      logging.warning(
          'bAbI %s: missing %s. Training on %d tasks %s; tasks %s are tested '
          'but not trained.', set_name, ', '.join(self.missing),
          len(self.trained_tasks), list(self.trained_tasks), untrained)
    self._device: dict[str, PyTree] = {}
    self._eval_gather = jax.jit(functools.partial(
        gather, steps=self.max_steps, vocab_size=self.input_size,
        inputs=self.inputs))

  def arrays(self, split: str) -> dict[str, np.ndarray]:
    """The encoded stories of `split` (host arrays, `babi_words.encode`)."""
    if split not in self._splits:
      raise ValueError(f'Unknown bAbI split {split!r}; expected one of '
                       f'{sorted(self._splits)}.')
    return self._splits[split]

  def _on_device(self, split: str) -> PyTree:
    if split not in self._device:
      arrays = self.arrays(split)
      self._device[split] = {k: jnp.asarray(arrays[k]) for k in _DEVICE_KEYS}
    return self._device[split]

  # ---- training ---------------------------------------------------------

  def device_data(self) -> PyTree:
    """The train split's flat arrays on the device (made once)."""
    return self._on_device('train')

  def _batch(self, data: PyTree, rows: Array) -> Batch:
    return gather(data, rows, jnp.ones(rows.shape, bool),
                  steps=self.train_steps, vocab_size=self.input_size,
                  inputs=self.inputs)

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree) -> Batch:
    """The batch of train step `step`: stories of similar length (pure)."""
    rows = pooled_indices(key, step, batch_size, data['length'],
                          self.pool_batches)
    return self._batch(data, rows)

  def sample(self, rng: PRNGKey, batch_size: int, data: PyTree = None
             ) -> Batch:
    """Stories drawn uniformly with replacement from the train split."""
    data = self.device_data() if data is None else data
    rows = jax.random.randint(rng, (batch_size,), 0, self.num_examples)
    return self._batch(data, rows)

  def steps_per_epoch(self, batch_size: int) -> int:
    return max(self.num_examples // batch_size, 1)

  # The memory refreshing loss (`memax.tasks.refresh`), DAM's bAbI recipe:
  # the input word through the task's softmax; alpha = refreshed steps /
  # answer steps, without a floor (taewonpark/DAM's loader.py).
  refresh_reconstruction = 'softmax'
  refresh_alpha = 'per_target_unfloored'

  def refresh_steps(self, batch: Batch) -> Array:
    """`[B, T]` float 0/1: the story's words, neither padding, '.', '-'
    nor a word of a question (its words and its '?').

    taewonpark/DAM's loader means to exclude the question tokens, but
    indexes with an integer 0/1 array (`weights_vec[question_mask] = 0`),
    which zeroes the rows 0 and 1 of the batch instead; this is the
    intended behaviour.
    """
    ids = word_ids(batch.inputs, batch.inputs.ndim == 3)
    period, question = self.vocab.index('.'), self.vocab.index('?')
    steps = ids.shape[-1]
    # The sentence of step t ends at the first '.' or '?' at or after t.
    ends = jnp.where((ids == period) | (ids == question),
                     jnp.arange(steps), steps)
    end = jax.lax.cummin(ends, axis=ids.ndim - 1, reverse=True)
    in_question = (end < steps) & (jnp.take_along_axis(
        ids, jnp.minimum(end, steps - 1), axis=-1) == question)
    keep = ((ids != PAD_ID) & (ids != period)
            & (ids != self.vocab.answer_id) & ~in_question)
    return keep.astype(jnp.float32)

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Cross-entropy of the answer words, averaged over the answer steps.

    Args:
      logits: `[B, T, V]`.
      batch: targets `WordTargets`, mask `[B, T]`.
    """
    xent = optax.softmax_cross_entropy_with_integer_labels(
        logits, batch.targets.words)
    return (jnp.sum(xent * batch.mask) /
            jnp.maximum(jnp.sum(batch.mask), 1.0))

  def metrics(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """`error` (of questions) and `word_error` (of answer words)."""
    q = per_question(logits, batch, self.max_questions)
    num = jnp.maximum(jnp.sum(q['mask']), 1.0)
    wrong = jnp.sum(q['mask'] * (1.0 - q['correct']))
    words = jnp.maximum(jnp.sum(batch.mask), 1.0)
    return {'error': wrong / num,
            'word_error': jnp.sum(q['words_wrong']) / words}

  def probabilities(self, logits: Array) -> Array:
    return jax.nn.softmax(logits, axis=-1)

  # ---- evaluation -------------------------------------------------------

  def evals(self) -> dict[str, base.Exhaustive]:
    """Every non-empty split, each evaluated on all its stories."""
    return {k: base.Exhaustive(k) for k in self._splits
            if k not in self.absent_evals}

  @property
  def absent_evals(self) -> tuple[str, ...]:
    """Splits without stories (no 'valid' when val_fraction = 0)."""
    return tuple(k for k, v in self._splits.items() if not len(v['length']))

  def batches(self, split: str, batch_size: int) -> Iterator[Batch]:
    """Every story of `split` once, shortest first, on the device.

    Batches of `batch_size` stories padded to `max_steps`; the last is
    filled with padding rows (mask 0, task 0).
    """
    arrays = self.arrays(split)
    data = self._on_device(split)
    order = np.argsort(arrays['length'], kind='stable').astype(np.int32)
    for start in range(0, len(order), batch_size):
      rows = order[start:start + batch_size]
      real = np.arange(batch_size) < len(rows)
      rows = np.pad(rows, (0, batch_size - len(rows)))
      yield self._eval_gather(data, jnp.asarray(rows), jnp.asarray(real))

  def check_example(self, split: str, index: int) -> None:
    """Raises unless `split` has story `index` (a host check, no data moved:
    `config.evals.plot_examples` is checked before training)."""
    arrays = self.arrays(split)
    if (isinstance(index, bool) or not isinstance(index, (int, np.integer))
        or not 0 <= index < len(arrays['length'])):
      raise ValueError(f'No story {index!r} in the word-level bAbI {split!r} '
                       f'split of {len(arrays["length"])} stories '
                       '(config.evals.plot_examples).')

  def example(self, split: str, index: int) -> Batch:
    """Story `index` of `split` (the data's order) as a one-story batch of
    its own length, for plots (`config.evals.plot_examples`)."""
    self.check_example(split, index)
    steps = int(self.arrays(split)['length'][index])
    return jax.device_get(gather(
        self._on_device(split), jnp.asarray([index], jnp.int32),
        jnp.ones((1,), bool), steps=steps, vocab_size=self.input_size,
        inputs=self.inputs))

  def plot_example(self, path: str, batch: Batch, probabilities: Array,
                   aux: Any, title: str = '') -> str:
    """One story as a PNG: its words, answers and the model's memory.

    Args:
      path: output PNG path.
      batch: one story (no batch axis): `inputs` `[T, V]` one-hot or `[T]`
        ids, `targets` `WordTargets` (`words` `[T]`), `mask` `[T]`.
      probabilities: `[T, V]`.
      aux: the model's `aux` for the story, `[T, ...]` each.
      title: figure title.

    Returns:
      `path` (`memax.training.plots.plot_story`).
    """
    from memax.training import plots  # pylint: disable=g-import-not-at-top
    inputs = np.asarray(batch.inputs)
    ids = np.asarray(word_ids(inputs, inputs.ndim == 2))
    steps = int(np.sum(ids != PAD_ID))
    aux = jax.tree.map(lambda x: np.asarray(x)[:steps], aux or {})
    words = self.vocab.words
    predicted = np.asarray(probabilities).argmax(-1)
    targets = np.asarray(batch.targets.words)
    answers = [plots.Answer(int(t), words[targets[t]], words[predicted[t]])
               for t in np.flatnonzero(np.asarray(batch.mask)[:steps] > 0)]
    return plots.plot_story(path, [words[i] for i in ids[:steps]], answers,
                            np.asarray(probabilities)[:steps], words,
                            aux, title)

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    """Per-question `correct`, `loss`, `mask` and `task`, `[B, Q]` each."""
    q = per_question(logits, batch, self.max_questions)
    task = jnp.broadcast_to(batch.targets.task[:, None], q['mask'].shape)
    return {'correct': q['correct'], 'loss': q['loss'], 'mask': q['mask'],
            'task': task}

  def metric_names(self) -> tuple[str, ...]:
    """The names `summarize` returns for a split of these tasks."""
    return (('error', 'num_examples', 'loss', 'mean_task_error',
             'failed_tasks') + tuple(f'error_task_{t}' for t in self.tasks))

  def summarize(self, per_example: Mapping[str, np.ndarray]
                ) -> dict[str, float]:
    """Error over questions and per bAbI task; failed: error > 5 %.

    `num_examples` counts questions; `loss` is the mean over questions of
    their summed answer-word cross-entropy.
    """
    flat = {k: np.asarray(v).reshape(-1) for k, v in per_example.items()}
    return babi.summarize_errors(flat['correct'], flat['task'], flat['mask'],
                                 flat.get('loss'))
