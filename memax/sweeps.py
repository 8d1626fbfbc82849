"""Sweeps as data: the trials of a config file's `sweep` and `--sweep` flags.

A sweep is a list of trials; a trial is a set of config overrides, in the
one override syntax (`memax.overrides`). A config file may define its sweep
next to `get_config` (big_vision's contract):

  def sweep(add, arg=None):
    for lr in (1e-4, 3e-4):
      for seed in range(3):
        add(**{'optimizer.learning_rate': lr, 'seed': seed})

and the command line adds a product over repeated flags:

  --sweep=seed=0,1,2,3 --sweep=optimizer.learning_rate=1e-4,3e-4

The trials are the file's trials times that product (either alone when the
other is absent). Values given as text are parsed by the field's type;
commas inside brackets, parentheses or quotes do not split values, so a
tuple field takes `--sweep=task.eval_lengths=(20,40),(80,)`. Every trial is
checked against the config before anything runs: an unknown field or a
value of the wrong type is an error naming the field.
"""

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

import ml_collections

from memax import overrides as overrides_lib
from memax.training import population


@dataclasses.dataclass(frozen=True)
class Trial:
  """One trial: its index in the sweep, a folder name, and its overrides."""
  index: int
  name: str
  overrides: tuple[tuple[str, Any], ...]  # (path, value), in sweep order

  def as_dict(self) -> dict[str, Any]:
    return dict(self.overrides)

  def flags(self) -> list[str]:
    """The launcher's `--config.a.b=text` flags for this trial."""
    return [f'--config.{p}={format_value(v)}' for p, v in self.overrides]


def format_value(value: Any) -> str:
  """The override text that parses back to `value` (`overrides.parse_value`)."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, (tuple, list)):
    return ','.join(format_value(v) if not isinstance(v, str) else repr(v)
                    for v in value)
  if isinstance(value, float):
    return repr(value)
  return str(value)


def split_values(text: str) -> list[str]:
  """`'a,(b,c),"d,e"'` -> `['a', '(b,c)', '"d,e"']`: top-level commas only."""
  values, depth, quote, start = [], 0, None, 0
  for i, ch in enumerate(text):
    if quote:
      if ch == quote:
        quote = None
    elif ch in '\'"':
      quote = ch
    elif ch in '([{':
      depth += 1
    elif ch in ')]}':
      depth -= 1
    elif ch == ',' and depth == 0:
      values.append(text[start:i].strip())
      start = i + 1
  values.append(text[start:].strip())
  return values


def parse_flag(flag: str, config: ml_collections.ConfigDict
               ) -> tuple[str, list[Any]]:
  """`'field=v1,v2'` -> `(field, [v1, v2])`, parsed by the field's type."""
  path, sep, text = flag.partition('=')
  path = path.strip()
  if path.startswith(overrides_lib.PREFIX):
    path = path[len(overrides_lib.PREFIX):]
  elif path.startswith('config.'):
    path = path[len('config.'):]
  if not sep or not path or not text.strip():
    raise ValueError(f'--sweep={flag!r}: expected --sweep=field=value1,value2 '
                     '(for example --sweep=seed=0,1,2).')
  current = overrides_lib.current_value(config, path)
  values = []
  for item in split_values(text):
    if not item:
      raise ValueError(f'--sweep={flag!r}: an empty value.')
    if isinstance(current, (tuple, list)) and item[:1] in '([':
      item = item[1:-1]  # '(20,40)' is the tuple 20,40
    elif isinstance(current, str) and len(item) > 1 and item[0] == item[-1] \
        and item[0] in '\'"':
      item = item[1:-1]  # a quoted string may hold commas
    values.append(overrides_lib.parse_value(item, current, path))
  return path, values


def _load_module(config_arg: str) -> Any:
  path = config_arg.split(':', 1)[0]
  spec = importlib.util.spec_from_file_location('memax_sweep_config', path)
  if spec is None or spec.loader is None:
    raise FileNotFoundError(f'--config={config_arg}: cannot load {path}.')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_file_sweep(config_arg: str) -> Callable[..., Any] | None:
  """The `sweep` function of the config file `path[:arg]`, or None."""
  return getattr(_load_module(config_arg), 'sweep', None)


def load_file_config(config_arg: str) -> ml_collections.ConfigDict:
  """The config that the config file `path[:arg]`'s `get_config` builds."""
  arg = config_arg.partition(':')[2]
  get_config = _load_module(config_arg).get_config
  return get_config(arg) if arg else get_config()


def same_config(config_arg: str, other: str) -> bool:
  """Whether two config-file arguments (`path[:arg]`) build one config: the
  same file, and an argument that differs, if at all, only where it sizes
  a sweep (`seeds=N`), not the config. Raises what loading them raises."""
  if config_arg == other:
    return True
  if config_arg.partition(':')[0] != other.partition(':')[0]:
    return False
  return (load_file_config(config_arg).to_dict()
          == load_file_config(other).to_dict())


def file_trials(sweep_fn: Callable[..., Any], arg: str | None
                ) -> list[dict[str, Any]]:
  """The trials a config file's `sweep(add, arg)` adds, in order."""
  trials = []

  def add(**kwargs):
    trials.append(dict(kwargs))

  sweep_fn(add, arg) if arg is not None else sweep_fn(add)
  return trials


def expand(config: ml_collections.ConfigDict,
           file_sweep: Sequence[Mapping[str, Any]] | None,
           flags: Sequence[str]) -> list[Trial]:
  """The sweep's trials, checked against `config`.

  Args:
    config: the base config (every override is applied to a copy of it).
    file_sweep: the trials of the config file's `sweep`, or None.
    flags: the `--sweep=field=v1,v2` flags.

  Returns:
    The trials: the file's trials times the flags' product.

  Raises:
    ValueError: an empty sweep, a field the config lacks, a bad value, a
      field given twice in one trial, or two identical trials.
  """
  axes = [parse_flag(f, config) for f in flags]
  paths = [p for p, _ in axes]
  if len(set(paths)) != len(paths):
    raise ValueError(f'--sweep names a field twice: {paths}.')
  base = [dict(t) for t in file_sweep] if file_sweep is not None else [{}]
  if file_sweep is not None and not base:
    raise ValueError('The config file\'s sweep(add) added no trial.')
  if not axes and file_sweep is None:
    raise ValueError('An empty sweep: give --sweep=field=v1,v2 flags, or '
                     'define sweep(add, arg) in the config file.')
  trials = []
  for file_part in base:
    for combo in itertools.product(*[values for _, values in axes]):
      merged = dict(file_part)
      for path, value in zip(paths, combo):
        if path in merged:
          raise ValueError(f'--sweep={path}=...: the config file\'s sweep '
                           f'already sets {path} ({merged[path]!r}).')
        merged[path] = value
      trials.append(merged)
  out, seen = [], {}
  for i, trial in enumerate(trials):
    items = tuple((p, _as_value(config, p, v)) for p, v in trial.items())
    # Checked now: an unknown field or a wrong type stops the sweep before
    # anything runs, naming the field.
    overrides_lib.apply(config, dict(items))
    key = json.dumps(items, default=str)
    if key in seen:
      raise ValueError(f'Trials {seen[key]} and {i} of the sweep are the '
                       f'same: {dict(items)}.')
    seen[key] = i
    out.append(Trial(i, trial_name(i, items), items))
  return out


def _trial_key(flags: Sequence[str]) -> str:
  return json.dumps(sorted(flags))


def grow(old: Mapping[str, Any], config_file: str, trials: Sequence[Trial]
         ) -> tuple[list[Trial], list[Trial]] | None:
  """The trials of a sweep directory grown by this command's new ones.

  `old` is the directory's `sweep.json`. A sweep grows when the command
  has every trial the directory has (by their overrides) and more: more
  seeds (`seeds=N` of the config file's argument, or `--sweep=seed=...`)
  or more values of a swept field. The config file's argument may differ
  only where it does not change the config (it sizes the sweep).

  Returns:
    None when this is another sweep, or the directory's own that never
    grew; else `(all trials, added trials)`: the directory's trials first,
    with their numbers and folder names, then the added ones, numbered
    after them (none when a grown sweep is resumed by the same command).

  Raises:
    ValueError: the config file's new argument changes the config.
  """
  if config_file.partition(':')[0] != old['config_file'].partition(':')[0]:
    return None
  known = {_trial_key(t['flags']): t for t in old['trials']}
  mine = {_trial_key(t.flags()): t for t in trials}
  if not set(known) <= set(mine) or (set(known) == set(mine)
                                     and not old.get('grown')):
    return None
  if not same_config(config_file, old['config_file']):
    raise ValueError(
        f'--config={config_file}: the sweep in this --workdir was '
        f'--config={old["config_file"]}, and the new argument changes the '
        'config, not only the trials; give this sweep another --workdir.')
  kept = [Trial(t['index'], t['name'], mine[key].overrides)
          for key, t in known.items()]
  added = []
  for t in trials:
    if _trial_key(t.flags()) not in known:
      index = len(kept) + len(added)
      added.append(Trial(index, trial_name(index, t.overrides), t.overrides))
  return kept + added, added


def _as_value(config, path: str, value: Any) -> Any:
  """A file sweep's value as the field holds it (text parsed by type)."""
  current = overrides_lib.current_value(config, path)
  if isinstance(value, str) and not isinstance(current, str):
    return overrides_lib.parse_value(value, current, path)
  if isinstance(current, float) and isinstance(value, int) and not isinstance(
      value, bool):
    return float(value)
  if isinstance(value, list):
    return tuple(value)
  return value


def settings_text(items: Iterable[tuple[str, Any]], sep: str = ',') -> str:
  """`'a.b=v,c=w'`: overrides as the flags write their values."""
  return sep.join(f'{p}={format_value(v)}' for p, v in items)


def _folder_text(items: Sequence[tuple[str, Any]]) -> str:
  """The overrides as a folder name's text (shortened if long)."""
  text = re.sub(r'[^A-Za-z0-9._=,+-]', '_', settings_text(items))
  if len(text) > 80:
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    text = f'{text[:70]}_{digest}'
  return text


def trial_name(index: int, items: Sequence[tuple[str, Any]]) -> str:
  """A folder name: the index, then the overrides (shortened if long)."""
  text = _folder_text(items)
  return f'{index:03d}_{text}' if text else f'{index:03d}'


# --- Summaries: trial records -> statistics over seeds, best-of-N. ---

_PER_TASK = re.compile(r'_task_\d+$')


def group_key(overrides: Mapping[str, Any]) -> str:
  """The trial's settings without its seed: trials over seeds share it."""
  return settings_text([(p, v) for p, v in overrides.items() if p != 'seed']
                       ) or '-'


def stats(values: Sequence[float]) -> dict[str, float]:
  """n, mean, sd (n - 1; 0 for one value), median, min and max."""
  xs = sorted(float(v) for v in values)
  n = len(xs)
  mean = sum(xs) / n
  sd = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5 if n > 1 else 0.0
  mid = n // 2
  median = xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2
  return {'n': n, 'mean': mean, 'sd': sd, 'median': median, 'min': xs[0],
          'max': xs[-1]}


def report_metrics(trials: Sequence[Mapping[str, Any]]) -> list[str]:
  """The metrics every finished trial has, per-task ones aside, sorted."""
  done = [t['metrics'] for t in trials if t.get('metrics')]
  if not done:
    return []
  common = set(done[0]).intersection(*done[1:])
  return sorted(m for m in common if not _PER_TASK.search(m))


def summarize(trials: Sequence[Mapping[str, Any]], *,
              select: str = 'valid/error', minimize: bool = True
              ) -> dict[str, Any]:
  """Statistics of a sweep's trials.

  Args:
    trials: records `{'name', 'overrides', 'status', 'metrics'}` with
      `metrics` `{'<split>/<metric>': value}` (empty until finished).
    select: the metric that picks the best trial of each group (the papers'
      best-of-N on validation).
    minimize: whether the smallest `select` is best.

  Returns:
    `{'trials', 'counts', 'groups'}`: each group (trials that differ only in
    their seed) has its trials, `stats` of every metric over its finished
    trials, and `picked`: the trial with the best `select` value and its
    metrics (None without `select`).
  """
  counts = {}
  for t in trials:
    counts[t['status']] = counts.get(t['status'], 0) + 1
  groups = {}
  for t in trials:
    groups.setdefault(group_key(t['overrides']), []).append(t)
  out = []
  for key, members in groups.items():
    done = [t for t in members if t.get('metrics')]
    metrics = sorted(set().union(*[t['metrics'] for t in done])) if done \
        else []
    group_stats = {
        m: stats([t['metrics'][m] for t in done if m in t['metrics']])
        for m in metrics}
    candidates = [t for t in done if select in t['metrics']]
    picked = None
    if candidates:
      best = (min if minimize else max)(candidates,
                                        key=lambda t: t['metrics'][select])
      picked = {'name': best['name'], 'overrides': best['overrides'],
                'selected_on': select, 'metrics': best['metrics']}
    out.append({'group': key, 'trials': [t['name'] for t in members],
                'finished': len(done), 'stats': group_stats,
                'picked': picked})
  return {'trials': list(trials), 'counts': counts, 'groups': out}


def markdown(summary: Mapping[str, Any], metrics: Sequence[str],
             title: str) -> str:
  """The summary as Markdown tables: groups over seeds, then every trial."""
  f = lambda x: f'{x:.4g}'
  lines = [f'# {title}', '',
           'Trials: ' + ', '.join(f'{n} {s}' for s, n in
                                   sorted(summary['counts'].items())) + '.',
           '']
  if metrics:
    lines += ['## Over seeds', '',
              '| settings | finished | ' + ' | '.join(
                  f'{m}: mean ± sd [median; min–max]' for m in metrics)
              + ' | best on validation |', '|---' * (len(metrics) + 3) + '|']
    for g in summary['groups']:
      cells = []
      for m in metrics:
        s = g['stats'].get(m)
        if s is None:
          cells.append('')
        elif s['n'] == 1:  # no spread to show: not "± 0"
          cells.append(f'{f(s["mean"])} (one seed)')
        else:
          cells.append(f'{f(s["mean"])} ± {f(s["sd"])} [{f(s["median"])}; '
                       f'{f(s["min"])}–{f(s["max"])}]')
      p = g['picked']
      best = '' if p is None else (
          f'{p["name"]} ({p["selected_on"]} ' + f(
              p['metrics'][p['selected_on']]) + '): ' + ', '.join(
                  f'{m} {f(p["metrics"][m])}' for m in metrics
                  if m in p['metrics'] and m.startswith('test/')))
      lines.append(f'| {g["group"]} | {g["finished"]}/{len(g["trials"])} | '
                   + ' | '.join(cells) + f' | {best} |')
    lines.append('')
  lines += ['## Trials', '', '| ' + ' | '.join(['trial', 'status',
                                                *metrics]) + ' |',
            '|---' * (len(metrics) + 2) + '|']
  for t in summary['trials']:
    values = [f(t['metrics'][m]) if m in t.get('metrics', {}) else ''
              for m in metrics]
    lines.append('| ' + ' | '.join([t['name'], t['status'], *values]) + ' |')
  return '\n'.join(lines) + '\n'


# --- Jobs: the processes that run a sweep's trials. ---


def plan_jobs(config: ml_collections.ConfigDict, trials: Sequence[Trial],
              executor: str, first_index: int = 0) -> list[dict[str, Any]]:
  """The launcher processes that run `trials`.

  `executor='local'`: one process per trial, in `trials/<name>`.
  `'population'`: the trials that share every setting a population member
  cannot vary (`memax.training.population.allowed`: what changes shapes or
  code paths) and whose varying settings form a product (seeds times
  hyper-parameter values) train as one population, in `groups/<name>`;
  any other trial runs alone.

  `first_index`: the number of the first population (`g<index>`), for jobs
  added to a sweep that has some.

  Returns:
    `[{'name', 'dir', 'flags', 'members': {trial name: member index or
    None}}]`.
  """
  if executor not in ('local', 'population'):
    raise ValueError(f'--executor={executor!r}: expected local or population.')
  alone = lambda t: {'name': t.name, 'dir': f'trials/{t.name}',
                     'flags': t.flags(), 'members': {t.name: None}}
  if executor == 'local':
    return [alone(t) for t in trials]
  groups = {}
  for t in trials:
    fixed_config = overrides_lib.apply(config, t.as_dict())
    fixed = tuple((p, v) for p, v in t.overrides
                  if not population.allowed(p, fixed_config))
    groups.setdefault(json.dumps(fixed, default=str), (fixed, []))[1].append(t)
  jobs = []
  for fixed, members in groups.values():
    job = _population_job(config, fixed, members, first_index + len(jobs))
    if job is None:
      jobs.extend(alone(t) for t in members)
    else:
      jobs.append(job)
  return jobs


def _population_job(config, fixed, members: Sequence[Trial], index: int
                    ) -> dict[str, Any] | None:
  """One population for `members`, or None when they are not a product."""
  fixed_paths = {p for p, _ in fixed}
  varying = [[(p, v) for p, v in t.overrides if p not in fixed_paths]
             for t in members]
  fields = [p for p, _ in varying[0]]
  if len(members) < 2 or not fields or any(
      [p for p, _ in v] != fields for v in varying):
    return None
  values = {p: [] for p in fields}
  for v in varying:
    for p, x in v:
      if x not in values[p]:
        values[p].append(x)
  if len(members) != math.prod(len(xs) for xs in values.values()):
    return None  # not a full product: each trial runs alone
  flags = [f'--config.{p}={format_value(v)}' for p, v in fixed]
  seeds = values.pop('seed', None)
  if seeds is not None:
    flags.append('--config.population.seeds=' + ','.join(map(str, seeds)))
  if values:
    flags.append('--config.population.sweep=' + ';'.join(
        f'{p}=' + ','.join(format_value(x) for x in xs)
        for p, xs in values.items()))
  pop_config = overrides_lib.apply(config, [f[len('--config.'):]
                                            for f in flags])
  order = [json.dumps(sorted(m.items()), default=str)
           for m in population.member_overrides(pop_config)]
  name = f'g{index:03d}' + (f'_{_folder_text(fixed)}' if fixed else '')
  mapping = {}
  for t, v in zip(members, varying):
    member = dict(v)
    member.setdefault('seed', pop_config.seed)
    mapping[t.name] = order.index(json.dumps(sorted(member.items()),
                                             default=str))
  return {'name': name, 'dir': f'groups/{name}', 'flags': flags,
          'members': mapping}
