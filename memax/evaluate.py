"""Evaluates a trained run: rebuilds the model from its workdir.

  python -m memax.evaluate --workdir=runs/ntm_copy \
      --config.task.eval_lengths=120,160 --config.model.memory_size=256
  python -m memax.evaluate --workdir=runs/ntm_ar --step=8000
  python -m memax.evaluate --workdir=runs/ntm_ar --best

Overrides (`--config.field=value`, the launcher's syntax) change any config
field that is not a parameter shape, such as the sequence length, the number
of items or the memory size; the parameters are the trained ones. Each evaluation writes its
own folder, `evaluations/step<N>[_<overrides>][_seed<S>]/`, with one JSON
(recording the checkpoint step, the overrides and the evaluation seed) and
one plot per variant; training's own `eval/` and `plots/` are never
touched, nor is anything else in the workdir. With no overrides, the last
step and the default seed, the numbers are those of training's final
evaluation. Every evaluation variant of the task is evaluated (with its
overrides, e.g. new lengths), unless `--config.evals.variants=a,b` picks
some. `--config.evals.arrays=True` also saves each variant's plotted
example as `<variant>.npz` (inputs, targets, mask, probabilities and the
model's auxiliary outputs, e.g. `aux.usage` and `aux.write_weights` of a
DNC, `[T, ...]`) for analysis beyond the plot.

With `--coordinator_address`, `--num_processes` and `--process_id` (the
launcher's flags, `memax.training.distributed`), the same command runs on
every process: each restores and evaluates the parameters on its own first
device, and process 0 writes the folder.
"""

import json
import os
import re
from typing import Any

from absl import app
from absl import flags
from absl import logging
import ml_collections

from memax import cli
from memax import overrides as overrides_lib
from memax.training import checkpoint
from memax.training import distributed
from memax.training import evaluate as evaluate_lib
from memax.training import population
from memax.training import setup as setup_lib
from memax.training import sharding
from memax.training import workdir as workdir_lib

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training workdir.')
_STEP = flags.DEFINE_integer(
    'step', None, 'Checkpoint step (default: the newest readable one).')
_BEST = flags.DEFINE_bool(
    'best', False, 'Evaluate the best checkpoint (checkpoint_best/) that '
    'training kept by its evaluation metric.')
_SEED = flags.DEFINE_integer(
    'seed', None, 'Evaluation seed (default: the run\'s config.seed, which '
    'reproduces training\'s final evaluation).')
_MEMBER = flags.DEFINE_integer(
    'member', None, 'In a population\'s workdir: the member to evaluate '
    '(its seed and hyper-parameters; eval/member<i>/ holds training\'s '
    'own final evaluation of it).')
_TAG = flags.DEFINE_string('tag', None, 'Name of the output folder under '
                           'evaluations/ (default: from the step, the '
                           'overrides and the seed).')
flags.mark_flag_as_required('workdir')
_PROCESSES = distributed.define_flags()

EVALUATIONS = workdir_lib.EVALUATIONS_DIR


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """Reads `workdir/config.json`; a clear error if it is missing."""
  config = workdir_lib.load_config(workdir)
  if config is None:
    raise FileNotFoundError(
        f'{os.path.join(workdir, "config.json")} not found: --workdir must be '
        'a directory written by `python -m memax.main` (it holds config.json '
        'and checkpoints/).')
  return config


def _is_param(name: str) -> bool:
  return name.startswith('params.')


def load_params(config: ml_collections.ConfigDict, workdir: str,
                step: int | None = None, *, best: bool = False,
                evaluated: ml_collections.ConfigDict | None = None,
                task: Any = None, evaluated_task: Any = None,
                member: int | None = None,
                population_config: ml_collections.ConfigDict | None = None):
  """Restores the trained parameters of `workdir`.

  Args:
    config: the run's config (its `config.json`).
    workdir: the run's directory.
    step: a checkpoint step; None is the newest checkpoint that can be read
      (newer unreadable ones are reported and skipped, never changed).
    best: restore the best checkpoint (`checkpoint_best/`) instead.
    evaluated: the config the parameters will be used with (overrides
      applied); a parameter shape it changes is an error naming the field.
    task: the task of `config`, if already built.
    evaluated_task: the task of `evaluated`, if already built.
    member: in a population's workdir, the member to restore (`config` is
      then that member's config).
    population_config: the population's `config.json` (with `member`).

  Returns:
    `(state, step)`: the whole train state (its parameters, and the model's
    form at that step, e.g. linear start), on this process's first device.
  """
  subdir = checkpoint.BEST_DIR if best else 'checkpoints'
  steps = checkpoint.all_steps(workdir, subdir)
  if not steps:
    what = ('No best checkpoint' if best else 'No checkpoint')
    raise FileNotFoundError(
        f'{what} in {os.path.join(workdir, subdir)}: train first with '
        '`python -m memax.main --config=... --workdir=...`'
        + (' (the best is kept when config.train.best_metric is set).'
           if best else '.'))
  if member is None:
    abstract = setup_lib.abstract_state(config, task)
  else:  # the whole population's stacked state.
    abstract = setup_lib.setup(population_config, task=task).abstract_state
  mngr = checkpoint.manager(workdir, read_only=True, subdir=subdir)
  try:
    if step is not None:
      if step not in steps:
        raise FileNotFoundError(
            f'No checkpoint for step {step} in {mngr.directory}; available: '
            f'{steps}.')
      try:
        state = checkpoint.restore(mngr, abstract, step)
      except Exception as e:  # pylint: disable=broad-except
        readable = _readable(mngr, abstract, [s for s in steps if s != step])
        raise FileNotFoundError(
            f'Checkpoint {step} in {mngr.directory} cannot be read '
            f'({checkpoint.reason(e)}). Readable steps: {readable}.'
        ) from None
    else:
      state, step, skipped = checkpoint.restore_newest(mngr, abstract,
                                                       steps=steps)
      for bad in skipped:
        logging.warning('Checkpoint %d in %s could not be read (%s); '
                        'evaluating step %d instead.', bad.step,
                        mngr.directory, bad.reason, step)
    if evaluated is not None:
      _check_param_shapes(mngr, step, config, evaluated, evaluated_task,
                          stacked=member is not None)
  finally:
    mngr.close()
  if member is not None:
    state = population.unstack(state, member)
  return state, int(step)


def _readable(mngr, abstract, steps: list[int]) -> list[int]:
  out = []
  for s in steps:
    try:
      checkpoint.restore(mngr, abstract, s)
      out.append(s)
    except Exception:  # pylint: disable=broad-except
      pass
  return out


def _check_param_shapes(mngr, step: int, trained: ml_collections.ConfigDict,
                        evaluated: ml_collections.ConfigDict,
                        task: Any = None, *, stacked: bool = False) -> None:
  # A population's arrays have a leading member axis.
  stored = {k: tuple(v)[1:] if stacked else v
            for k, v in checkpoint.stored_shapes(mngr, step).items()
            if _is_param(k)}
  expected = {k: v for k, v in checkpoint.flat_shapes(
      setup_lib.abstract_state(evaluated, task)).items() if _is_param(k)}
  differences = checkpoint.shape_differences(stored, expected)
  if not differences:
    return
  fields = setup_lib.shape_changing_fields(trained, evaluated, _is_param)
  what = (setup_lib.describe_fields(fields, trained, evaluated) if fields
          else 'The overrides')
  raise ValueError(
      f'{what} would change the shapes of the trained parameters '
      f'({"; ".join(differences)}). Evaluation can change sizes that are not '
      'parameter shapes (the memory size, sequence lengths, numbers of '
      'items), not a parameter\'s shape.')


def _slug(text: str) -> str:
  return re.sub(r'[^A-Za-z0-9._+-]+', '-', text).strip('-')


def _output_dir(workdir: str, name: str) -> str:
  """`evaluations/<name>`, or `<name>-2`, ... if it exists: never reused."""
  root = os.path.join(workdir, EVALUATIONS)
  path = os.path.join(root, name)
  n = 1
  while os.path.exists(path):
    n += 1
    path = os.path.join(root, f'{name}-{n}')
  return path


def _with_eval_switches(config: ml_collections.ConfigDict
                        ) -> ml_collections.ConfigDict:
  """`config` with the output switches its config.json may predate
  (`evaluate_lib.OUTPUT_SWITCHES`) at their defaults, so that
  `--config.evals.arrays=True` works on an older run too."""
  missing = {k: v for k, v in evaluate_lib.OUTPUT_SWITCHES.items()
             if k not in config.evals}
  if not missing:
    return config
  config = ml_collections.ConfigDict(config.to_dict())
  for k, v in missing.items():
    config.evals[k] = v
  return config


def run(workdir: str, overrides: list[str], *, step: int | None = None,
        best: bool = False, seed: int | None = None,
        tag: str | None = None, member: int | None = None) -> dict:
  """Evaluates every variant of the run's task under `overrides`.

  `overrides`: `['a.b=value', ...]` (or `--config.a.b=value`), applied to
  the run's `config.json` as the launcher applies them to a config file.

  Returns `{variant: {metric: value}}`, plus `'checkpoint_step'` and
  `'output_dir'` (where the JSON files and plots went).
  """
  if step is not None and best:
    raise ValueError('Give --step or --best, not both.')
  trained = _with_eval_switches(load_config(workdir))
  whole = None
  if population.is_population(trained):
    members = population.member_overrides(trained)
    if member is None or not 0 <= member < len(members):
      raise ValueError(
          f'{workdir} holds a population of {len(members)} members '
          '(config.population): pick one with --member=<0..'
          f'{len(members) - 1}>{"" if member is None else f", not {member}"}.')
    whole, trained = trained, population.member_config(trained,
                                                       members[member])
  elif member is not None:
    raise ValueError(f'--member={member}: {workdir} holds a single run, not '
                     'a population.')
  # Every variant of the (overridden) task, unless the overrides pick some:
  # training's own subset may not exist at other lengths.
  overrides = overrides_lib.describe(overrides)
  applied = list(overrides)
  if 'variants' in trained.evals and not any(
      o.startswith('evals.variants=') for o in overrides):
    applied.insert(0, 'evals.variants=all')
  config = overrides_lib.apply(trained, applied)
  # The one setup path: the task, its device data and every check.
  s = setup_lib.setup(config)
  task = s.task
  same_task = config.task.to_dict() == trained.task.to_dict()
  state, restored_step = load_params(
      trained, workdir, step, best=best, evaluated=config,
      task=task if same_task else None, evaluated_task=task, member=member,
      population_config=whole)
  eval_seed = config.seed if seed is None else seed
  name = tag or '_'.join(
      ([f'member{member}'] if member is not None else [])
      + [f'{"best" if best else "step"}{restored_step}']
      + [_slug(o) for o in overrides]
      + ([f'seed{eval_seed}'] if seed is not None else []))
  out_dir = _output_dir(workdir, name)
  # The same key as training's final evaluation for the same seed.
  key = setup_lib.run_keys(eval_seed).eval
  model = setup_lib.build_model(config, task,
                                return_aux=evaluate_lib.draws_plots(s.config))
  results = evaluate_lib.final_evaluation(
      s.config, workdir, state, key, task=task, model=model, data=s.data,
      linear_start=s.linear_start, out_dir=out_dir,
      record={'checkpoint_step': restored_step, 'eval_seed': eval_seed,
              'overrides': list(overrides), 'best': best,
              **({} if member is None else {'member': member})})
  logging.info('Evaluated step %d of %s into %s.', restored_step, workdir,
               out_dir)
  return dict(results, checkpoint_step=restored_step, output_dir=out_dir)


_OVERRIDES: list[str] = []


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flags, with `--config.a.b=v` overrides taken out first."""
  rest, found = overrides_lib.split_argv(argv)
  _OVERRIDES[:] = found
  return flags.FLAGS(rest)


def main(argv):
  del argv
  cli.run_or_exit(distributed.initialize, *(f.value for f in _PROCESSES))
  cli.start()
  # As many CPU devices as the run trained on (setup checks them), before
  # JAX starts; a missing workdir is reported by `run`.
  trained = workdir_lib.load_config(_WORKDIR.value)
  if trained is not None:
    sharding.use_cpu_devices(trained.train.get('num_devices', 1))
  results = cli.run_or_exit(run, _WORKDIR.value, list(_OVERRIDES),
                           step=_STEP.value, best=_BEST.value,
                           seed=_SEED.value, tag=_TAG.value,
                           member=_MEMBER.value)
  distributed.shutdown()
  if distributed.is_main_process():
    print(json.dumps(results, indent=1))


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
