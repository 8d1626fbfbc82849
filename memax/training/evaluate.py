"""Evaluation: the task's declared evaluations, periodic and final.

A task declares its evaluations (`task.evals()`): `Sampled` ones are scored on
fresh batches (the training distribution, copy at length 120), `Exhaustive`
ones on every example of a dataset split once (bAbI test). The task's device
data is an argument of every jitted evaluation, never a constant in it.

Config (`config.evals`): `variants` (generated tasks; the training
distribution 'train' is always added) or `splits` (datasets) name the final
evaluations, 'all' or a list; `periodic_variants` (plus 'train') or
`periodic_splits` the ones run while training. The final evaluation writes
`eval/<name>.json` and `plots/<name>.png`; `memax.evaluate` writes them into a
folder of its own.
"""

import functools
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from memax.tasks import base as tasks_base
from memax.training import distributed
from memax.training import step as step_lib
from memax.training import workdir as workdir_lib
from memax.types import PRNGKey, PyTree


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


def _field(config: ml_collections.ConfigDict, periodic: bool) -> str:
  if periodic:
    return ('periodic_splits' if 'periodic_splits' in config
            else 'periodic_variants')
  return 'splits' if 'splits' in config else 'variants'


def periodic_names(config: ml_collections.ConfigDict) -> list[str]:
  """The evaluations run while training, as `config.evals` names them."""
  if 'periodic_splits' in config:
    return names_list(config.periodic_splits) or []
  return ['train'] + [n for n in names_list(
      config.get('periodic_variants', ())) or [] if n != 'train']


def _selected(task: Any, config: ml_collections.ConfigDict, periodic: bool
              ) -> dict[str, Any]:
  """`{name: Sampled | Exhaustive}` that `config.evals` selects, checked."""
  field = _field(config, periodic)
  available = dict(task.evals())
  absent = getattr(task, 'absent_evals', ())
  if periodic:
    names = periodic_names(config)
  else:
    names = names_list(config.get(field, 'all'))
    if names is None:
      names = list(available)
    elif field == 'variants':
      names = ['train'] + [n for n in names if n != 'train']
  # An empty split (no validation split when task.val_fraction = 0) is
  # skipped during training.
  names = [n for n in names if not (periodic and n in absent)]
  unknown = [n for n in names if n not in available]
  if unknown:
    raise ValueError(
        f'Unknown evaluation {unknown[0]!r} in config.evals.{field}; the task '
        f'{task.name!r} has {sorted(available)} (a list, a comma-separated '
        'string, or "all").')
  return {n: available[n] for n in names}


def check_evals(config: ml_collections.ConfigDict, task: Any) -> None:
  """Checks `config.evals` against the task; errors name the field."""
  for field in ('batch_size', 'num_batches'):
    if field in config:
      value = config[field]
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'config.evals.{field} must be a positive integer, '
                         f'got {value!r}.')
  final = _selected(task, config, periodic=False)
  _selected(task, config, periodic=True)
  if 'plot_examples' in config:
    examples = config.plot_examples
    if (isinstance(examples, (str, bytes)) or
        not isinstance(examples, (list, tuple)) or
        not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                for i in examples)):
      raise ValueError('config.evals.plot_examples must be a tuple of '
                       f'example indices (integers >= 0), got {examples!r}.')
    split = plot_split(final)
    if split is not None and _plots_split_examples(task):
      for index in examples:  # An index past the split: its error, now.
        task.check_example(split, index)


def _plots_split_examples(task: Any) -> bool:
  """Whether a finished run plots examples of a whole split (bAbI): the
  task gives one by index (`example(split, index)`, and checks an index
  on the host, `check_example(split, index)`) and describes it
  (sentence level: `describe`, for the hops' attention) or draws it
  (word level: `plot_example`)."""
  return (hasattr(task, 'example') and hasattr(task, 'check_example') and
          (hasattr(task, 'describe') or hasattr(task, 'plot_example')))


def plot_split(evals: dict[str, Any]) -> str | None:
  """The split whose examples a finished run plots (bAbI): 'test' among
  the final evaluations `evals`, else the last whole split; None without
  one."""
  exhaustive = [n for n, s in evals.items()
                if isinstance(s, tasks_base.Exhaustive)]
  if not exhaustive:
    return None
  return 'test' if 'test' in exhaustive else exhaustive[-1]


def model_kwargs(state: step_lib.TrainState | None, linear_start: bool
                 ) -> dict[str, Any]:
  """`step.model_kwargs` as host values (the plots read them too)."""
  if state is None:
    return {}
  return {k: bool(v) for k, v in
          step_lib.model_kwargs(state, linear_start).items()}


# The jitted evaluations are shared by every evaluation of an equal model
# and task in the process (periodic and final ones, a resumed run), so each
# is traced and compiled once. Models (flax modules) and generated tasks
# compare by their fields. A task that compares by identity (a dataset,
# which holds its examples) is not kept here: an `Evaluator` shares one
# program among its splits instead, and the task is freed with it.


def _by_value(x: Any) -> bool:
  try:
    hash(x)
  except TypeError:
    return False
  return type(x).__hash__ is not object.__hash__


def _shared(build):
  """`build(*args)`, memoised when every argument compares by value."""
  cached = functools.lru_cache(maxsize=32)(build)

  @functools.wraps(build)
  def get(*args):
    return cached(*args) if all(map(_by_value, args)) else build(*args)
  return get


@_shared
def _sampled_forward(model: Any, task: Any, batch_size: int):
  @jax.jit
  def run(params, key, data, kwargs):
    data_key, model_key = jax.random.split(key)
    batch = task.sample(data_key, batch_size, data)
    out = model.apply(params, batch.inputs,
                      rngs=step_lib.model_rngs(model, model_key), **kwargs)
    return task.metrics(out.logits, batch), batch, out.logits, out.aux
  return run


@_shared
def _split_forward(model: Any, task: Any):
  @jax.jit
  def run(params, batch, kwargs):
    # A batch with `num_steps` (stories padded to a common length) lets a
    # sequence model skip its padded steps, as in training.
    if getattr(batch, 'num_steps', None) is not None:
      kwargs = dict(kwargs, num_steps=batch.num_steps)
    out = model.apply(params, batch.inputs, **kwargs)
    return task.per_example(out.logits, batch)
  return run


@_shared
def _example_forward(model: Any):
  @jax.jit
  def run(params, inputs, kwargs):
    out = model.apply(params, inputs, **kwargs)
    return out.logits, out.aux
  return run


def evaluate_sampled(model: Any, params: PyTree, task: Any, key: PRNGKey, *,
                     num_batches: int, batch_size: int, data: PyTree = None,
                     kwargs: dict[str, Any] | None = None,
                     return_example: bool = False, run=None):
  """Mean metrics over `num_batches` fresh batches of `task`.

  With `return_example`, also returns the first example of the first batch
  as `(batch, probabilities, aux)` on the host, for plots.
  """
  run = run or _sampled_forward(model, task, batch_size)
  kwargs = kwargs or {}
  totals, example = [], None
  for i in range(num_batches):
    metrics, batch, logits, aux = run(params, jax.random.fold_in(key, i),
                                      data, kwargs)
    totals.append(metrics)
    if return_example and example is None:
      example = jax.device_get(jax.tree.map(
          lambda x: x[0] if np.ndim(x) else x,
          (batch, task.probabilities(logits), aux)))
  totals = jax.device_get(totals)
  means = {k: float(np.mean([m[k] for m in totals])) for k in totals[0]}
  return (means, example) if return_example else means


def evaluate_split(model: Any, params: PyTree, task: Any, split: str, *,
                   batch_size: int, kwargs: dict[str, Any] | None = None,
                   run=None) -> dict[str, float]:
  """Metrics of a finite task's whole `split` (every example once)."""
  run = run or _split_forward(model, task)
  kwargs = kwargs or {}
  outs = [run(params, jax.device_put(batch), kwargs)
          for batch in task.batches(split, batch_size)]
  outs = jax.device_get(outs)
  joined = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  return task.summarize(joined)


class Evaluator:
  """The evaluations `config.evals` selects (periodic or final), compiled once.

  `evaluate(params, kwargs)` returns `{name: {metric: value}}`.
  """

  def __init__(self, model: Any, task: Any,
               config: ml_collections.ConfigDict, key: PRNGKey, *,
               linear_start: bool = False, periodic: bool = True):
    self._model = model
    self._task = task
    self._config = config
    self._key = key
    self.linear_start = linear_start
    self.evals = _selected(task, config, periodic)
    self._runs = {}
    split_run = None  # one program for every split of a dataset.
    for name, spec in self.evals.items():
      if isinstance(spec, tasks_base.Sampled):
        self._runs[name] = _sampled_forward(model, spec.task,
                                            config.batch_size)
      else:
        split_run = split_run or _split_forward(model, task)
        self._runs[name] = split_run

  def run(self, name: str):
    """The jitted evaluation of `name`."""
    return self._runs[name]

  def metric_names(self, params: PyTree, data: PyTree = None
                   ) -> dict[str, set[str] | None]:
    """`{name: metric names}`, from shapes alone (nothing compiled).

    `params` may be abstract (`jax.ShapeDtypeStruct`s).
    """
    out = {}
    kwargs = {'linear': False} if self.linear_start else {}
    for name, spec in self.evals.items():
      if isinstance(spec, tasks_base.Sampled):
        metrics = jax.eval_shape(self._runs[name], params, self._key, data,
                                 kwargs)[0]
        out[name] = set(metrics)
      else:
        names = getattr(self._task, 'metric_names', None)
        out[name] = set(names()) if names is not None else None
    return out

  def evaluate(self, params: PyTree, kwargs: dict[str, Any] | None = None,
               data: PyTree = None, key: PRNGKey | None = None
               ) -> dict[str, dict[str, float]]:
    """Metrics of every selected evaluation (`key`: default the run's)."""
    key = self._key if key is None else key
    results = {}
    for i, (name, spec) in enumerate(self.evals.items()):
      if isinstance(spec, tasks_base.Sampled):
        results[name] = evaluate_sampled(
            self._model, params, spec.task, jax.random.fold_in(key, i),
            num_batches=self._config.num_batches,
            batch_size=self._config.batch_size, data=data, kwargs=kwargs,
            run=self._runs[name])
      else:
        results[name] = evaluate_split(
            self._model, params, self._task, spec.split,
            batch_size=self._config.batch_size, kwargs=kwargs,
            run=self._runs[name])
    return results

  def periodic(self, state: step_lib.TrainState, data: PyTree = None,
               key: PRNGKey | None = None) -> dict[str, dict[str, float]]:
    """Metrics of the model in `state` (its form at that step)."""
    return self.evaluate(state.params,
                         model_kwargs(state, self.linear_start), data, key)


def _out_paths(workdir: str, out_dir: str | None) -> tuple[str, str]:
  """`(json_dir, plot_dir)`: training's `eval/`, `plots/` or one folder."""
  if out_dir is None:
    return os.path.join(workdir, 'eval'), os.path.join(workdir, 'plots')
  return out_dir, out_dir


# What a final evaluation writes besides its JSON files, and the defaults
# for a run whose config.json predates a switch: `evals.plot` draws each
# variant's first example, `evals.arrays` saves it (`<variant>.npz`).
OUTPUT_SWITCHES = {'plot': True, 'arrays': False}


def _switch(evals: ml_collections.ConfigDict, name: str) -> bool:
  return bool(evals.get(name, OUTPUT_SWITCHES[name]))


def draws_plots(config: ml_collections.ConfigDict) -> bool:
  """Whether the final evaluation of `config` draws plots
  (`config.evals.plot`, default on) or saves its examples' arrays
  (`config.evals.arrays`); only then does its model return auxiliary
  outputs (without them it runs the periodic evaluation's programs)."""
  return _switch(config.evals, 'plot') or _switch(config.evals, 'arrays')


def example_arrays(batch: Any, probabilities: Any, aux: Any
                   ) -> dict[str, np.ndarray]:
  """One example (`evaluate_sampled`'s) as named host arrays: the batch's
  fields ('inputs', 'targets', 'mask', and 'num_steps' and 'refresh' where
  set; a pytree field as 'inputs.<key>'), 'probabilities', and each
  auxiliary output as 'aux.<name>'."""
  trees = dict(batch._asdict(), probabilities=probabilities, aux=aux)
  leaves = jax.tree_util.tree_flatten_with_path(trees)[0]
  return {jax.tree_util.keystr(path, simple=True, separator='.'):
          np.asarray(leaf) for path, leaf in leaves}


def final_evaluation(config: ml_collections.ConfigDict, workdir: str,
                     state: step_lib.TrainState, key: PRNGKey, *,
                     task: Any, model: Any, data: PyTree = None,
                     linear_start: bool = False, out_dir: str | None = None,
                     record: dict[str, Any] | None = None
                     ) -> dict[str, dict[str, float]]:
  """Every final evaluation; writes one JSON and one plot for each (and
  its example's arrays, `<name>.npz`, with `config.evals.arrays`).

  Args:
    config: the run's config, with any evaluation overrides applied.
    workdir: the run's directory.
    state: the trained state (its parameters, and the step's model form).
    key: evaluation rng.
    task: the task of `config`.
    model: the model of `config`, built with
      `return_aux=draws_plots(config)` (the plots draw its auxiliary
      outputs).
    data: the task's device data.
    linear_start: the model runs linear start (MemN2N).
    out_dir: where to write; None is training's own `eval/<name>.json` and
      `plots/<name>.png`, a folder takes both (`memax.evaluate`).
    record: fields added to every JSON (the checkpoint step, the evaluation
      seed, the overrides).

  Returns:
    `{name: {metric: value}}`. With many processes, every process evaluates
    (its own replica of `state`) and returns them; process 0 alone writes.
  """
  record = dict(record or {})
  write = distributed.is_main_process()
  evals = config.evals
  json_dir, plot_dir = _out_paths(workdir, out_dir)
  kwargs = model_kwargs(state, linear_start)
  evaluator = Evaluator(model, task, evals, key, linear_start=linear_start,
                        periodic=False)
  plot = _switch(evals, 'plot') and write
  arrays = _switch(evals, 'arrays') and write
  results = {}

  def save(name: str, value: dict[str, Any]) -> None:
    if write:
      workdir_lib.write_json(os.path.join(json_dir, f'{name}.json'), value)

  for i, (name, spec) in enumerate(evaluator.evals.items()):
    if isinstance(spec, tasks_base.Sampled):
      out = evaluate_sampled(
          model, state.params, spec.task, jax.random.fold_in(key, 1000 + i),
          num_batches=evals.num_batches, batch_size=evals.batch_size,
          data=data, kwargs=kwargs, return_example=plot or arrays,
          run=evaluator.run(name))
      metrics, example = out if plot or arrays else (out, None)
      save(name, dict(record, variant=name, task=_task_fields(spec.task),
                      model=config.model.to_dict(),
                      num_sequences=evals.num_batches * evals.batch_size,
                      metrics=metrics))
      if arrays:
        workdir_lib.write_arrays(os.path.join(plot_dir, f'{name}.npz'),
                                 example_arrays(*example))
      if plot:
        from memax.training import plots  # pylint: disable=g-import-not-at-top
        batch, probs, aux = example
        path = os.path.join(plot_dir, f'{name}.png')
        title = (f'{config.model.name} on {spec.task.name} ({name}): '
                 + ', '.join(f'{k} {v:.3g}' for k, v in metrics.items()))
        if hasattr(spec.task, 'plot_example'):  # the task draws its own.
          spec.task.plot_example(path, batch, probs, aux, title=title)
        else:
          plots.plot_example(path, batch.inputs, batch.targets, probs,
                             batch.mask, aux, title=title)
    else:
      metrics = evaluate_split(model, state.params, task, spec.split,
                               batch_size=evals.batch_size, kwargs=kwargs,
                               run=evaluator.run(name))
      save(name, dict(record, split=name, task=config.task.to_dict(),
                      model=config.model.to_dict(), metrics=metrics))
    results[name] = metrics
  split = plot_split(evaluator.evals)
  if plot and split is not None and _plots_split_examples(task):
    _plot_split_examples(config, plot_dir, state.params, task, model, split,
                         kwargs)
  return results


def _plot_split_examples(config, plot_dir, params, task, model, split,
                         kwargs):
  """Plots of each `config.evals.plot_examples` example `i` of `split`:
  sentence-level bAbI (`describe`) draws the hops' attention
  (`attention_<split>_<i>.png`), word-level bAbI (`plot_example`) the whole
  story and the memory (`story_<split>_<i>.png`)."""
  from memax.training import plots  # pylint: disable=g-import-not-at-top
  first = lambda tree: jax.tree.map(lambda x: x[0] if np.ndim(x) else x, tree)
  for index in config.evals.get('plot_examples', (0,)):
    batch = task.example(split, index)
    logits, aux = jax.device_get(
        _example_forward(model)(params, batch.inputs, kwargs))
    if hasattr(task, 'describe'):
      if 'attention' not in aux:  # A model without hops draws nothing.
        return
      text = task.describe(batch, int(np.argmax(logits[0])))
      plots.plot_attention(
          os.path.join(plot_dir, f'attention_{split}_{index}.png'),
          np.asarray(aux['attention'][0]), **text,
          title=f'{config.model.name} on {split} example {index}',
          probabilities=not kwargs.get('linear', False))
    else:
      task.plot_example(
          os.path.join(plot_dir, f'story_{split}_{index}.png'), first(batch),
          np.asarray(task.probabilities(logits))[0], first(aux),
          title=f'{config.model.name} on {split} story {index}')


def final_names(config: ml_collections.ConfigDict, task: Any) -> list[str]:
  """The names of the JSON files `final_evaluation` writes."""
  return list(_selected(task, config.evals, periodic=False))


def load_final(config: ml_collections.ConfigDict, task: Any, json_dir: str,
               step: int) -> dict[str, dict[str, float]] | None:
  """Training's final results at `step` from `json_dir/*.json` (a
  workdir's `eval/`), if all there."""
  results = {}
  for name in final_names(config, task):
    path = os.path.join(json_dir, f'{name}.json')
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
    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)
              if f.init and not f.name.startswith('_')}
    if 'task' in fields:  # a wrapper (`memax.tasks.refresh`): its task's.
      return _task_fields(fields['task'])
    return fields
  return {'name': task.name}

