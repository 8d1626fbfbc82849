"""Evaluation: metrics on the training distribution and the task's variants.

Used during training (periodic, on the variants named in
`config.evals.periodic_variants`) and at the end (every variant, with
`eval/<variant>.json` and `plots/<variant>.png`). `memax.evaluate` rebuilds a
model from a workdir and calls `final_evaluation` with overrides applied.
"""

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from memax import models
from memax import tasks
from memax.tasks import base as tasks_base
from memax.tasks import dataset
from memax.training import linear_start
from memax.types import PRNGKey, PyTree


def _metric_names(task: tasks_base.Task, key: PRNGKey) -> set[str] | None:
  """The names of `task.metrics`, traced with logits shaped as the targets.

  That is the shape of the sequence tasks' logits; None when the task's
  metrics do not take such logits (the model's outputs must be traced).
  """
  def metrics(key):
    batch = task.sample(key, 1)
    return task.metrics(jnp.zeros(batch.targets.shape, jnp.float32), batch)
  try:
    return set(jax.eval_shape(metrics, key))
  except Exception:  # pylint: disable=broad-except
    return None


def _forward(model: Any, task: tasks_base.Task, batch_size: int):
  @jax.jit
  def run(params, key):
    data_key, carry_key = jax.random.split(key)
    batch = task.sample(data_key, batch_size)
    logits, aux = model.apply(params, batch.inputs, rngs={'carry': carry_key})
    return task.metrics(logits, batch), batch, logits, aux
  return run


def evaluate_task(model: Any, params: PyTree, task: tasks_base.Task, key:
                  PRNGKey, *, num_batches: int, batch_size: int,
                  return_example: bool = False, run=None):
  """Mean metrics over `num_batches` fresh batches of `task`.

  With `return_example`, also returns the first example of the first batch
  as `(batch, probabilities, aux)` on the host, for plots.
  """
  run = run or _forward(model, task, batch_size)
  totals, example = [], None
  for i in range(num_batches):
    metrics, batch, logits, aux = run(params, jax.random.fold_in(key, i))
    totals.append(metrics)
    if return_example and example is None:
      example = jax.device_get(jax.tree.map(
          lambda x: x[0] if np.ndim(x) else x,
          (batch, jax.nn.sigmoid(logits), aux)))
  totals = jax.device_get(totals)
  means = {k: float(np.mean([m[k] for m in totals])) for k in totals[0]}
  return (means, example) if return_example else means


def names_list(value: Any) -> list[str] | None:
  """A list of names from a list, a tuple or a comma-separated string.

  `'all'` (or None) means every name, returned as None.
  """
  if value is None:
    return None
  if isinstance(value, str):
    if value.strip() == 'all':
      return None
    return [v.strip() for v in value.split(',') if v.strip()]
  return [str(v) for v in value]


def _variant_tasks(task: tasks_base.Task, names: Any,
                   field: str = 'config.evals.variants') -> dict[str, Any]:
  variants = dict(task.variants())
  names = names_list(names)
  if names is None:
    names = list(variants)
  # The training distribution is always evaluated; naming it is harmless.
  names = [n for n in names if n != 'train']
  unknown = [n for n in names if n not in variants]
  if unknown:
    raise ValueError(f'Unknown evaluation variant {unknown[0]!r} in {field}; '
                     f'the task {task.name!r} has {sorted(variants)} (a list, '
                     'a comma-separated string, or "all").')
  return {n: variants[n] for n in names}


def _splits(task: Any, names: Any, field: str) -> list[str]:
  available = list(task.eval_splits())
  names = names_list(names)
  if names is None:
    return available
  unknown = [s for s in names if s not in available]
  if unknown:
    raise ValueError(f'Unknown split {unknown[0]!r} in {field}; the task has '
                     f'{available} (a list, a comma-separated string, or '
                     '"all").')
  return names


# The splits of a finite dataset; one may be empty (no validation split).
SPLITS = ('train', 'valid', 'test')


def check_evals(config: ml_collections.ConfigDict, task: Any) -> None:
  """Checks `config.evals` against the task; errors name the field."""
  for field in ('batch_size', 'num_batches'):
    if field in config:
      value = config[field]
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'config.evals.{field} must be a positive integer, '
                         f'got {value!r}.')
  if dataset.is_finite(task):
    _splits(task, config.get('splits', 'all'), 'config.evals.splits')
    periodic = names_list(config.get('periodic_splits', ('valid',)))
    empty = [s for s in SPLITS if s not in task.eval_splits()]
    if periodic:
      _splits(task, [s for s in periodic if s not in empty],
              'config.evals.periodic_splits')
    return
  _variant_tasks(task, config.get('variants', 'all'), 'config.evals.variants')
  _variant_tasks(task, list(config.get('periodic_variants', ())),
                 'config.evals.periodic_variants')


# The step at which a model is evaluated when none is given: after every
# schedule (e.g. MemN2N's linear start), i.e. the model's final form.
FINAL_STEP = 2**31 - 1


def build_model(config: ml_collections.ConfigDict, task: Any, *,
                return_aux: bool = False) -> Any:
  """The model of `config` for `task`.

  The task supplies the output size, its vocabulary (`input_size`) and, for
  a finite dataset, the epoch length that `*_epochs` model fields count in.
  """
  steps_per_epoch = (task.steps_per_epoch(config.train.batch_size)
                     if dataset.is_finite(task) else None)
  return models.build(config.model, task.output_size, return_aux=return_aux,
                      input_size=getattr(task, 'input_size', None),
                      steps_per_epoch=steps_per_epoch)


def _step_array(step: int | None) -> jax.Array:
  """`step` as the int32 the models take; None means `FINAL_STEP`."""
  return jnp.asarray(FINAL_STEP if step is None else step, jnp.int32)


def _split_forward(model: Any, task: Any):
  @jax.jit
  def run(params, batch, step):
    logits, _ = model.apply(params, batch.inputs, step=step)
    return task.per_example(logits, batch)
  return run


def evaluate_split(model: Any, params: PyTree, task: Any, split: str, *,
                   batch_size: int, run=None, step: int | None = None
                   ) -> dict[str, float]:
  """Metrics of a finite task's whole `split` (every example once).

  `step` is the training step whose form of the model to evaluate (linear
  start); None means the final form.
  """
  run = run or _split_forward(model, task)
  step = _step_array(step)
  outs = [run(params, jax.device_put(batch), step)
          for batch in task.batches(split, batch_size)]
  outs = jax.device_get(outs)
  joined = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  return task.summarize(joined)


class Evaluator:
  """Periodic evaluation during training.

  Synthetic tasks: fresh batches of the training distribution and of the
  variants in `config.periodic_variants`. Finite datasets: every example of
  the splits in `config.periodic_splits` (default the validation split).
  """

  def __init__(self, model: Any, task: tasks_base.Task,
               config: ml_collections.ConfigDict, key: PRNGKey):
    self._model = model
    self._config = config
    self._key = key
    self._finite = dataset.is_finite(task)
    if self._finite:
      self._task = task
      available = task.eval_splits()
      periodic = names_list(config.get('periodic_splits', ('valid',)))
      # A split that is empty here (no validation split when
      # task.val_fraction = 0) is skipped.
      self._splits = [s for s in (available if periodic is None
                                  else periodic) if s in available]
      self._run = _split_forward(model, task)
      return
    self._tasks = {'train': task}
    self._tasks.update(_variant_tasks(
        task, list(config.get('periodic_variants', ())),
        'config.evals.periodic_variants'))
    self._runs = {name: _forward(model, t, config.batch_size)
                  for name, t in self._tasks.items()}

  def metric_names(self, params: PyTree) -> dict[str, set[str] | None]:
    """`{split: metric names}` of `periodic`, from shapes alone (no compile).

    `params` may be abstract (`jax.ShapeDtypeStruct`s). None: not known
    before evaluating (a finite task without `metric_names`).
    """
    if self._finite:
      names = getattr(self._task, 'metric_names', None)
      known = set(names()) if names is not None else None
      return {split: known for split in self._splits}
    out = {}
    for name, task in self._tasks.items():
      out[name] = _metric_names(task, self._key)
      if out[name] is None:  # the model's own outputs are needed: trace it.
        metrics = jax.eval_shape(self._runs[name], params, self._key)[0]
        out[name] = set(metrics)
    return out

  def periodic(self, params: PyTree, step: int | None = None
               ) -> dict[str, dict[str, float]]:
    """Metrics at training step `step` (the model's form at that step)."""
    if self._finite:
      return {split: evaluate_split(self._model, params, self._task, split,
                                    batch_size=self._config.batch_size,
                                    run=self._run, step=step)
              for split in self._splits}
    return {
        name: evaluate_task(self._model, params, task,
                            jax.random.fold_in(self._key, i),
                            num_batches=self._config.num_batches,
                            batch_size=self._config.batch_size,
                            run=self._runs[name])
        for i, (name, task) in enumerate(self._tasks.items())
    }


def _out_paths(workdir: str, out_dir: str | None) -> tuple[str, str]:
  """`(json_dir, plot_dir)`: training's `eval/`, `plots/` or one folder."""
  if out_dir is None:
    return os.path.join(workdir, 'eval'), os.path.join(workdir, 'plots')
  return out_dir, out_dir


def _write_json(path: str, record: dict[str, Any]) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.tmp', 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
  os.replace(path + '.tmp', path)


def final_evaluation(config: ml_collections.ConfigDict, workdir: str,
                     params: PyTree, key: PRNGKey, *,
                     task: Any = None, step: int | None = None,
                     out_dir: str | None = None,
                     record: dict[str, Any] | None = None
                     ) -> dict[str, dict[str, float]]:
  """Evaluates every variant; writes one JSON and one plot for each.

  Args:
    config: the run's config, with any evaluation overrides applied.
    workdir: the run's directory.
    params: trained parameters.
    key: evaluation rng.
    task: the already built task of `config` (built again if None).
    step: the training step of `params` (for schedules such as linear start,
      whose end `workdir/linear_start.json` records); None = final form.
    out_dir: where to write; None is training's own `eval/<variant>.json`
      and `plots/<variant>.png`, a folder takes both (`memax.evaluate`).
    record: fields added to every JSON (the checkpoint step, the evaluation
      seed, the overrides).

  Returns:
    `{variant: {metric: value}}` including `'train'` (for finite datasets,
    `{split: metrics}` over every split).
  """
  task = task if task is not None else tasks.build(config.task)
  model = build_model(config, task, return_aux=True)
  record = dict(record or {})
  json_dir, plot_dir = _out_paths(workdir, out_dir)
  if dataset.is_finite(task):
    model = linear_start.apply(model, workdir)
    return _final_finite(config, json_dir, plot_dir, params, task, model,
                         step, record)
  evals = config.evals
  variants = {'train': task}
  variants.update(_variant_tasks(task, evals.get('variants', 'all')))
  results = {}
  for i, (name, variant) in enumerate(variants.items()):
    vkey = jax.random.fold_in(key, 1000 + i)
    batch_size = evals.batch_size
    plot = evals.get('plot', True)
    metrics, example = evaluate_task(
        model, params, variant, vkey, num_batches=evals.num_batches,
        batch_size=batch_size, return_example=True)
    results[name] = metrics
    _write_json(os.path.join(json_dir, f'{name}.json'), dict(
        record, variant=name, task=_task_fields(variant),
        model=config.model.to_dict(),
        num_sequences=evals.num_batches * batch_size, metrics=metrics))
    if plot:
      from memax.training import plots  # pylint: disable=g-import-not-at-top
      batch, probs, aux = example
      plots.plot_example(
          os.path.join(plot_dir, f'{name}.png'), batch.inputs,
          batch.targets, probs, batch.mask, aux,
          title=f'{config.model.name} on {variant.name} ({name}): '
                + ', '.join(f'{k} {v:.3g}' for k, v in metrics.items()))
  return results


def _final_finite(config, json_dir, plot_dir, params, task, model, step,
                  record):
  """Every split of a finite dataset: `<split>.json` and attention plots."""
  evals = config.evals
  splits = _splits(task, evals.get('splits', 'all'), 'config.evals.splits')
  run = _split_forward(model, task)
  results = {}
  for split in splits:
    metrics = evaluate_split(model, params, task, split,
                             batch_size=evals.batch_size, run=run, step=step)
    results[split] = metrics
    _write_json(os.path.join(json_dir, f'{split}.json'), dict(
        record, split=split, task=config.task.to_dict(),
        model=config.model.to_dict(), metrics=metrics))
  if evals.get('plot', True) and hasattr(task, 'describe'):
    from memax.training import plots  # pylint: disable=g-import-not-at-top
    split = 'test' if 'test' in splits else splits[-1]
    linear = getattr(model, 'linear_start_steps', 0)
    probabilities = not (linear > 0 and int(_step_array(step)) < linear)
    for index in evals.get('plot_examples', (0,)):
      batch = task.example(split, index)
      logits, aux = model.apply(params, batch.inputs,
                                step=_step_array(step))
      if 'attention' not in aux:
        break
      text = task.describe(batch, int(np.argmax(logits[0])))
      plots.plot_attention(
          os.path.join(plot_dir, f'attention_{split}_{index}.png'),
          np.asarray(aux['attention'][0]), **text,
          title=f'{config.model.name} on {split} example {index}',
          probabilities=probabilities)
  return results


def final_names(config: ml_collections.ConfigDict, task: Any) -> list[str]:
  """The names of the JSON files `final_evaluation` writes."""
  if dataset.is_finite(task):
    return _splits(task, config.evals.get('splits', 'all'),
                   'config.evals.splits')
  return ['train'] + list(_variant_tasks(
      task, config.evals.get('variants', 'all')))


def load_final(config: ml_collections.ConfigDict, task: Any, workdir: str,
               step: int) -> dict[str, dict[str, float]] | None:
  """Training's final results at `step` from `eval/*.json`, if all there."""
  results = {}
  for name in final_names(config, task):
    path = os.path.join(workdir, 'eval', f'{name}.json')
    if not os.path.exists(path):
      return None
    with open(path) as f:
      stored = json.load(f)
    if stored.get('checkpoint_step') != step:
      return None
    results[name] = stored['metrics']
  return results


def _task_fields(task: Any) -> dict[str, Any]:
  import dataclasses  # pylint: disable=g-import-not-at-top
  if dataclasses.is_dataclass(task):
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
  return {'name': task.name}
