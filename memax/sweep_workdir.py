"""A sweep's directory: its record, jobs and statuses, running, summaries.

`python -m memax.sweep` (the command line) builds the trials
(`memax.sweeps`) and calls these: `create` writes or checks `sweep.json`,
`run` runs the unfinished jobs (local processes or submitit jobs),
`write_summary` writes `summary.json`, `.md` and `.png`. See
`memax/sweep.py` for the directory's layout.

Many hosts (`Processes`, from `--coordinator_address`, `--num_processes`,
`--process_id`): the same sweep command runs on every host, each with its
process id, over one shared directory. Jobs run one at a time, in the same
order everywhere; each job's launcher gets the distributed flags with the
coordinator's port moved up by the job's index, so that consecutive jobs
never share a port. Process 0 writes `sweep.json`, the statuses and the
summaries; every process writes its own logs (`logs/<job>.log` for process
0, `logs/<job>.process<i>.log` for the others) and reads the rest. With
`--coordinator_address=auto` and submitit, the runner is one process and
each job finds its own processes (its SLURM tasks, e.g.
`--submitit=nodes=2,tasks_per_node=1`) through JAX's cluster detection.
"""

import importlib.metadata
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

from absl import logging
import ml_collections

from memax import cli
from memax import overrides as overrides_lib
from memax import sweeps
from memax.training import distributed
from memax.training import setup
from memax.training import workdir as workdir_lib

SWEEP_FILE = 'sweep.json'
_VERSIONS = ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint',
             'numpy', 'ml_collections', 'memax')


def _write_json(path: str, value: Any) -> None:
  """Written whole or not at all (a killed sweep leaves no half file)."""
  workdir_lib.write_json(path, value, indent=1, default=str)


def _read_json(path: str) -> Any:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _git_commit() -> dict[str, Any] | None:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root,
                            capture_output=True, text=True, check=True,
                            timeout=10).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=root,
                           capture_output=True, text=True, check=True,
                           timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return {'commit': commit, 'dirty': bool(dirty)}


def _versions() -> dict[str, str]:
  out = {'python': platform.python_version()}
  for name in _VERSIONS:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      pass
  return out


def read_variants(folder: str, strict: bool = False
                  ) -> list[tuple[str, dict[str, Any]]]:
  """`(variant, record)` of each `<variant>.json` in an evaluation folder
  (training's `eval/`, or one of `memax.evaluate`'s) that holds `metrics`,
  in name order; none where the folder is missing. `strict`: a file that
  is not JSON is an error naming it (else it is skipped)."""
  if not os.path.isdir(folder):
    return []
  out = []
  for file in sorted(os.listdir(folder)):
    if not file.endswith('.json'):
      continue
    path = os.path.join(folder, file)
    record = _read_json(path)
    if record is None and strict:
      raise ValueError(f'{path}: not a readable JSON file.')
    if isinstance(record, dict) and isinstance(record.get('metrics'), dict):
      out.append((file[:-len('.json')], record))
  return out


def variant_metrics(variants: Sequence[tuple[str, dict[str, Any]]]
                    ) -> dict[str, float]:
  """`{'<variant>/<metric>': value}` of `read_variants`' records (the
  numbers only)."""
  return {f'{name}/{k}': float(v) for name, record in variants
          for k, v in record['metrics'].items()
          if isinstance(v, (int, float)) and not isinstance(v, bool)}


class Sweep:
  """A sweep directory: its trials and jobs, their statuses and results.

  `processes`: the sweep runs on many hosts (see the module's docstring).
  """

  def __init__(self, workdir: str, record: dict[str, Any],
               processes: distributed.Processes | None = None):
    self.workdir = workdir
    self.record = record
    self.processes = processes
    self.jobs = {j['name']: j for j in record['jobs']}
    self.job_of = {t: j['name'] for j in record['jobs'] for t in j['members']}

  @property
  def main(self) -> bool:
    """Whether this process writes the sweep's files (process 0)."""
    p = self.processes
    return (p is None or p.coordinator_address == distributed.AUTO
            or p.process_id == 0)

  def log_path(self, job: dict[str, Any]) -> str:
    suffix = '' if self.main else f'.process{self.processes.process_id}'
    return os.path.join(self.workdir, 'logs', f'{job["name"]}{suffix}.log')

  @property
  def trials(self) -> list[dict[str, Any]]:
    return self.record['trials']

  def job_dir(self, job: dict[str, Any]) -> str:
    return os.path.join(self.workdir, job['dir'])

  def ended(self, job: dict[str, Any]) -> dict[str, Any] | None:
    return _read_json(os.path.join(self.workdir, 'status',
                                   f'{job["name"]}.json'))

  def status(self, job: dict[str, Any],
             ended: dict[str, Any] | None = None) -> str:
    """done, failed, started or pending (`ended`: its status file, read)."""
    ended = ended if ended is not None else self.ended(job)
    if ended is not None:
      return 'done' if ended['returncode'] == 0 else 'failed'
    return 'started' if os.path.isdir(self.job_dir(job)) else 'pending'

  def command(self, job: dict[str, Any]) -> list[str]:
    r = self.record
    command = ([r['python'], '-m', 'memax.main',
                f'--config={r["config_file"]}',
                f'--workdir={self.job_dir(job)}'] + r['base_flags']
               + job['flags'])
    if self.processes is not None:
      index = [j['name'] for j in r['jobs']].index(job['name'])
      command += self.processes.launcher_flags(port_offset=index)
    return command

  def metrics(self, job: dict[str, Any], member: int | None
              ) -> dict[str, float]:
    """`{'<split>/<metric>': value}` of a trial's final evaluation."""
    eval_dir = os.path.join(self.job_dir(job), 'eval')
    if member is not None:
      eval_dir = os.path.join(eval_dir, f'member{member}')
    return variant_metrics(read_variants(eval_dir))

  def records(self) -> list[dict[str, Any]]:
    out = []
    for t in self.trials:
      job = self.jobs[self.job_of[t['name']]]
      ended = self.ended(job)
      status = self.status(job, ended)
      member = job['members'][t['name']]
      out.append({'name': t['name'], 'overrides': t['overrides'],
                  'status': status, 'job': job['name'], 'member': member,
                  'wall_seconds': (ended or {}).get('wall_seconds'),
                  'metrics': self.metrics(job, member) if status == 'done'
                             else {}})
    return out


def check(config: Any, jobs: Sequence[dict[str, Any]]) -> None:
  """Every check the launcher makes before training, for each job.

  Trials that differ only in their seed are checked once. Nothing is
  compiled or written; a bad field is an error naming it (and the trial).
  """
  checked = set()
  for job in jobs:
    flags_ = [f for f in job['flags'] if not f.startswith('--config.seed=')]
    key = json.dumps(flags_)
    if key in checked:
      continue
    checked.add(key)
    try:
      setup.setup(overrides_lib.apply(config, job['flags']))
    except ValueError as e:
      raise ValueError(f'{job["name"]}: {e}') from None


def plan(config: ml_collections.ConfigDict, config_file: str,
         base: dict[str, Any], sweep_flags: Sequence[str], grouping: str,
         workdir: str) -> tuple[list[sweeps.Trial], list[dict[str, Any]]]:
  """The sweep's trials and jobs, checked (nothing runs or is written).

  `config`: the config file's config with the `base` overrides applied;
  `grouping`: 'local' or 'population' (`sweeps.plan_jobs`). Where
  `workdir` holds a sweep that this one grows (`sweeps.grow`), its trials
  and jobs come first, as they were.
  """
  file_fn = sweeps.load_file_sweep(config_file)
  arg = config_file.split(':', 1)[1] if ':' in config_file else None
  file_part = sweeps.file_trials(file_fn, arg) if file_fn else None
  trials = sweeps.expand(config, file_part, sweep_flags)
  clash = sorted(set(base) & {p for t in trials for p, _ in t.overrides})
  if clash:
    raise ValueError(f'--config.{clash[0]} is also swept; give it in the '
                     'sweep only.')
  old = read_record(workdir)
  grown = sweeps.grow(old, config_file, trials) if old else None
  if grown is None:
    jobs = sweeps.plan_jobs(config, trials, grouping)
    check(config, jobs)
    return trials, jobs
  # More trials for a sweep that has some: its own keep their folders and
  # processes; the added ones get new ones.
  trials, added = grown
  jobs = sweeps.plan_jobs(config, added, grouping,
                          first_index=len(old['jobs']))
  check(config, jobs)
  return trials, old['jobs'] + jobs


def new_record(config_file: str, base: dict[str, Any],
               trials: Sequence[Any], jobs: Sequence[dict[str, Any]],
               executor: str, python: str) -> dict[str, Any]:
  """What `sweep.json` holds of a sweep (`create` adds its provenance)."""
  return {
      'config_file': config_file,
      'base_overrides': base,
      'base_flags': [f'--config.{p}={sweeps.format_value(v)}'
                     for p, v in base.items()],
      'executor': executor,
      'trials': [{'index': t.index, 'name': t.name, 'overrides': t.as_dict(),
                  'flags': t.flags()} for t in trials],
      'jobs': list(jobs),
      'python': python,
  }


def check_processes(processes: distributed.Processes | None,
                    executor: str, parallel: int) -> None:
  """Refuses a many-host setting the runner cannot serve; names the flag."""
  if processes is None:
    return
  if processes.coordinator_address == distributed.AUTO:
    if executor != 'submitit':
      raise ValueError(
          '--coordinator_address=auto is for --executor=submitit (each job '
          'several SLURM tasks, which find each other); with local '
          'processes give host:port, --num_processes and --process_id.')
    return
  if executor == 'submitit':
    raise ValueError(
        '--executor=submitit with --coordinator_address=host:port: give '
        '--coordinator_address=auto (each job finds its tasks), or run the '
        'sweep on every host with --executor=local.')
  if parallel != 1:
    raise ValueError(
        f'--parallel={parallel} with --num_processes='
        f'{processes.num_processes}: the hosts run one job at a time, '
        'together; use --parallel=1.')


def _text(value: Any) -> str:
  return json.dumps(value, sort_keys=True, default=str)


def _same(old: dict[str, Any], record: dict[str, Any]) -> bool:
  keys = ('config_file', 'base_flags', 'trials', 'jobs')
  return _text({k: old.get(k) for k in keys}) == _text(
      {k: record.get(k) for k in keys})


def grows(old: dict[str, Any], record: dict[str, Any]) -> bool:
  """Whether `record` is the sweep `old` with trials added after its own
  (`sweeps.grow`): the same config file, overrides and executor, and
  `old`'s trials and jobs first, unchanged."""
  n, m = len(old.get('trials', [])), len(old.get('jobs', []))
  return (len(record['trials']) > n
          and record['config_file'].partition(':')[0]
          == old.get('config_file', '').partition(':')[0]
          and _text(record['base_flags']) == _text(old.get('base_flags'))
          and record['executor'] == old.get('executor', 'local')
          and _text(record['trials'][:n]) == _text(old.get('trials'))
          and _text(record['jobs'][:m]) == _text(old.get('jobs')))


def read_record(workdir: str) -> dict[str, Any] | None:
  """The sweep directory's `sweep.json`, or None where there is none."""
  return _read_json(os.path.join(workdir, SWEEP_FILE))


def _check_same(path: str, old: dict[str, Any],
                record: dict[str, Any]) -> None:
  if not _same(old, record):
    raise ValueError(
        f'{path} holds another sweep ({len(old.get("trials", []))} trials '
        f'of {old.get("config_file")} in {len(old.get("jobs", []))} '
        f'processes, overrides {old.get("base_flags")}). Its results stay '
        'where they are: give this sweep another --workdir, or the same '
        'flags to resume it (or flags that add trials to all of its own: '
        'more seeds, more values of a swept field).')


def create(config_file: str, base: dict[str, Any], trials: Sequence[Any],
           jobs: Sequence[dict[str, Any]], executor: str, workdir: str,
           python: str, processes: distributed.Processes | None = None,
           wait_seconds: float = 600.0) -> Sweep:
  """Writes `sweep.json`, or checks that the one there is this sweep.

  A sweep grown by new trials (`grows`: more seeds, more values) keeps its
  own record, the new trials and jobs added after its own, and a `grown`
  entry per growth (when, the command, the git commit, the added trials).

  On many hosts, process 0 writes it; the others wait (up to
  `wait_seconds`) until it is there, check it, and write nothing.
  """
  record = new_record(config_file, base, trials, jobs, executor, python)
  path = os.path.join(workdir, SWEEP_FILE)
  if not Sweep(workdir, record, processes).main:
    deadline = time.time() + wait_seconds
    # A grown sweep: until process 0 has written the grown record.
    while (old := _read_json(path)) is None or grows(old, record):
      if time.time() > deadline:
        raise FileNotFoundError(
            f'{path} did not appear within {wait_seconds:.0f} s: process 0 '
            'writes it; is the sweep directory shared by every host, and '
            'process 0 running?')
      time.sleep(1.0)
    _check_same(path, old, record)
    return Sweep(workdir, dict(old, python=python), processes)
  old = _read_json(path)
  if old is not None and grows(old, record):
    added = [t['name'] for t in record['trials'][len(old['trials']):]]
    logging.info('Growing the sweep in %s by %d trials (%s ... %s).',
                 workdir, len(added), added[0], added[-1])
    record = dict(
        record, **{k: old[k] for k in ('created', 'git', 'versions',
                                       'command') if k in old},
        grown=old.get('grown', []) + [{
            'at': time.strftime('%Y-%m-%d %H:%M:%S'), 'git': _git_commit(),
            'command': ' '.join(shlex.quote(a) for a in sys.argv),
            'trials': added}])
  elif old is not None:
    _check_same(path, old, record)
    record = dict(old, python=python)
  else:
    record.update(created=time.strftime('%Y-%m-%d %H:%M:%S'),
                  git=_git_commit(), versions=_versions(),
                  command=' '.join(shlex.quote(a) for a in sys.argv))
  _write_json(path, record)
  return Sweep(workdir, record, processes)


def open_sweep(workdir: str) -> Sweep:
  record = read_record(workdir)
  if record is None:
    raise FileNotFoundError(
        f'{os.path.join(workdir, SWEEP_FILE)} not found: --summarize takes a '
        'directory written by python -m memax.sweep.')
  return Sweep(workdir, record)


class _Process:
  """A job as a local process (`--executor=local` and `population`)."""

  def __init__(self, command: list[str], log_path: str):
    self.log = open(log_path, 'a')  # pylint: disable=consider-using-with
    self.log.write(f'$ {" ".join(shlex.quote(a) for a in command)}\n')
    self.log.flush()
    # The trial dies with the sweep, even a SIGKILLed one
    # (`cli.die_with_parent`): an orphan would keep its workdir locked.
    env = dict(os.environ, **{cli.PARENT_ENV: str(os.getpid())})
    self.process = subprocess.Popen(command, stdout=self.log,
                                    stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
    self.id = f'pid {self.process.pid}'

  def poll(self) -> int | None:
    """None while running; the exit code (< 0: killed by a signal)."""
    code = self.process.poll()
    if code is not None:
      self.log.close()
    return code

  def stop(self) -> None:
    try:
      os.killpg(self.process.pid, signal.SIGTERM)
    except ProcessLookupError:
      pass
    self.process.wait()
    self.log.close()


class Submitted:
  """A job submitted through submitit (`--executor=submitit`)."""

  def __init__(self, executor: Any, command: list[str], log_path: str):
    import submitit  # pylint: disable=g-import-not-at-top
    text = ' '.join(shlex.quote(a) for a in command)
    with open(log_path, 'a') as log:
      log.write(f'$ {text}\n')
    # The job appends its output to the sweep's log (a shared filesystem).
    shell = f'{text} >> {shlex.quote(log_path)} 2>&1'
    self.job = executor.submit(submitit.helpers.CommandFunction(
        ['bash', '-c', shell], verbose=False))
    self.id = f'job {self.job.job_id}'

  def poll(self) -> int | None:
    if not self.job.done():
      return None
    try:
      self.job.result()
    except Exception as e:  # pylint: disable=broad-except
      # CommandFunction raises on a nonzero exit; the log holds the output.
      logging.debug('%s: %s', self.id, e)
      return 1
    return 0

  def stop(self) -> None:
    self.job.cancel(check=False)


def submitit_executor(folder: str, cluster: str | None,
                      parameters: Sequence[str]) -> Any:
  """A `submitit.AutoExecutor` (SLURM, or `cluster='local'`) for the jobs."""
  try:
    import submitit  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError('--executor=submitit needs submitit: pip install -e '
                     '".[submitit]".') from None
  executor = submitit.AutoExecutor(folder=folder, cluster=cluster or None)
  values = {}
  for item in parameters:
    key, sep, text = item.partition('=')
    if not sep or not key:
      raise ValueError(f'--submitit={item!r}: expected key=value, e.g. '
                       'timeout_min=120 or slurm_partition=gpu.')
    try:
      values[key] = json.loads(text)
    except ValueError:
      values[key] = text
  try:
    executor.update_parameters(**values)
  except (ValueError, TypeError) as e:
    raise ValueError(f'--submitit: {e}') from None
  return executor


def select(sweep: Sweep, names: Sequence[str]) -> list[dict[str, Any]]:
  """The jobs that run the trials or populations named, in the sweep's
  order; all of them where `names` is empty. A trial is named by its name
  or its number (`1` or `001` for `001_seed=1`); an unknown one is an error
  that lists the sweep's trials."""
  if not names:
    return list(sweep.jobs.values())
  number = {str(t['index']): t['name'] for t in sweep.trials}
  number.update({n.split('_', 1)[0]: n for n in number.values()})
  unknown = [n for n in names if n not in sweep.job_of
             and n not in sweep.jobs and n not in number]
  if unknown:
    raise ValueError(
        f'--only={unknown[0]}: not a trial of the sweep in '
        f'{sweep.workdir} (a name or a number); its trials are: '
        f'{"; ".join(t["name"] for t in sweep.trials)}.')
  wanted = {sweep.job_of.get(number.get(n, n), n) for n in names}
  return [j for j in sweep.jobs.values() if j['name'] in wanted]


def run(sweep: Sweep, parallel: int, retry_failed: bool,
        launch: Callable[[list[str], str], Any] | None = None,
        only: Sequence[str] = ()) -> None:
  """Runs the sweep's unfinished jobs, `parallel` at a time.

  `launch(command, log_path)` starts one job and returns a handle with
  `id`, `poll()` and `stop()` (default: a local process). `only`: run just
  the jobs of these trials or populations (`select`); the others stay as
  they are.
  """
  launch = launch or _Process
  jobs = select(sweep, only)
  todo = [j for j in jobs if sweep.status(j) not in
          (('done',) if retry_failed else ('done', 'failed'))]
  logging.info('%d trials in %d processes%s: %d to run, %d finished or '
               'failed before.', len(sweep.trials), len(sweep.jobs),
               f' ({len(jobs)} selected)' if only else '', len(todo),
               len(jobs) - len(todo))
  running = {}
  try:
    while todo or running:
      while todo and len(running) < parallel:
        job = todo.pop(0)  # one trial, or a population of them
        log_path = sweep.log_path(job)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        handle = launch(sweep.command(job), log_path)
        running[handle] = (job, time.time())
        logging.info('Started %s (%s).', job['name'], handle.id)
      time.sleep(0.2)
      for handle in list(running):
        code = handle.poll()
        if code is None:
          continue
        job, start = running.pop(handle)
        if code < 0:  # killed by a signal: interrupted, it resumes next time
          logging.warning('%s was killed (signal %d); it resumes when the '
                          'sweep runs again.', job['name'], -code)
          continue
        if sweep.main:
          _write_json(
              os.path.join(sweep.workdir, 'status', f'{job["name"]}.json'),
              {'returncode': code, 'id': handle.id,
               'wall_seconds': time.time() - start,
               'ended': time.strftime('%Y-%m-%d %H:%M:%S')})
        (logging.info if code == 0 else logging.warning)(
            '%s %s (%.0f s).', job['name'],
            'finished' if code == 0 else f'failed with exit code {code}; see '
            f'{os.path.relpath(sweep.log_path(job), sweep.workdir)}',
            time.time() - start)
  finally:
    for handle in running:
      # Interrupted: the jobs stop; each resumes from its checkpoint.
      handle.stop()


def write_summary(sweep: Sweep, select: str, minimize: bool,
                  metrics: Sequence[str] = ()) -> dict[str, Any]:
  """summary.json, summary.md and summary.png of the sweep as it stands."""
  records = sweep.records()
  summary = sweeps.summarize(records, select=select, minimize=minimize)
  metrics = list(metrics) or sweeps.report_metrics(records)
  summary.update(config_file=sweep.record['config_file'],
                 base_overrides=sweep.record['base_overrides'],
                 report_metrics=metrics,
                 written=time.strftime('%Y-%m-%d %H:%M:%S'))
  _write_json(os.path.join(sweep.workdir, 'summary.json'), summary)
  # The overrides of every trial name the sweep as much as its config does
  # (two sweeps of one config file differ only in them).
  base = sweep.record['base_overrides']
  title = f'Sweep {sweep.record["config_file"]}' + (
      ' with ' + sweeps.settings_text(sorted(base.items()), ', ')
      if base else '')
  workdir_lib.write_text(os.path.join(sweep.workdir, 'summary.md'),
                         sweeps.markdown(summary, metrics,
                                         f'{title} ({sweep.workdir})'))
  _plot(summary, metrics, os.path.join(sweep.workdir, 'summary.png'), title)
  return summary


def _plot(summary: dict[str, Any], metrics: Sequence[str], path: str,
          title: str) -> None:
  """Each group's trials (dots) and mean ± sd, for the first metric."""
  if not metrics:
    return
  metric = metrics[0]
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  by_name = {t['name']: t for t in summary['trials']}
  groups = summary['groups']
  fig, ax = plt.subplots(figsize=(max(5.5, 1.2 * len(groups) + 2), 3.8))
  for x, g in enumerate(groups):
    values = [by_name[n]['metrics'][metric] for n in g['trials']
              if metric in by_name[n].get('metrics', {})]
    ax.plot([x] * len(values), values, 'o', color='tab:blue', alpha=0.6)
    s = g['stats'].get(metric)
    if s is not None and s['n'] > 1:  # one seed: its dot says it all
      ax.errorbar([x + 0.15], [s['mean']], yerr=[s['sd']], fmt='s',
                  color='black', capsize=4)
  ax.set_xlim(-0.5, len(groups) - 0.5)
  ax.set_xticks(range(len(groups)))
  # A sweep over seeds alone has one group, with no other setting.
  labels = [g['group'] if g['group'] != '-' else 'all trials (seeds)'
            for g in groups]
  ax.set_xticklabels(labels, rotation=20 if len(groups) > 1 else 0,
                     ha='right' if len(groups) > 1 else 'center', fontsize=7)
  ax.set_ylabel(metric)
  squares = any((g['stats'].get(metric) or {}).get('n', 0) > 1
                for g in groups)
  ax.set_title(f'{title}\ntrials (dots)'
               + (', mean ± sd over seeds (squares)' if squares else ''),
               fontsize=8, wrap=True)
  fig.tight_layout()
  fig.savefig(path + '.tmp.png', dpi=110)
  plt.close(fig)
  os.replace(path + '.tmp.png', path)
