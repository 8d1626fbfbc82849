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
from memax.training import plots
from memax.types import PRNGKey, PyTree


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


def _variant_tasks(task: tasks_base.Task, names) -> dict[str, Any]:
  variants = dict(task.variants())
  if names in ('all', None):
    names = list(variants)
  unknown = [n for n in names if n not in variants]
  if unknown:
    raise ValueError(f'Unknown evaluation variant {unknown[0]!r} in '
                     f'config.evals; the task {task.name!r} has '
                     f'{sorted(variants)}.')
  return {n: variants[n] for n in names}


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
      self._splits = [s for s in config.get('periodic_splits', ('valid',))
                      if s in available]
      self._run = _split_forward(model, task)
      return
    self._tasks = {'train': task}
    self._tasks.update(_variant_tasks(
        task, list(config.get('periodic_variants', ()))))
    self._runs = {name: _forward(model, t, config.batch_size)
                  for name, t in self._tasks.items()}

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


def final_evaluation(config: ml_collections.ConfigDict, workdir: str,
                     params: PyTree, key: PRNGKey, *, tag: str = '',
                     task: Any = None, step: int | None = None
                     ) -> dict[str, dict[str, float]]:
  """Evaluates every variant, writes `eval/*.json` and `plots/*.png`.

  Args:
    config: the run's config, with any evaluation overrides applied.
    workdir: the run's directory.
    params: trained parameters.
    key: evaluation rng.
    tag: appended to output file names (e.g. describing overrides).
    task: the already built task of `config` (built again if None).
    step: the training step of `params` (for schedules such as linear start,
      whose end `workdir/linear_start.json` records); None = final form.

  Returns:
    `{variant: {metric: value}}` including `'train'` (for finite datasets,
    `{split: metrics}` over every split).
  """
  task = task if task is not None else tasks.build(config.task)
  model = build_model(config, task, return_aux=True)
  if dataset.is_finite(task):
    model = linear_start.apply(model, workdir)
    return _final_finite(config, workdir, params, task, model, tag, step)
  evals = config.evals
  variants = {'train': task}
  variants.update(_variant_tasks(task, evals.get('variants', 'all')))
  results = {}
  eval_dir = os.path.join(workdir, 'eval')
  plot_dir = os.path.join(workdir, 'plots')
  os.makedirs(eval_dir, exist_ok=True)
  for i, (name, variant) in enumerate(variants.items()):
    vkey = jax.random.fold_in(key, 1000 + i)
    batch_size = evals.batch_size
    plot = evals.get('plot', True)
    metrics, example = evaluate_task(
        model, params, variant, vkey, num_batches=evals.num_batches,
        batch_size=batch_size, return_example=True)
    results[name] = metrics
    record = {
        'variant': name, 'task': _task_fields(variant),
        'model': config.model.to_dict(),
        'num_sequences': evals.num_batches * batch_size, 'metrics': metrics,
    }
    stem = f'{name}{tag}'
    with open(os.path.join(eval_dir, f'{stem}.json'), 'w') as f:
      json.dump(record, f, indent=2, sort_keys=True)
    if plot:
      batch, probs, aux = example
      plots.plot_example(
          os.path.join(plot_dir, f'{stem}.png'), batch.inputs,
          batch.targets, probs, batch.mask, aux,
          title=f'{config.model.name} on {variant.name} ({name}): '
                + ', '.join(f'{k} {v:.3g}' for k, v in metrics.items()))
  return results


def _final_finite(config, workdir, params, task, model, tag, step):
  """Every split of a finite dataset: `eval/<split>.json` and attention plots."""
  evals = config.evals
  splits = list(task.eval_splits())
  wanted = evals.get('splits', 'all')
  if wanted not in ('all', None):
    unknown = [s for s in wanted if s not in splits]
    if unknown:
      raise ValueError(f'Unknown split {unknown[0]!r} in config.evals.splits; '
                       f'the task has {splits}.')
    splits = list(wanted)
  eval_dir = os.path.join(workdir, 'eval')
  os.makedirs(eval_dir, exist_ok=True)
  run = _split_forward(model, task)
  results = {}
  for split in splits:
    metrics = evaluate_split(model, params, task, split,
                             batch_size=evals.batch_size, run=run, step=step)
    results[split] = metrics
    record = {'split': split, 'task': config.task.to_dict(),
              'model': config.model.to_dict(), 'metrics': metrics}
    with open(os.path.join(eval_dir, f'{split}{tag}.json'), 'w') as f:
      json.dump(record, f, indent=2, sort_keys=True)
  if evals.get('plot', True) and hasattr(task, 'describe'):
    split = 'test' if 'test' in splits else splits[-1]
    for index in evals.get('plot_examples', (0,)):
      batch = task.example(split, index)
      logits, aux = model.apply(params, batch.inputs,
                                step=_step_array(step))
      if 'attention' not in aux:
        break
      text = task.describe(batch, int(np.argmax(logits[0])))
      plots.plot_attention(
          os.path.join(workdir, 'plots', f'attention_{split}_{index}{tag}.png'),
          np.asarray(aux['attention'][0]), **text,
          title=f'{config.model.name} on {split} example {index}')
  return results


def _task_fields(task: Any) -> dict[str, Any]:
  import dataclasses  # pylint: disable=g-import-not-at-top
  if dataclasses.is_dataclass(task):
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
  return {'name': task.name}
