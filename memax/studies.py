"""Studies: a sweep's results as one compact file, and README tables from it.

A study is one sweep (`memax.sweep`) kept as a results file of JSON lines,
one per trial:

  {"study": "memn2n_codenull_joint", "trial": "000_seed=0",
   "config": "configs/memn2n_babi.py:tasks=0,protocol=code",
   "settings": {"seed": 0}, "seed": 0, "commit": "c2d54a6", "dirty": false,
   "status": "done", "steps": 50580, "epochs": 90.0, "wall_seconds": 411.0,
   "train_seconds": 352.0, "shared_by": 1,
   "metrics": {"test/error": 0.139, ...},
   "curve": {"metric": "train/bit_errors", "steps": [...], "values": [...]}}

`settings` are every override of the config file's defaults the trial ran
with (the sweep's base overrides and its own); `metrics` the final
evaluation's, `<split>/<metric>`; `wall_seconds` the wall time of the
run over all its launches (null for a run resumed by a memax that did not
log it), which `shared_by` trials shared (a population); `train_seconds`
the part of it spent in train steps;
`curve` (optional) one metric of the periodic evaluations;
`evaluations` (when there are any) the trial's later evaluations by
`python -m memax.evaluate` (`evaluations()`: another memory size, longer
sequences, ...), each with its overrides and metrics. The run folders
themselves (checkpoints, TensorBoard, plots) stay out of the repository.

A README's tables are generated from its study files. A table is a block

  <!-- table: KIND ARGS...
  optional spec lines
  -->
  (generated text)
  <!-- end table -->

and `python -m memax.studies --tables=README.md` rewrites every block's text
from the files `results/<study>.jsonl` beside the README, or of another
experiment for a study named `<experiment>/<study>` (`--check` only
compares, and fails on a stale table). The kinds are in `TABLES`.

  python -m memax.studies --export=RUNS/memn2n_codenull_joint \
      --to=experiments/babi/results/memn2n_codenull_joint.jsonl
  python -m memax.studies --tables=experiments/babi/README.md [--check]
"""

import functools
import json
import math
import os
import re
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence

from absl import app
from absl import flags

from memax import sweep_workdir
from memax import sweeps
from memax.training import workdir as workdir_lib
from memax.training import writers

_EXPORT = flags.DEFINE_string(
    'export', None, 'A sweep directory (python -m memax.sweep) to write as '
    'a results file; or a run workdir (python -m memax.main), or a folder '
    'of them, a row per run.')
_TO = flags.DEFINE_string('to', None, 'With --export: the results file.')
_STUDY = flags.DEFINE_string(
    'study', None, 'With --export: the study\'s name (default: the sweep '
    'directory\'s).')
_CURVE = flags.DEFINE_string(
    'curve', None, 'With --export: keep this metric of the periodic '
    'evaluations (<split>/<metric>, e.g. train/bit_errors).')
_TABLES = flags.DEFINE_multi_string(
    'tables', [], 'A README whose table blocks to rewrite from its results/.')
_CHECK = flags.DEFINE_bool('check', False, 'With --tables: rewrite nothing; '
                           'exit 1 when a table is stale.')

FAILED_ABOVE = 0.05          # bAbI: a task fails above 5 % test error.
_DIGITS = 6                  # significant digits kept of a metric.


# --- Results files. ---


def _round(value: float) -> float | int:
  if isinstance(value, int) or not math.isfinite(value) or value == 0:
    return value
  return float(f'{value:.{_DIGITS}g}')


def compact_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
  """Metrics rounded to 6 significant digits, example counts left out."""
  return {k: _round(v) for k, v in sorted(metrics.items())
          if not k.endswith('/num_examples')}


def curve(lines: Iterable[Mapping[str, Any]], metric: str
          ) -> dict[str, Any] | None:
  """`metric` (`split/name`) at each periodic evaluation in metrics.jsonl."""
  split, _, name = metric.rpartition('/')
  points = {}
  for line in lines:
    if line.get('split') == split and name in line:
      points[int(line['step'])] = _round(float(line[name]))
  if not points:
    return None
  steps = sorted(points)
  return {'metric': metric, 'steps': steps,
          'values': [points[s] for s in steps]}


def _progress(lines: Sequence[Mapping[str, Any]],
              population_lines: Sequence[Mapping[str, Any]] = ()
              ) -> dict[str, Any]:
  """Steps and epochs reached. A population member that stopped early
  (solved, or diverged) reached the step of its `status` line, or of its
  last periodic evaluation when that is before the population's last one;
  after it, its train lines are of its frozen parameters."""
  out = {}
  steps = [int(x['step']) for x in lines if 'step' in x]
  if steps:
    out['steps'] = max(steps)
  if population_lines:
    evals = lambda xs: [int(x['step']) for x in xs
                        if str(x.get('split', '')).startswith('eval/')]
    stopped = [int(x['step']) for x in lines if x.get('split') == 'status']
    mine, everyone = evals(lines), evals(population_lines)
    if stopped:
      out['steps'] = min(stopped)
    elif mine and max(mine) < max(everyone):
      out['steps'] = max(mine)
  epochs = [x['epoch'] for x in lines if x.get('epoch') is not None]
  if epochs:
    out['epochs'] = max(epochs)
  return out


def _times(lines: Sequence[Mapping[str, Any]],
           launch_wall: float | None) -> dict[str, Any]:
  """`wall_seconds`: the run's own count over all its launches (its last
  train line's), else, from runs that did not log it, the sweep's time for
  the launch that finished it, which is the whole run's unless the run was
  resumed (None when its train steps alone took longer: it was).
  `train_seconds`: the time in train steps alone (no compiling, evaluating
  or saving), summed from the train lines' rates. A step logged again by a
  launch that restarted from an earlier checkpoint (or from scratch) counts
  once, at the later launch's rate, as in `curve`: the time of the steps
  the results come from, not of the work the restart threw away."""
  train = [x for x in lines if x.get('split') == 'train'
           and isinstance(x.get('steps_per_sec'), (int, float))
           and x['steps_per_sec'] > 0]
  walls = [x['wall_seconds'] for x in train
           if isinstance(x.get('wall_seconds'), (int, float))]
  latest = {int(x['step']): x for x in train}
  seconds, before = 0.0, 0
  for step in sorted(latest):
    seconds += (step - before) / latest[step]['steps_per_sec']
    before = step
  wall = walls[-1] if walls else launch_wall
  if not walls and wall is not None and train and seconds > wall:
    wall = None
  return {'wall_seconds': wall,
          'train_seconds': round(seconds, 1) if train else None}


def evaluations(run_dir: str, member: int | None = None
                ) -> list[dict[str, Any]]:
  """The run's later evaluations (`python -m memax.evaluate`), a dict per
  folder of `evaluations/`, in name order: `name`, the checkpoint `step`,
  the `overrides`, the evaluation `seed`, `best`, and `metrics` as
  `<variant>/<metric>` (rounded as `compact_metrics`). Of a population,
  only `member`'s."""
  root = os.path.join(run_dir, workdir_lib.EVALUATIONS_DIR)
  if not os.path.isdir(root):
    return []
  out = []
  for name in sorted(os.listdir(root)):
    variants = [(v, r) for v, r in sweep_workdir.read_variants(
        os.path.join(root, name), strict=True) if r.get('member') == member]
    if not variants:
      continue
    first = variants[0][1]
    out.append({'name': name, 'step': first.get('checkpoint_step'),
                'overrides': list(first.get('overrides', [])),
                'seed': first.get('eval_seed'),
                'best': bool(first.get('best')),
                'metrics': compact_metrics(
                    sweep_workdir.variant_metrics(variants))})
  return out


def _later(run_dir: str, lines: Sequence[Mapping[str, Any]],
           curve_metric: str | None, member: int | None = None
           ) -> dict[str, Any]:
  """A row's optional parts: the `curve` of `curve_metric` (when given) and
  the run's later `evaluations` (when there are any)."""
  out = {}
  if curve_metric:
    out['curve'] = curve(lines, curve_metric)
  later = evaluations(run_dir, member)
  if later:
    out['evaluations'] = later
  return out


def _is_run(path: str) -> bool:
  return all(os.path.isfile(os.path.join(path, f))
             for f in ('config.json', 'metrics.jsonl'))


def export_runs(folder: str, study: str | None = None,
                curve_metric: str | None = None) -> list[dict[str, Any]]:
  """The rows of plain runs (`python -m memax.main` workdirs), not a sweep:
  `folder` itself when it is one, else each of its subfolders that is.

  A row is a sweep trial's (`export`) with what a run folder does not
  know left empty: `config` and `commit` are None (no command is recorded
  in a workdir). `settings` are the fields that tell the folder's runs
  apart as they were launched (their first config: the earliest
  `config.<time>.json` that `memax.main` kept on a resume with other
  settings, else `config.json`), e.g. `seed`, then the fields the run
  changed when it was resumed, at their new values.
  `trial` is the folder's name, `status` 'done' when the run's last train
  step has its final evaluation, else 'started'.
  """
  runs = ([folder] if _is_run(folder) else
          [p for p in (os.path.join(folder, n)
                       for n in sorted(os.listdir(folder)))
           if os.path.isdir(p) and _is_run(p)]) if os.path.isdir(folder) else []
  if not runs:
    raise ValueError(
        f'{folder}: not a sweep directory ({sweep_workdir.SWEEP_FILE}), a run '
        'workdir (config.json and metrics.jsonl), or a folder of run '
        'workdirs.')
  study = study or os.path.basename(os.path.normpath(folder))

  configs = {r: workdir_lib.load_config(r) for r in runs}
  firsts = {r: workdir_lib.first_config(r) for r in runs}
  flat = {r: dict(workdir_lib.flatten(c.to_dict())) for r, c in firsts.items()}
  # What tells the runs apart as they were launched, e.g. their seeds.
  apart = sorted({k for r in runs for k in flat[r]
                  if len({json.dumps(flat[o].get(k), sort_keys=True)
                          for o in runs}) > 1})
  rows = []
  for run_dir in runs:
    config = configs[run_dir]
    values = dict(workdir_lib.flatten(config.to_dict()))
    settings = {k: flat[run_dir].get(k) for k in apart}
    # What its resumes changed; a field in only one of the two configs came
    # with another version of memax (a resume cannot add or drop one).
    settings.update({k: values[k] for k in workdir_lib.changed_fields(
        firsts[run_dir], config) if k in values and k in flat[run_dir]})
    lines = writers.read_metrics(run_dir)
    steps = [int(x['step']) for x in lines if 'step' in x]
    final = [int(x['step']) for x in lines
             if str(x.get('split', '')).startswith('final/')]
    done = bool(final) and max(final) == max(steps)
    row = {'study': study, 'trial': os.path.basename(run_dir),
           'config': None, 'settings': settings,
           'seed': config.get('seed', 0), 'commit': None, 'dirty': None,
           'status': 'done' if done else 'started', **_progress(lines),
           **_times(lines, None), 'shared_by': 1,
           'metrics': compact_metrics(sweep_workdir.variant_metrics(
               sweep_workdir.read_variants(os.path.join(run_dir, 'eval'))))
                      if done else {}}
    rows.append({**row, **_later(run_dir, lines, curve_metric)})
  return rows


def export(sweep_dir: str, study: str | None = None,
           curve_metric: str | None = None) -> list[dict[str, Any]]:
  """The rows of a sweep directory, one per trial (finished or not); of a
  folder without a sweep, its plain runs' (`export_runs`)."""
  if sweep_workdir.read_record(sweep_dir) is None:
    return export_runs(sweep_dir, study, curve_metric)
  sweep = sweep_workdir.open_sweep(sweep_dir)
  record = sweep.record
  # A grown sweep's added trials ran at the commit of their growth.
  git_of = {name: g.get('git') or {} for g in record.get('grown', ())
            for name in g['trials']}
  study = study or os.path.basename(os.path.normpath(sweep_dir))
  rows = []
  for t in sweep.records():
    git = git_of.get(t['name'], record.get('git') or {})
    job = sweep.jobs[t['job']]
    run_dir = sweep.job_dir(job)
    member = t['member']
    everyone = writers.read_metrics(run_dir)
    lines = everyone if member is None else [
        x for x in everyone if x.get('member') == member]
    settings = {**record['base_overrides'], **t['overrides']}
    row = {'study': study, 'trial': t['name'],
           'config': record['config_file'], 'settings': settings,
           'seed': settings.get('seed', 0),
           'commit': (git.get('commit') or '')[:7] or None,
           'dirty': git.get('dirty'), 'status': t['status'],
           **_progress(lines, everyone if member is not None else ()),
           **_times(lines, t['wall_seconds']),
           'shared_by': len(job['members']),
           'metrics': compact_metrics(t['metrics'])}
    if record.get('executor', 'local') != 'local':  # How to run it again.
      row['executor'] = record['executor']
    rows.append({**row, **_later(run_dir, lines, curve_metric, member)})
  return rows


def keep_written(rows: Sequence[dict[str, Any]],
                 written: Sequence[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], list[str]]:
  """`rows` (an export), where a trial its sweep directory never started
  keeps the results file's row of it (the same study, trial and settings,
  not pending, and the same config: the config file's argument may differ
  where it sizes the sweep, `seeds=1` against `seeds=3`): a sweep regrown
  in a new directory to run some of its trials (`memax.sweep --only`)
  loses none of the others' results. Returns the rows and the names of
  the trials kept."""
  def key(r):
    return (r['study'], r.get('trial'),
            json.dumps(r['settings'], sort_keys=True))

  @functools.lru_cache(maxsize=None)  # Each pair's config files load once.
  def same_config(a, b):
    try:
      return sweeps.same_config(a, b)
    except Exception:  # pylint: disable=broad-except
      return False  # A config file that no longer loads: only equal text.

  old = {key(r): r for r in written}
  out, kept = [], []
  for row in rows:
    before = old.get(key(row))
    if (before is not None and row['status'] == 'pending'
        and before['status'] != 'pending'
        and same_config(row['config'], before['config'])):
      row = before
      kept.append(row['trial'])
    out.append(row)
  return out, kept


def write(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
  """The results file: one JSON line per trial, keys in a fixed order."""
  text = ''.join(json.dumps(r, default=str) + '\n' for r in rows)
  workdir_lib.write_text(path, text)


def load(path: str) -> list[dict[str, Any]]:
  """The rows of a results file."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: no such results file.')
  rows = []
  with open(path) as f:
    for i, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except ValueError as e:
        raise ValueError(f'{path}:{i}: not a JSON line ({e}).') from None
      for key in ('study', 'settings', 'seed', 'status', 'metrics'):
        if key not in row:
          raise ValueError(f'{path}:{i}: the row has no {key!r}.')
      rows.append(row)
  return rows


# --- Tables. ---


def _pct(x: float) -> str:
  return f'{100 * x:.1f}'


def _num(x: float | None, digits: int = 3) -> str:
  return '' if x is None else f'{x:.{digits}f}'


def _settings_label(settings: Mapping[str, Any], leaf: bool = True,
                    seed: bool = False) -> str:
  """A trial's settings, `field=value, ...`, values as the override flags
  write them (`sweeps.format_value`); `leaf`: the last part of each dotted
  field name only; `seed`: the seed too."""
  return sweeps.settings_text(
      ((k.rsplit('.', 1)[-1] if leaf else k, v)
       for k, v in settings.items() if seed or k != 'seed'), ', ')


def _done(rows):
  return [r for r in rows if r['status'] == 'done' and r['metrics']]


def task_errors(metrics: Mapping[str, float], split: str = 'test'
                ) -> dict[int, float]:
  """`{task: error}` of a bAbI evaluation's `<split>/error_task_<t>`."""
  out = {}
  for key, value in metrics.items():
    m = re.fullmatch(rf'{split}/error_task_(\d+)', key)
    if m:
      out[int(m.group(1))] = value
  return dict(sorted(out.items()))


def _task_of(row) -> int | None:
  return row['settings'].get('task.tasks')


def _failed(errors: Sequence[float]) -> int:
  """The number of failed bAbI tasks among test errors."""
  return sum(e > FAILED_ABOVE for e in errors)


def _picked(rows):
  """The run with the lowest validation error (the papers' best of N)."""
  return min(rows, key=lambda r: r['metrics'].get('valid/error', math.inf))


def _seed_walls(rows, seeds: Sequence[int]) -> list[float | None]:
  """Each seed's wall time, summed over its runs (one model per task); None
  where one of them was not recorded."""
  walls = []
  for x in seeds:
    times = [r.get('wall_seconds') for r in rows if r['seed'] == x]
    walls.append(None if None in times else sum(times))
  return walls


def _walls_range(walls: Sequence[float | None], unit: str = 's') -> str:
  """`lo-hi unit` over the recorded times, saying how many were not (runs
  from before memax recorded wall time)."""
  known = [w for w in walls if w is not None]
  if not known:
    return 'not recorded'
  missing = len(walls) - len(known)
  return f'{_range(known)} {unit}' + (f' ({missing} not recorded)'
                                      if missing else '')


def _runs(rows) -> list[list[float]]:
  """Each seed's test errors per task, in seed order: a joint run's, or the
  one-model-per-task runs of that seed (by task)."""
  if not any(_task_of(r) is not None for r in rows):
    return [list(task_errors(r['metrics']).values())
            for r in sorted(rows, key=lambda r: r['seed'])]
  by_seed = {}
  for r in sorted(rows, key=_task_of):
    by_seed.setdefault(r['seed'], []).append(r['metrics']['test/error'])
  return [by_seed[x] for x in _complete_seeds(rows)]


def _complete_seeds(rows) -> list[int]:
  """The seeds of a one-model-per-task study that finished every task."""
  tasks = {_task_of(r) for r in rows}
  return sorted(x for x in {r['seed'] for r in rows}
                if {_task_of(r) for r in rows if r['seed'] == x} == tasks)


def _seeds_text(seeds: Sequence[int]) -> str:
  seeds = sorted(seeds)
  if len(seeds) == 1:
    return f'seed {seeds[0]}'
  if seeds == list(range(seeds[0], seeds[-1] + 1)):
    return f'{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})'
  return f'{len(seeds)} seeds ({", ".join(map(str, seeds))})'


def _wall_text(rows) -> str:
  """Each run's wall time, or a population's for all its members; the time
  in train steps where a resumed run's wall time was not recorded."""
  walls = [r.get('wall_seconds') for r in rows]
  unit = 's'
  if None in walls and None not in [r.get('train_seconds') for r in rows]:
    walls, unit = [r['train_seconds'] for r in rows], 's in train steps'
  text = _walls_range(walls, unit)
  shared = max(r.get('shared_by') or 1 for r in rows)
  if shared > 1:
    return f'{text} for all {shared} (a population)'
  return text + (' each' if len(rows) > 1 and walls.count(None) == 0 else '')


def _epochs_text(rows) -> str:
  epochs = sorted({r.get('epochs') for r in rows if r.get('epochs')})
  return ('epochs ' + ', '.join(f'{e:g}' for e in epochs)) if epochs else ''


def _commits_text(rows) -> str:
  commits = sorted({r['commit'] + ('+' if r.get('dirty') else '')
                    for r in rows if r.get('commit')})
  return ('commit' + ('s ' if len(commits) > 1 else ' ')
          + ', '.join(commits)) if commits else 'commit unknown'


def babi_tasks(studies: Mapping[str, list], args: Sequence[str],
               spec: Sequence[str]) -> list[str]:
  """Per-task test error of one bAbI study: mean, min-max, the pick.

  A joint study (one model for all tasks) picks the seed with the lowest
  validation error; a study of one model per task (`task.tasks` among its
  settings) picks per task.
  """
  del spec
  (name,) = args
  rows = _done(studies[name])
  if not rows:
    return [f'### {name}: no finished trial', '']
  per_task = any(_task_of(r) is not None for r in rows)
  if per_task:
    by_task = {}
    for r in rows:
      by_task.setdefault(_task_of(r), []).append(r)
    tasks = sorted(by_task)
    complete = _complete_seeds(rows)
    test = _runs(rows)  # each complete seed's errors, in task order.
    best_row = [_picked(by_task[t])['metrics']['test/error'] for t in tasks]
    label = 'best seed per task on validation'
    walls = _seed_walls(rows, complete)
    head = (f'### {name} (one model per task): {_seeds_text(complete)}, '
            f'{_epochs_text(rows)}, {_walls_range(walls)} for its {len(tasks)}'
            f' task{"s" if len(tasks) > 1 else ""}, {_commits_text(rows)}')
  else:
    rows = sorted(rows, key=lambda r: r['seed'])
    tasks = list(task_errors(rows[0]['metrics']))
    test = _runs(rows)
    best = _picked(rows)
    best_row = list(task_errors(best['metrics']).values())
    label = f'best on validation (seed {best["seed"]})'
    head = (f'### {name}: {_seeds_text([r["seed"] for r in rows])}, '
            f'{_epochs_text(rows)}, {_wall_text(rows)}, '
            f'{_commits_text(rows)}')
  lines = [head, '',
           f'| task | test error % (mean over seeds) | min-max | {label} |',
           '|---|---|---|---|']
  columns = list(zip(*test))
  for t, col, b in zip(tasks, columns, best_row):
    lines.append(f'| {t} | {_pct(sum(col) / len(col))} | {_pct(min(col))}-'
                 f'{_pct(max(col))} | {_pct(b)} |')
  means = [sum(r) / len(r) for r in test]
  failed = [_failed(r) for r in test]
  lines += [f'| **mean error** | {_pct(sum(means) / len(means))} | '
            f'{_pct(min(means))}-{_pct(max(means))} | '
            f'{_pct(sum(best_row) / len(best_row))} |',
            f'| **failed (> 5 %)** | {sum(failed) / len(failed):.1f} | '
            f'{min(failed)}-{max(failed)} | {_failed(best_row)} |', '']
  return lines


def babi_runs(studies, args, spec):
  """Per-task test error of joint bAbI runs side by side, a column per
  finished trial: `babi_runs`, spec lines `study | label`; a trial's
  column is headed by the label, its settings other than the seed, and
  its seed. Below the tasks: the mean test error, the tasks failed
  (> 5 %), and the validation and training errors of the evaluated
  checkpoint, where logged."""
  del args
  columns = []
  for line in spec:
    name, label = [c.strip() for c in line.split(' | ')]
    for r in sorted(_done(studies[name]),
                    key=lambda r: (sorted(r['settings'].items()), r['seed'])):
      settings = _settings_label(r['settings'])
      head = ', '.join(x for x in (label, settings, f'seed {r["seed"]}')
                       if x)
      columns.append((head, r))
  if not columns:
    return ['No finished trial.', '']
  errors = [task_errors(r['metrics']) for _, r in columns]
  tasks = sorted(set().union(*errors))
  lines = ['| task | ' + ' | '.join(h for h, _ in columns) + ' |',
           '|---' * (1 + len(columns)) + '|']
  for t in tasks:
    lines.append(f'| {t} | ' + ' | '.join(
        _pct(e[t]) if t in e else '-' for e in errors) + ' |')
  means = [_pct(sum(e.values()) / len(e)) if e else '-' for e in errors]
  lines.append('| **mean test error** | ' + ' | '.join(means) + ' |')
  lines.append('| **failed (> 5 %)** | ' + ' | '.join(
      str(_failed(list(e.values()))) for e in errors) + ' |')
  for split in ('valid', 'train'):
    values = [r['metrics'].get(f'{split}/error') for _, r in columns]
    if any(v is not None for v in values):
      lines.append(f'| {split} error | ' + ' | '.join(
          '-' if v is None else _pct(v) for v in values) + ' |')
  return lines + ['']


def pick_per_task(studies: Mapping[str, list], names: Sequence[str]
                  ) -> list[tuple[int, dict[str, Any]]]:
  """Per task, the run of any of the studies with the lowest validation
  error (ties: the earlier study, then the lower seed)."""
  out = {}
  for order, name in enumerate(names):
    for r in _done(studies[name]):
      key = (r['metrics'].get('valid/error', math.inf), order, r['seed'])
      t = _task_of(r)
      if t not in out or key < out[t][0]:
        out[t] = (key, r)
  return [(t, out[t][1]) for t in sorted(out)]


def babi_pick(studies, args, spec):
  """Per task, the run (any study, any seed) picked on validation."""
  del spec
  picks = pick_per_task(studies, args)
  lines = [f'### pick per task on validation among {" / ".join(args)}', '',
           '| task | chosen | test error % |', '|---|---|---|']
  for t, r in picks:
    lines.append(f'| {t} | {r["study"]} seed{r["seed"]} | '
                 f'{_pct(r["metrics"]["test/error"])} |')
  errors = [r['metrics']['test/error'] for _, r in picks]
  lines += [f'| **mean error** ({len(picks)} tasks) | | '
            f'{_pct(sum(errors) / len(errors))} |',
            f'| **failed (> 5 %)** | | {_failed(errors)} |', '']
  return lines


def _range(values, fmt=lambda v: f'{v:,.0f}') -> str:
  lo, hi = min(values), max(values)
  return fmt(lo) if fmt(lo) == fmt(hi) else f'{fmt(lo)}-{fmt(hi)}'


def _babi_summary_cells(studies, names: Sequence[str]) -> list[str]:
  """Seeds, epochs, wall, mean (min-max), failed, best of N of a row."""
  if len(names) > 1:  # a pick per task among studies
    picks = pick_per_task(studies, names)
    errors = [r['metrics']['test/error'] for _, r in picks]
    failed = [t for (t, r), e in zip(picks, errors) if e > FAILED_ABOVE]
    seeds = ' + '.join(str(len({r['seed'] for r in _done(studies[n])}))
                       for n in names)
    epochs = sorted({r.get('epochs') for n in names
                     for r in _done(studies[n])})
    return [seeds, _range(epochs), '-',
            f'{_pct(sum(errors) / len(errors))} %',
            f'{len(failed)} (tasks {", ".join(map(str, failed))})', '-']
  rows = _done(studies[names[0]])
  per_task = any(_task_of(r) is not None for r in rows)
  epochs = _range([r.get('epochs') or 0 for r in rows])
  runs = _runs(rows)
  if per_task:
    walls = _seed_walls(rows, _complete_seeds(rows))
    wall = f'{_walls_range(walls)} for all {len(runs[0])}'
    best = [r['metrics']['test/error'] for _, r in
            pick_per_task(studies, names)]
    best_label = ' (seed picked per task)'
  else:
    wall = _wall_text(rows).replace(' each', '')
    best = list(task_errors(_picked(rows)['metrics']).values())
    best_label = ''
  means = [sum(r) / len(r) for r in runs]
  failed = [_failed(r) for r in runs]
  mean = f'{_pct(sum(means) / len(means))} %'
  if len(runs) > 1:
    mean += f' ({_pct(min(means))}-{_pct(max(means))})'
  best_text = (f'{_pct(sum(best) / len(best))} % / '
               f'{_failed(best)}{best_label}'
               if len(runs) > 1 else '-')
  failed_text = (f'{sum(failed) / len(failed):.1f}' if len(runs) > 1
                 else str(failed[0]))
  return [str(len(runs)), epochs, wall, mean, failed_text, best_text]


def babi_summary(studies, args, spec):
  """The summary table: one row per spec line
  `study[+study...] | setting | command | published`."""
  del args
  lines = ['| model and setting | study (its command above) | seeds | epochs | '
           'wall per run | mean error over seeds (min-max) | failed tasks, '
           'mean | best of N on validation: error / failed | published |',
           '|---|---|---|---|---|---|---|---|---|']
  for line in spec:
    names, setting, command, published = [c.strip() for c in
                                          line.split(' | ')]
    cells = _babi_summary_cells(studies, names.split('+'))
    lines.append('| ' + ' | '.join([setting, command, *cells, published])
                 + ' |')
  return lines + ['']


def _cell(studies, expr: str) -> str:
  """One cell of `cells`: `STUDY:split/metric[@digits]` (the metric of each
  seed's run, in seed order), or of a bAbI study `STUDY:T` (task T's test error, training error
  in brackets: seed 0's run of a one-model-per-task study, the mean over
  seeds of a joint one), `STUDY:T:test` (without the bracket),
  `STUDY:mean` (the mean over seeds of the mean test error, with its
  min-max), `STUDY:failed` (the mean number of failed tasks); anything
  else is text."""
  name, _, what = expr.partition(':')
  if name not in studies or not what:
    return expr
  rows = _done(studies[name])
  if '/' in what:  # a metric: its value in each seed's run
    metric, _, digits = what.partition('@')
    return _seed_list(sorted(rows, key=lambda r: r['seed']), metric,
                      int(digits or 2))
  per_task = any(_task_of(r) is not None for r in rows)
  if what in ('mean', 'failed'):
    runs = _runs(rows)
    if what == 'failed':
      failed = [_failed(r) for r in runs]
      return f'{sum(failed) / len(failed):.1f}'
    means = [sum(r) / len(r) for r in runs]
    text = f'{_pct(sum(means) / len(means))} %'
    return (text + f' ({_pct(min(means))}-{_pct(max(means))})'
            if len(runs) > 1 else text + ' (1 seed)')
  task, _, only = what.partition(':')
  task = int(task)
  if per_task:
    runs = [r for r in rows if _task_of(r) == task]
    seed0 = min(runs, key=lambda r: r['seed'])['metrics']
    test, train = seed0['test/error'], seed0.get('train/error')
  else:
    test = sum(task_errors(r['metrics'])[task] for r in rows) / len(rows)
    train = sum(task_errors(r['metrics'], 'train')[task]
                for r in rows) / len(rows)
  if only == 'test' or train is None:
    return f'{_pct(test)} %'
  return f'{_pct(test)} % ({100 * train:.0f} %)' if train >= 0.05 else (
      f'{_pct(test)} % ({_pct(train)} %)')


def cells(studies, args, spec):
  """A comparison: spec line 1 the header, then `label | cell | ...` rows
  (`_cell`)."""
  del args
  header = [c.strip() for c in spec[0].split(' | ')]
  lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
  for line in spec[1:]:
    label, *cells = [c.strip() for c in line.split(' | ')]
    lines.append('| ' + ' | '.join([label] + [_cell(studies, c)
                                               for c in cells]) + ' |')
  return lines + ['']


def _variant_order(metrics: Mapping[str, float]) -> list[str]:
  splits = sorted({k.split('/')[0] for k in metrics})
  rest = sorted((s for s in splits if s != 'train'),
                key=lambda v: [int(x) for x in re.findall(r'\d+', v)])
  return (['train'] if 'train' in splits else []) + rest


def runs(studies, args, spec):
  """Every trial's final evaluation, a row per variant (algorithmic tasks):
  bit errors and cost per sequence, and any other metric."""
  del spec
  lines = ['| study | seed | steps | wall (s) | variant | bit errors / seq | '
           'cost (bits / seq) | other |', '|---|---|---|---|---|---|---|---|']
  for name in args:
    for r in sorted(studies[name], key=lambda r: r['seed']):
      wall = _num(r.get('wall_seconds'), 0)
      if not r['metrics']:
        lines.append(f'| {name} | {r["seed"]} | {r.get("steps", "")} | '
                     f'{wall} | {r["status"]} | | | |')
        continue
      for v in _variant_order(r['metrics']):
        m = {k.split('/', 1)[1]: x for k, x in r['metrics'].items()
             if k.split('/', 1)[0] == v}
        other = ', '.join(f'{k} {x:.3f}' for k, x in sorted(m.items())
                          if k not in ('bit_errors', 'cost_bits', 'loss'))
        lines.append(f'| {name} | {r["seed"]} | {r.get("steps", "")} | '
                     f'{wall} | {v} | {_num(m.get("bit_errors"))} | '
                     f'{_num(m.get("cost_bits"))} | {other} |')
  return lines + ['']


def _short(v: float, digits: int) -> str:
  """`v` to `digits` decimals, trailing zeros dropped; a value that would
  round to 0 but is not 0 keeps two significant figures (0.0039, not 0)."""
  if v != 0 and abs(v) < 0.5 * 10.0 ** -digits:
    return f'{v:.2g}'
  text = f'{v:.{digits}f}'
  if '.' in text:
    text = text.rstrip('0').rstrip('.')
  return '0' if text == '-0' else text


def _seed_list(rows, metric: str, digits: int) -> str:
  values = [r['metrics'].get(metric) for r in rows]
  return ', '.join('-' if v is None else _short(v, digits) for v in values)


def _last_periodic(row, metric: str) -> str:
  """A stopped run's last periodic value of `metric` (from its curve)."""
  c = row.get('curve')
  if not c or c['metric'] != f'eval/{metric}':
    return '-'
  return f'{c["values"][-1]:.1f} at {c["steps"][-1]:,} (periodic)'


def seeds_table(studies, args, spec):
  """One row per spec line `study | task | model | protocol | verdict`:
  the seeds, steps, wall time, the training distribution's bit errors and
  each generalisation variant's, per seed (in seed order). A run stopped
  before its final evaluation shows its last periodic evaluation; a trial
  with no steps recorded (pending, or started with none exported yet) shows
  '-' and is left out of the wall time, and the seeds column then says how
  many of the sweep's seeds have run."""
  del args
  lines = ['| task | model | protocol | seeds | steps | wall | training '
           'distribution: bit errors / seq | generalisation (bit errors / '
           'seq) | verdict |', '|---|---|---|---|---|---|---|---|---|']
  for line in spec:
    name, task, model, protocol, verdict = [c.strip() for c in
                                            line.split(' | ')]
    rows = sorted(studies[name], key=lambda r: r['seed'])
    done = [r for r in rows if r['metrics']]
    run = [r for r in rows if r.get('steps')]
    seeds = (f'{len(rows)}' if len(run) == len(rows) else
             f'{len(run)} of {len(rows)}')
    steps = ', '.join(f'{r["steps"]:,}' if r.get('steps') else '-'
                      for r in rows)
    wall = _wall_text(run).replace(' each', '') if run else '-'
    variants = [v for v in _variant_order(done[0]['metrics'])
                if v != 'train'] if done else []
    general = '; '.join(f'{v}: {_seed_list(rows, f"{v}/bit_errors", 2)}'
                        for v in variants) or '(no variants)'
    train = ', '.join(
        _seed_list([r], 'train/bit_errors', 2) if r['metrics'] else
        _last_periodic(r, 'train/bit_errors') for r in rows)
    lines.append(f'| {task} | {model} | {protocol} | {seeds} | {steps} '
                 f'| {wall} | {train} | {general} | {verdict} |')
  return lines + ['']


def curve_table(studies, args, spec):
  """A metric of the periodic evaluations at given steps, a row per trial:
  `curve STUDY[,STUDY...] STEP,STEP,... [percent]` (`percent`: a fraction
  shown as a percentage)."""
  del spec
  names, steps = args[0].split(','), [int(s) for s in args[1].split(',')]
  scale = 100.0 if args[2:] == ['percent'] else 1.0
  metric = None
  lines = []
  for name in names:
    for r in sorted(studies[name], key=lambda r: r['seed']):
      c = r.get('curve')
      if not c:
        continue
      metric = metric or c['metric']
      at = {k: v * scale for k, v in zip(c['steps'], c['values'])}
      settings = _settings_label(r['settings'], leaf=False, seed=True)
      lines.append(f'| {name} | {settings} | ' + ' | '.join(
          _num(at.get(s), 1) or '-' for s in steps)
                   + f' | {c["steps"][-1]:,} | '
                   f'{_num(c["values"][-1] * scale, 1)} |')
  head = [f'| study | settings | ' + ' | '.join(f'{s:,}' for s in steps)
          + ' | last step | last value |', '|---' * (len(steps) + 4) + '|']
  unit = ' (%)' if scale != 1.0 else ''
  return [f'{metric}{unit} at each step:', ''] + head + lines + ['']


def _mean_sd(values: Sequence[float], digits: int) -> str:
  mean = sum(values) / len(values)
  if len(values) == 1:
    return _short(mean, digits)
  sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
  return f'{_short(mean, digits)} +- {_short(sd, digits)}'


def groups(studies, args, spec):
  """A study's trials grouped by their settings but the seed: per group,
  each metric's mean +- sd over the finished seeds (sample sd) and the
  best seed's value. `groups METRIC[@DIGITS][,METRIC...] [max]` (`max`:
  the largest is best, else the smallest), spec lines `study | model`.
  A group with no finished seed shows its trials' status."""
  metrics = args[0].split(',')
  best = max if args[1:] == ['max'] else min
  names = [m.partition('@')[0] for m in metrics]
  lines = ['| model | settings | seeds | steps | wall | ' + ' | '.join(
      f'{n}: mean +- sd | best' for n in names) + ' |',
           '|---' * (5 + 2 * len(names)) + '|']
  for line in spec:
    name, model = [c.strip() for c in line.split(' | ')]
    by_group = {}
    for r in sorted(studies[name], key=lambda r: r['seed']):
      key = tuple(sorted((k, v) for k, v in r['settings'].items()
                         if k != 'seed'))
      by_group.setdefault(key, []).append(r)
    for key, rows in by_group.items():
      settings = _settings_label(dict(key))
      done = _done(rows)
      # Trials not started yet (a grown sweep's) count in the seeds only.
      started = [r for r in rows if r.get('steps')]
      steps = sorted({r['steps'] for r in started})
      head = (f'| {model} | {settings or "-"} | {len(done)} of {len(rows)} '
              f'| {_range(steps) if steps else "-"} | '
              f'{_wall_text(started) if started else "-"} |')
      cells = []
      for metric in metrics:
        metric, _, digits = metric.partition('@')
        values = [r['metrics'][metric] for r in done
                  if metric in r['metrics']]
        digits = int(digits or 2)
        cells += ([_mean_sd(values, digits), _short(best(values), digits)]
                  if values else
                  [', '.join(sorted({r['status'] for r in rows})), ''])
      lines.append(head + ' ' + ' | '.join(cells) + ' |')
  return lines + ['']


def _evaluated_with(overrides: Sequence[str]) -> str:
  """An evaluation's overrides as a table cell, plotting and saved
  arrays left out."""
  shown = [o.removeprefix('model.').removeprefix('task.')
           for o in overrides
           if not o.startswith(('evals.plot', 'evals.arrays'))]
  return ', '.join(shown) or 'the trained config'


def evaluations_table(studies, args, spec):
  """Each trial's final evaluation and its later ones (`memax.evaluate`:
  a larger memory, longer sequences, ...), a row each:
  `evaluations METRIC[@DIGITS][,METRIC...]`, spec lines `study | model`.
  `perfect` metrics (a fraction) show as percentages. A metric an
  evaluation did not log shows '-'."""
  metrics = [m.partition('@') for m in args[0].split(',')]
  lines = ['| model | settings | seed | evaluated with | step | '
           + ' | '.join(m for m, _, _ in metrics) + ' |',
           '|---' * (5 + len(metrics)) + '|']

  def cells(values):
    out = []
    for metric, _, digits in metrics:
      v = values.get(metric)
      if v is None:
        out.append('-')
      elif metric.endswith('/perfect'):
        out.append(f'{_short(100 * v, int(digits or 1))} %')
      else:
        out.append(_short(v, int(digits or 2)))
    return ' | '.join(out)

  for line in spec:
    name, model = [c.strip() for c in line.split(' | ')]
    for r in sorted(studies[name], key=lambda r: r['seed']):
      settings = _settings_label(r['settings']) or '-'
      head = f'| {model} | {settings} | {r["seed"]} |'
      if r['metrics']:
        lines.append(f'{head} final evaluation | {r.get("steps", 0):,} | '
                     + cells(r['metrics']) + ' |')
      for e in r.get('evaluations', ()):
        step = e.get('step')
        step = '-' if step is None else (
            f'{step:,}' + (' (best)' if e.get('best') else ''))
        lines.append(f'{head} {_evaluated_with(e["overrides"])} | {step} | '
                     + cells(e['metrics']) + ' |')
  return lines + ['']


def compare(studies, args, spec):
  """Two studies seed by seed: `compare A B METRIC[,METRIC...]`, each
  metric's value in A and in B and whether they are equal (as stored, to 6
  significant digits), e.g. a study re-run against its recorded results."""
  del spec
  a, b, metrics = args[0], args[1], args[2].split(',')
  by_seed = []
  for n in (a, b):
    present = [r['seed'] for r in studies[n]]
    if len(set(present)) != len(present):
      raise ValueError(f'compare: study {n} has several rows for a seed '
                       f'({sorted(present)}); compare studies of one row per '
                       'seed.')
    by_seed.append({r['seed']: r for r in studies[n]})
  seeds = sorted(set(by_seed[0]) | set(by_seed[1]))
  head = ['seed'] + [f'{m}: {n}' for m in metrics for n in (a, b)] + [
      'equal']
  lines = ['| ' + ' | '.join(head) + ' |', '|---' * len(head) + '|']
  same_count = in_both = 0
  for seed in seeds:
    pair = [d.get(seed, {}).get('metrics', {}) for d in by_seed]
    cells = [f'{p[m]:.4g}' if m in p else '-' for m in metrics for p in pair]
    same = all(m in pair[0] and m in pair[1] and (
        pair[0][m] == pair[1][m]
        or (math.isnan(pair[0][m]) and math.isnan(pair[1][m])))
               for m in metrics)
    same_count += same
    both = seed in by_seed[0] and seed in by_seed[1]
    in_both += both
    lines.append(f'| {seed} | ' + ' | '.join(cells) + ' | '
                 + ('yes' if same else 'no' if all(pair) else '-') + ' |')
  only = len(seeds) - in_both
  return lines + ['', f'Equal in {same_count} of the {in_both} seeds in both'
                  + (f' ({only} in one only).' if only else '.'), '']


def command(rows: Sequence[Mapping[str, Any]], study: str) -> str:
  """The `memax.sweep` command of a study: its config with `seeds=N`, its
  executor unless local (a population trains its seeds as one process),
  and the settings every trial shares (the rest come from the file's
  sweep)."""
  config = rows[0]['config']
  if not config:
    raise ValueError(f'study {study!r} holds plain runs (memax.main '
                     'workdirs), not a sweep: it has no sweep command to '
                     'show; give its commands in the README\'s text.')
  tasks = {r['settings'].get('task.tasks') for r in rows}
  path, _, arg = config.partition(':')
  # The sweep's own `seeds=N` is replaced by the seeds the file holds.
  items = [i for i in (arg.split(',') if arg else [])
           if not i.startswith('seeds=')]
  if 'each_task' in items and len(tasks) == 1 and None not in tasks:
    # One task of a one-model-per-task sweep: that task's config.
    items[items.index('each_task')] = f'tasks={tasks.pop()}'
  config = f'{path}:{",".join(items)}' if items else path
  seeds = sorted({r['seed'] for r in rows})
  if seeds == list(range(len(seeds))):
    sep = ',' if ':' in config else ':'
    config += f'{sep}seeds={len(seeds)}'
  shared = {}
  for key, value in rows[0]['settings'].items():
    if key not in ('seed', 'task.tasks') and all(r['settings'].get(key, value) == value and
                             key in r['settings'] for r in rows):
      shared[key] = value
  flags = ' '.join(f'--config.{k}={sweeps.format_value(v)}'
                   for k, v in shared.items())
  executor = rows[0].get('executor')  # Absent: the local executor.
  return (f'python -m memax.sweep --config={config} --workdir=$RUNS/{study}'
          + (f' --executor={executor}' if executor else '')
          + (f' {flags}' if flags else ''))


def commands(studies, args, spec):
  """The sweep command of each study, a spec line `study | comment` each."""
  del args
  lines = ['```bash']
  for line in spec:
    name, _, comment = [c.strip() for c in line.partition(' | ')]
    lines.append(command(studies[name], name)
                 + (f'   # {comment}' if comment else ''))
  return lines + ['```', '']


def instances(studies, args, spec):
  """Accuracy by instance (one-shot learning), in percent:
  `instances STUDY[,STUDY...] SPLIT K,K,...`, a row per trial (its final
  evaluation of SPLIT's `accuracy_K`), a mean row per study of several
  seeds, then the spec lines `label | value | ...` as they are (published
  figures beside ours)."""
  names, split = args[0].split(','), args[1]
  ks = [int(k) for k in args[2].split(',')]
  ordinal = {1: '1st', 2: '2nd', 3: '3rd'}
  head = (['study', 'seed', 'steps', 'wall (min)', 'train (min)']
          + [ordinal.get(k, f'{k}th') for k in ks])
  lines = ['| ' + ' | '.join(head) + ' |', '|---' * len(head) + '|']

  def values(metrics):
    return [metrics.get(f'{split}/accuracy_{k}') for k in ks]

  def pct(v):
    return '-' if v is None else f'{100 * v:.1f}'

  for name in names:
    rows = sorted(studies[name], key=lambda r: r['seed'])
    for r in rows:
      wall, train = (r.get(k) for k in ('wall_seconds', 'train_seconds'))
      minutes = ' | '.join(('-' if r.get('steps') else '') if v is None
                           else f'{v / 60:.0f}' for v in (wall, train))
      cells = ([pct(v) for v in values(r['metrics'])] if r['metrics']
               else [r['status']] + [''] * (len(ks) - 1))
      steps = r.get('steps')
      steps = '' if steps is None else f'{steps:,}'
      lines.append(f'| {name} | {r["seed"]} | {steps} | {minutes} | '
                   + ' | '.join(cells) + ' |')
    done = _done(rows)
    if len(done) > 1:
      per_seed = [values(r['metrics']) for r in done]
      means = [None if any(v[i] is None for v in per_seed)
               else sum(v[i] for v in per_seed) / len(per_seed)
               for i in range(len(ks))]
      lines.append(f'| {name} | mean of {len(done)} | | | | '
                   + ' | '.join(pct(m) for m in means) + ' |')
  for line in spec:
    label, *cells = [c.strip() for c in line.split(' | ')]
    cells += [''] * (len(ks) - len(cells))
    lines.append(f'| {label} | | | | | ' + ' | '.join(cells[:len(ks)])
                 + ' |')
  return lines + ['']


TABLES: dict[str, Callable[..., list[str]]] = {
    'babi_tasks': babi_tasks, 'babi_pick': babi_pick,
    'babi_summary': babi_summary, 'babi_runs': babi_runs, 'cells': cells,
    'runs': runs, 'seeds': seeds_table,
    'curve': curve_table, 'commands': commands, 'compare': compare,
    'instances': instances, 'groups': groups,
    'evaluations': evaluations_table,
}

_BLOCK = re.compile(r'<!-- table: (?P<head>[^\n]*?)(?P<spec>\n.*?)?-->\n'
                    r'(?P<body>.*?)<!-- end table -->', re.S)


def _studies_named(kind: str, args: Sequence[str], spec: Sequence[str]
                   ) -> list[str]:
  if kind in ('babi_summary', 'babi_runs', 'seeds', 'commands', 'groups',
              'evaluations'):
    return [n for line in spec for n in line.split(' | ')[0].strip()
            .split('+')]
  if kind in ('curve', 'instances'):
    return args[0].split(',')
  if kind == 'compare':
    return list(args[:2])
  if kind == 'cells':
    return sorted({c.split(':')[0] for line in spec[1:]
                   for c in line.split(' | ')[1:] if ':' in c})
  return list(args)


def render(text: str, results_dir: str) -> str:
  """`text` with every table block regenerated from `results_dir`. A study
  named `<experiment>/<study>` is another experiment's, read from
  `<results_dir>/../../<experiment>/results/<study>.jsonl` (the NTM's
  results beside the DNC's, say)."""
  cache = {}

  def study(name):
    if name not in cache:
      where, base = os.path.split(name)
      folder = (os.path.join(results_dir, os.pardir, os.pardir, where,
                             'results') if where else results_dir)
      cache[name] = load(os.path.join(folder, f'{base}.jsonl'))
    return cache[name]

  def replace(m):
    kind, *args = m.group('head').split()
    if kind not in TABLES:
      raise ValueError(f'Table kind {kind!r} (in "<!-- table: '
                       f'{m.group("head")}"): expected one of '
                       f'{sorted(TABLES)}.')
    spec = [s for s in (m.group('spec') or '').split('\n') if s.strip()]
    studies = {n: study(n) for n in _studies_named(kind, args, spec)}
    body = '\n'.join(TABLES[kind](studies, args, spec))
    return (f'<!-- table: {m.group("head")}{m.group("spec") or ""}-->\n'
            f'{body}\n<!-- end table -->')

  return _BLOCK.sub(replace, text)


def update_readme(path: str, check: bool = False) -> bool:
  """Regenerates the README's tables; returns whether they were current."""
  with open(path) as f:
    text = f.read()
  new = render(text, os.path.join(os.path.dirname(path), 'results'))
  if new != text and not check:
    workdir_lib.write_text(path, new)
  return new == text


def main(argv: Sequence[str]) -> None:
  del argv
  if bool(_EXPORT.value) == bool(_TABLES.value):
    raise app.UsageError('Give --export=SWEEP_DIR --to=FILE, or '
                         '--tables=README.md.')
  if _EXPORT.value:
    if not _TO.value:
      raise app.UsageError('--export needs --to=FILE (the results file).')
    rows = export(_EXPORT.value, _STUDY.value, _CURVE.value)
    kept = []
    if os.path.exists(_TO.value):
      rows, kept = keep_written(rows, load(_TO.value))
    write(_TO.value, rows)
    counts = {}
    for r in rows:
      counts[r['status']] = counts.get(r['status'], 0) + 1
    print(f'{_TO.value}: {len(rows)} trials ({counts}).'
          + (f' Kept from the file, never started in {_EXPORT.value}: '
             f'{", ".join(kept)}.' if kept else ''))
    return
  stale = []
  for path in _TABLES.value:
    try:
      if not update_readme(path, _CHECK.value):
        stale.append(path)
    except (ValueError, FileNotFoundError) as e:
      # A table naming a study without a results file, or a bad table
      # spec: one message naming the README, no traceback.
      sys.exit(f'memax.studies: {path}: {e}')
  if _CHECK.value and stale:
    print('Stale tables (run python -m memax.studies --tables=... to '
          f'rewrite them): {stale}')
    sys.exit(1)
  print(('Checked: ' if _CHECK.value else 'Rewritten: ')
        + ', '.join(_TABLES.value))


if __name__ == '__main__':
  app.run(main)
