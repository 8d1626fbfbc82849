"""Sweep runner: the trials of a sweep, each a launcher process; a summary.

  python -m memax.sweep --config=configs/memn2n_babi.py:tasks=0 \
      --workdir=runs/memn2n_seeds --sweep=seed=0,1,2,3 [--parallel=2] \
      [--only=1 ...] [--config.train.num_epochs=30 ...]
  python -m memax.sweep --summarize=runs/memn2n_seeds
  python -m memax.sweep --config=... --workdir=... --sweep=... --print_commands

The trials come from the config file's `sweep(add, arg)` and the `--sweep`
flags (`memax.sweeps`); `--config.a.b=v` overrides apply to every trial.
Each trial (or population of trials) is `python -m memax.main` with its
own workdir, `--parallel` processes at a time. The same command again
resumes the sweep: finished trials are skipped, interrupted ones resume
from their checkpoints (the launcher's own resume), failed ones stay failed
unless `--retry_failed`. A sweep killed at any moment loses nothing already
written; its trials die with it. The command with more seeds (`seeds=N`
of the config file's argument, or `--sweep=seed=...`) or more values of a
swept field grows the sweep: its trials keep their folders and results,
the added ones run (`sweep.json` records each growth). `--print_commands`
prints one launcher command per process, for any job system, and runs
nothing. `--only=<trial>` (repeated; a trial's name or its number, as
`--only=1`) runs just the trials named, say seeds 1 and 2 of a sweep whose
seed 0 ran elsewhere; the others keep their status ("pending" where never
started).

Many hosts: run the same command on every host, adding
`--coordinator_address=<host 0>:<port> --num_processes=N --process_id=<i>`
(or the `MEMAX_*` variables) with `--parallel=1`: the hosts run the jobs
one at a time, together, each job's coordinator on `<port> + <job index>`;
process 0 writes sweep.json, the statuses and the summary. With
`--executor=submitit`, `--coordinator_address=auto` gives each job to
several SLURM tasks (`--submitit=nodes=2,tasks_per_node=1`), which find each
other through JAX. See `memax/sweep_workdir.py`.

The workdir holds:

  sweep.json            the sweep: config, overrides, trials, git commit,
                        package versions (a different sweep is refused)
  trials/<name>/        each trial's workdir (`--executor=local`), or
  groups/<name>/        each population's (`--executor=population`: the
                        trials that differ only in seed and optimiser
                        hyper-parameters, as a product, train together)
  logs/<job>.log        each process's output (appended across resumes;
                        on many hosts, process i > 0: <job>.process<i>.log)
  status/<job>.json     each ended process's exit code and wall time
  summary.json, summary.md, summary.png
                        every trial's status and final metrics; over seeds
                        mean ± sd, median, min–max; the trial picked on
                        `--select` (validation) with its test metrics
"""

import os
import shlex
import sys
import time
from typing import Sequence

from absl import app
from absl import flags
from ml_collections import config_flags

from memax import cli
from memax import sweep_workdir
from memax import sweeps
from memax.training import distributed

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:arg]).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'The sweep\'s directory; the same command resumes it.')
_SWEEP = flags.DEFINE_multi_string(
    'sweep', [], 'field=v1,v2: one axis of the product of trials (repeat).')
_PARALLEL = flags.DEFINE_integer('parallel', 1, 'Trials run at once.')
_ONLY = flags.DEFINE_multi_string(
    'only', [], 'Run just this trial (its name or number) or population '
    '(repeat for more); the sweep\'s other trials stay as they are.')
_EXECUTOR = flags.DEFINE_enum(
    'executor', 'local', ['local', 'population', 'submitit'],
    'local: each trial its own process. population: the trials that differ '
    'only in seed and optimiser hyper-parameters (a product of values) '
    'train as one population, one process per group. submitit: each trial a '
    'job through submitit (SLURM; --cluster=local runs them here).')
_GROUP = flags.DEFINE_bool(
    'populations', False, 'With --executor=submitit: submit populations '
    '(as --executor=population groups them), not single trials.')
_CLUSTER = flags.DEFINE_string(
    'cluster', None, 'submitit: slurm, local or debug (default: slurm where '
    'sbatch exists, else local).')
_SUBMITIT = flags.DEFINE_list(
    'submitit', [], 'submitit: executor parameters key=value, e.g. '
    'timeout_min=120,slurm_partition=gpu,gpus_per_node=1.')
_PRINT = flags.DEFINE_bool('print_commands', False,
                           'Print each trial\'s launcher command and exit.')
_SUMMARIZE = flags.DEFINE_string(
    'summarize', None, 'Rebuild the summary of this sweep directory (also '
    'while it runs) and exit.')
_RETRY = flags.DEFINE_bool('retry_failed', False,
                           'Run again the trials that failed.')
_SELECT = flags.DEFINE_string(
    'select', 'valid/error', 'The metric that picks each group\'s best trial '
    '(<split>/<metric> of the final evaluation).')
_MAXIMIZE = flags.DEFINE_bool('maximize', False,
                              'The largest --select value is best.')
_METRICS = flags.DEFINE_list(
    'metrics', [], 'The metrics of summary.md\'s tables (<split>/<metric>; '
    'the first is plotted). Default: every metric all finished trials have, '
    'per-task ones aside. summary.json always holds all of them.')
_PROCESSES = distributed.define_flags()


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _SUMMARIZE.value:
    sweep = cli.run_or_exit(sweep_workdir.open_sweep, _SUMMARIZE.value)
    summary = sweep_workdir.write_summary(
        sweep, _SELECT.value, not _MAXIMIZE.value, _METRICS.value)
    print(f'{summary["counts"]}: {_SUMMARIZE.value}/summary.md')
    return
  if _CONFIG.value is None or not _WORKDIR.value:
    raise app.UsageError('--config and --workdir are required (or '
                         '--summarize=DIR).')
  if _PARALLEL.value < 1:
    raise app.UsageError(f'--parallel={_PARALLEL.value}: expected >= 1.')
  processes = cli.run_or_exit(distributed.resolve,
                              *(f.value for f in _PROCESSES))
  cli.run_or_exit(sweep_workdir.check_processes, processes, _EXECUTOR.value,
                  _PARALLEL.value)
  config_file = config_flags.get_config_filename(flags.FLAGS['config'])
  base = dict(config_flags.get_override_values(flags.FLAGS['config']))
  grouping = ('population' if _EXECUTOR.value == 'population' or (
      _EXECUTOR.value == 'submitit' and _GROUP.value) else 'local')
  trials, jobs = cli.run_or_exit(sweep_workdir.plan, _CONFIG.value,
                                 config_file, base, _SWEEP.value, grouping,
                                 _WORKDIR.value)
  record = sweep_workdir.new_record(config_file, base, trials, jobs,
                                    _EXECUTOR.value, sys.executable)
  planned = sweep_workdir.Sweep(_WORKDIR.value, record, processes)
  selected = cli.run_or_exit(sweep_workdir.select, planned, _ONLY.value)
  if _PRINT.value:
    for job in selected:
      print(' '.join(shlex.quote(a) for a in planned.command(job)))
    return
  sweep = cli.run_or_exit(sweep_workdir.create, config_file, base, trials,
                          jobs, _EXECUTOR.value, _WORKDIR.value,
                          sys.executable, processes)
  launch = None
  if _EXECUTOR.value == 'submitit':
    executor = cli.run_or_exit(
        sweep_workdir.submitit_executor,
        os.path.join(_WORKDIR.value, 'submitit'),
        _CLUSTER.value, _SUBMITIT.value)
    launch = lambda command, log: sweep_workdir.Submitted(executor, command,
                                                          log)
  start = time.time()
  try:
    sweep_workdir.run(sweep, _PARALLEL.value, _RETRY.value, launch,
                      _ONLY.value)
  finally:
    if sweep.main:
      summary = sweep_workdir.write_summary(
          sweep, _SELECT.value, not _MAXIMIZE.value, _METRICS.value)
  if not sweep.main:
    print(f'Process {processes.process_id} ran its part of {len(jobs)} '
          f'jobs in {time.time() - start:.0f} s; process 0 writes the '
          'statuses and the summary.')
    return
  print(f'Sweep of {len(trials)} trials in {len(jobs)} processes '
        f'({summary["counts"]}) in {time.time() - start:.0f} s; summary in '
        f'{os.path.join(_WORKDIR.value, "summary.md")}')
  if summary['counts'].get('failed'):
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
