"""bAbI question answering (Weston et al. 2015) as a finite-dataset task.

The files are read once on the host by `memax.data.babi`; the encoded train
split lives on the device and batches are gathered inside the jitted step
(`memax.tasks.dataset`). Batches: `inputs = {'story' [B, M, L], 'query'
[B, L], 'supporting' [B, 3], 'task' [B]}` (training batches add `'answer'`
[B] for models with their own objective; evaluation batches never hold it),
`targets` the answer ids `[B]`, `mask` `[B]`. Metrics: answer error (1 - accuracy), and at evaluation the
error of every bAbI task and the number of failed tasks (error > 5 %, the
papers' criterion).
"""

from typing import Any, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from memax.data import babi as babi_data
from memax.tasks import base
from memax.tasks import dataset
from memax.types import Array, Batch, PRNGKey, PyTree

FAILED_ABOVE = 0.05  # a task "fails" above 5 % test error (MemN2N, sec. 4).
_INPUT_KEYS = ('story', 'query', 'supporting', 'task')


def parse_tasks(tasks: Any) -> tuple[int, ...]:
  """`0`, `'all'` or `()` -> all 20 tasks; an int or a sequence -> those."""
  if tasks in (0, 'all', (), None):
    return tuple(range(1, 21))
  if isinstance(tasks, int):
    tasks = (tasks,)
  try:
    out = tuple(int(t) for t in tasks)
  except (TypeError, ValueError) as e:
    raise ValueError('config.task.tasks must be 0/"all" (joint, all 20 '
                     f'tasks), a task id 1..20 or a list of ids; got '
                     f'{tasks!r}.') from e
  bad = [t for t in out if not 1 <= t <= 20]
  if bad:
    raise ValueError(f'config.task.tasks: bAbI task ids are 1..20, got '
                     f'{bad[0]}.')
  return out


class BabiTask:
  """bAbI QA: one task or several trained jointly.

  Attributes:
    name: 'babi'.
    tasks: the bAbI task ids in the data.
    vocab: `memax.data.babi.Vocab` (id 0 is padding).
    input_size / output_size: vocabulary size `V` (answers are vocab ids).
    max_steps: memory size `M` (sentences kept per story).
    num_examples: train examples (`device_data()` holds them).
  """

  name = 'babi'

  def __init__(self, data_dir: str = '', set_name: str = 'en',
               tasks: Any = 1, memory_size: int = 50,
               val_fraction: float = 0.1, split_seed: int = 0,
               allow_missing: bool = False, loss_reduction: str = 'mean',
               strict_counts: bool = True):
    if loss_reduction not in ('mean', 'sum'):
      raise ValueError("config.task.loss_reduction must be 'mean' or 'sum', "
                       f'got {loss_reduction!r}.')
    self.loss_reduction = loss_reduction
    if not isinstance(memory_size, int) or memory_size < 1:
      raise ValueError('config.task.memory_size must be a positive integer, '
                       f'got {memory_size!r}.')
    if not 0.0 <= val_fraction < 1.0:
      raise ValueError('config.task.val_fraction must be in [0, 1), got '
                       f'{val_fraction!r}.')
    self.tasks = parse_tasks(tasks)
    self.set_name = set_name
    path = data_dir or babi_data.default_path()
    try:
      loaded = babi_data.load(path, self.tasks, set_name,
                              val_fraction=val_fraction, seed=split_seed,
                              memory_size=memory_size,
                              allow_missing=allow_missing,
                              strict_counts=strict_counts)
    except FileNotFoundError as e:
      raise FileNotFoundError(
          f'{e} (config.task.data_dir={data_dir!r}, config.task.set_name='
          f'{set_name!r}, config.task.allow_missing={allow_missing})') from e
    except babi_data.BabiCountError as e:
      raise babi_data.BabiCountError(
          f'{e} In a config: --config.task.strict_counts=False '
          f'(config.task.data_dir={data_dir!r}, config.task.set_name='
          f'{set_name!r}).') from e
    self.vocab = loaded.vocab
    self.input_size = self.output_size = len(loaded.vocab)
    self.max_steps = memory_size
    self.memory_size = memory_size
    self.sentence_size = loaded.sentence_size
    self.missing = tuple(loaded.missing)
    self._splits = {'train': loaded.train, 'valid': loaded.val,
                    'test': loaded.test}
    self.num_examples = int(len(loaded.train['answer']))
    if self.num_examples == 0:
      raise ValueError(f'No training examples for tasks {self.tasks} in '
                       f'{path} ({set_name}).')
    self._device_data = None

  # ---- training ---------------------------------------------------------

  def device_data(self) -> PyTree:
    """The train split as device arrays (made once), passed into the jit."""
    if self._device_data is None:
      self._device_data = {k: jnp.asarray(v)
                           for k, v in self._splits['train'].items()}
    return self._device_data

  @staticmethod
  def _to_batch(rows: Mapping[str, Any], mask: Any, *, train: bool = False
                ) -> Batch:
    # Training batches also carry the answer among the inputs, for models
    # that train with their own objective (MemNN's margin ranking loss);
    # evaluation batches never do.
    keys = _INPUT_KEYS + ('answer',) if train else _INPUT_KEYS
    inputs = {k: rows[k] for k in keys}
    return Batch(inputs=inputs, targets=rows['answer'], mask=mask)

  def train_batch(self, key: PRNGKey, step: Array, batch_size: int,
                  data: PyTree) -> Batch:
    """The epoch-shuffled batch of train step `step` (pure, jittable)."""
    idx = dataset.epoch_indices(key, step, batch_size, self.num_examples)
    rows = dataset.gather(data, idx)
    return self._to_batch(rows, jnp.ones((batch_size,), jnp.float32),
                          train=True)

  def sample(self, rng: PRNGKey, batch_size: int, data: PyTree = None
             ) -> Batch:
    """Examples drawn uniformly with replacement from the train split.

    `data` is `device_data()` (host arrays of the train split if None).
    """
    data = self._splits['train'] if data is None else data
    idx = jax.random.randint(rng, (batch_size,), 0, self.num_examples)
    rows = dataset.gather(data, idx)
    return self._to_batch(rows, jnp.ones((batch_size,), jnp.float32),
                          train=True)

  def steps_per_epoch(self, batch_size: int) -> int:
    return max(self.num_examples // batch_size, 1)

  def loss(self, logits: Array, batch: Batch) -> Array:
    """Answer cross-entropy, summed or averaged over the batch.

    MemN2N (sec. 4.2: "cost is not averaged over a batch") and the TensorFlow
    KV-MemNN sum; their learning rates and clipping norms assume it.
    """
    return base.categorical_loss(logits, batch,
                                 reduction=self.loss_reduction)

  metrics = staticmethod(base.categorical_metrics)

  def probabilities(self, logits: Array) -> Array:
    return jax.nn.softmax(logits, axis=-1)

  # ---- evaluation -------------------------------------------------------

  def evals(self) -> dict[str, base.Exhaustive]:
    """Every non-empty split, each evaluated on all its examples."""
    return {k: base.Exhaustive(k) for k in self.eval_splits()}

  @property
  def absent_evals(self) -> tuple[str, ...]:
    """Splits without examples here (no 'valid' when val_fraction = 0)."""
    return tuple(k for k in self._splits if k not in self.eval_splits())

  def eval_splits(self) -> dict[str, dict[str, np.ndarray]]:
    return {k: v for k, v in self._splits.items() if len(v['answer'])}

  def batches(self, split: str, batch_size: int) -> Iterator[Batch]:
    if split not in self._splits:
      raise ValueError(f'Unknown bAbI split {split!r}; expected one of '
                       f'{sorted(self._splits)}.')
    for rows, mask in dataset.fixed_batches(self._splits[split], batch_size):
      yield self._to_batch(rows, mask)

  def check_example(self, split: str, index: int) -> None:
    """Raises unless `split` has example `index` (a host check)."""
    arrays = self.eval_splits().get(split)
    if arrays is None or not 0 <= index < len(arrays['answer']):
      raise ValueError(f'No example {index} in the bAbI {split!r} split '
                       '(config.evals.plot_examples).')

  def example(self, split: str, index: int) -> Batch:
    """Example `index` of `split` as a one-example host batch (for plots)."""
    self.check_example(split, index)
    rows = {k: v[index:index + 1] for k, v in self.eval_splits()[split].items()}
    return self._to_batch(rows, np.ones((1,), np.float32))

  def describe(self, batch: Batch, prediction: int) -> dict[str, Any]:
    """Text of the first example of `batch`: sentences, question, answers."""
    decode = lambda ids: ' '.join(self.vocab.decode(
        [int(i) for i in np.asarray(ids) if i]))
    story = np.asarray(batch.inputs['story'][0])
    return {
        'sentences': [decode(s) for s in story],
        'question': decode(batch.inputs['query'][0]),
        'answer': self.vocab.decode([int(batch.targets[0])])[0],
        'prediction': self.vocab.decode([prediction])[0],
    }

  def per_example(self, logits: Array, batch: Batch) -> dict[str, Array]:
    return dict(base.categorical_per_example(logits, batch),
                task=batch.inputs['task'])

  def metric_names(self) -> tuple[str, ...]:
    """The names `summarize` returns for a split of these tasks."""
    return (('error', 'num_examples', 'loss', 'mean_task_error',
             'failed_tasks') + tuple(f'error_task_{t}' for t in self.tasks))

  def summarize(self, per_example: Mapping[str, np.ndarray]
                ) -> dict[str, float]:
    """Error overall and per bAbI task; failed tasks have error > 5 %."""
    return summarize_errors(per_example['correct'], per_example['task'],
                            per_example['mask'], per_example.get('loss'))


def summarize_errors(correct: np.ndarray, task: np.ndarray, mask: np.ndarray,
                     loss: np.ndarray | None = None) -> dict[str, float]:
  """Error table from per-example correctness.

  Args:
    correct: `[n]` bool, answer right.
    task: `[n]` bAbI task id of each example.
    mask: `[n]` 1 for real examples (0 = batch padding, ignored).
    loss: optional `[n]` cross-entropy.

  Returns:
    `error` (over all examples), `mean_task_error` (the papers' mean over
    tasks), `failed_tasks` (error > 5 %), `error_task_<k>` per task, and
    `loss` when given.
  """
  keep = np.asarray(mask) > 0
  correct = np.asarray(correct)[keep].astype(bool)
  task = np.asarray(task)[keep]
  wrong = ~correct  # (mean of wrong, not 1 - accuracy: 1/20 is exactly 5 %)
  out = {'error': float(wrong.mean()) if correct.size else float('nan'),
         'num_examples': float(correct.size)}
  if loss is not None:
    out['loss'] = float(np.asarray(loss)[keep].mean())
  errors = {}
  for t in np.unique(task):
    errors[int(t)] = float(wrong[task == t].mean())
  for t, e in errors.items():
    out[f'error_task_{t}'] = e
  if errors:
    out['mean_task_error'] = float(np.mean(list(errors.values())))
    out['failed_tasks'] = float(sum(e > FAILED_ABOVE for e in errors.values()))
  return out
