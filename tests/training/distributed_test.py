"""Many processes through jax.distributed: flags, file writes, the sweep
runner on many hosts, and two local processes that train as one."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from configs import train as train_config
from memax import overrides
from memax import sweep_workdir
from memax import sweeps
from memax.training import checkpoint
from memax.training import distributed
from memax.training import setup
from memax.training import train
from memax.training import writers
from tests.training import device_testing

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_CONFIG = 'configs/train.py:model=lstm,task=copy,runlocal'
# A tiny LSTM on copy: a global batch of 4, 2 steps per call, logs,
# evaluations and checkpoints every 2 steps, one final evaluation and plot.
_FIELDS = {'train.batch_size': '4', 'evals.variants': 'train',
           'compilation_cache': jax.config.jax_compilation_cache_dir or 'off'}


def _config(num_steps: int):
  fields = dict(_FIELDS, **{'train.num_steps': str(num_steps)})
  return overrides.apply(train_config.get_config(_CONFIG.split(':')[1]),
                         [f'{k}={v}' for k, v in fields.items()])


def _tmp(test) -> str:
  return test.enterContext(tempfile.TemporaryDirectory())


class ResolveTest(parameterized.TestCase):

  def test_nothing_given_is_one_process(self):
    self.assertIsNone(distributed.resolve(environ={}))
    self.assertIsNone(distributed.resolve(num_processes=1, process_id=0,
                                          environ={}))

  def test_flags_first_then_the_environment(self):
    environ = {'MEMAX_COORDINATOR_ADDRESS': '10.0.0.1:1234',
               'MEMAX_NUM_PROCESSES': '4', 'MEMAX_PROCESS_ID': '3'}
    self.assertEqual(distributed.resolve(environ=environ),
                     ('10.0.0.1:1234', 4, 3))
    self.assertEqual(distributed.resolve(process_id=1, environ=environ),
                     ('10.0.0.1:1234', 4, 1))
    auto = distributed.resolve('auto', environ={})
    self.assertEqual(auto, ('auto', None, None))
    self.assertEqual(auto.launcher_flags(5), ['--coordinator_address=auto'])
    self.assertEqual(
        distributed.resolve(environ=environ).launcher_flags(2),
        ['--coordinator_address=10.0.0.1:1236', '--num_processes=4',
         '--process_id=3'])

  @parameterized.parameters(
      (dict(num_processes=0), {}, '--num_processes=0'),
      (dict(coordinator_address='h:1', num_processes=2, process_id=2), {},
       '--process_id=2 with --num_processes=2'),
      (dict(process_id=-1), {}, '--process_id=-1'),
      (dict(coordinator_address='localhost', num_processes=2,
            process_id=0), {}, "--coordinator_address='localhost'"),
      (dict(coordinator_address='h:99999', num_processes=2, process_id=0),
       {}, 'host:port'),
      (dict(num_processes=2, process_id=0), {},
       '--num_processes needs --coordinator_address'),
      (dict(coordinator_address='h:1', num_processes=2), {},
       'needs --process_id'),
      ({}, {'MEMAX_COORDINATOR_ADDRESS': 'h:1', 'MEMAX_NUM_PROCESSES': 'two',
            'MEMAX_PROCESS_ID': '0'}, r"\$MEMAX_NUM_PROCESSES='two'"),
      ({}, {'MEMAX_COORDINATOR_ADDRESS': 'h:1', 'MEMAX_NUM_PROCESSES': '2',
            'MEMAX_PROCESS_ID': '2'}, r'\$MEMAX_PROCESS_ID=2'),
  )
  def test_bad_values_name_the_flag_or_variable(self, given, environ,
                                                message):
    with self.assertRaisesRegex(ValueError, message):
      distributed.resolve(**given, environ=environ)

  def test_launcher_refuses_bad_flags_before_any_work(self):
    workdir = os.path.join(_tmp(self), 'run')
    result = subprocess.run(
        [sys.executable, '-m', 'memax.main',
         f'--config={_CONFIG}',
         f'--workdir={workdir}', '--coordinator_address=127.0.0.1:1',
         '--num_processes=2', '--process_id=2'],
        cwd=_ROOT, capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(result.returncode, 1, result.stderr[-2000:])
    self.assertIn('memax: ValueError: --process_id=2 with --num_processes=2',
                  result.stderr)
    self.assertFalse(os.path.exists(workdir))


class WritersTest(absltest.TestCase):

  def test_only_process_zero_writes_metrics(self):
    workdir = os.path.join(_tmp(self), 'run')
    with mock.patch.object(jax, 'process_index', return_value=1):
      self.assertFalse(distributed.is_main_process())
      writer = writers.MetricWriter(workdir, tensorboard=True)
      writer.write_hparams({'a': 1})
      writer.write_scalars(2, {'loss': 1.0})
      writer.flush()
      writer.close()
    self.assertFalse(os.path.exists(workdir))
    writer = writers.MetricWriter(workdir, tensorboard=False)
    writer.write_scalars(2, {'loss': 1.0})
    writer.close()
    self.assertEqual(writers.read_metrics(workdir),
                     [{'step': 2, 'split': 'train', 'loss': 1.0}])


class _Finished:
  """A job handle of `sweep_workdir.run` whose job has ended well."""

  def __init__(self, launched, command, log_path):
    launched.append((command, log_path))
    self.id = f'fake {len(launched)}'

  def poll(self):
    return 0

  def stop(self):
    pass


class SweepTest(parameterized.TestCase):

  def test_each_job_its_port_and_only_process_zero_writes(self):
    workdir = os.path.join(_tmp(self), 'sweep')
    config = _config(2)
    trials = sweeps.expand(config, None, ['seed=0,1'])
    jobs = sweeps.plan_jobs(config, trials, 'local')
    hosts = [distributed.Processes('10.0.0.1:1234', 2, i) for i in range(2)]
    create = lambda i, wait=600.0: sweep_workdir.create(
        _CONFIG, {}, trials, jobs, 'local', workdir, sys.executable,
        hosts[i], wait_seconds=wait)
    # Process 1 waits for process 0's sweep.json; it writes nothing.
    with self.assertRaisesRegex(FileNotFoundError, 'process 0 writes it'):
      create(1, wait=0.0)
    self.assertFalse(os.path.exists(workdir))
    sweep0, sweep1 = create(0), create(1)
    for i, sweep in enumerate((sweep0, sweep1)):
      self.assertEqual([sweep.command(j)[-3:] for j in jobs], [
          ['--coordinator_address=10.0.0.1:1234', '--num_processes=2',
           f'--process_id={i}'],
          ['--coordinator_address=10.0.0.1:1235', '--num_processes=2',
           f'--process_id={i}']])
    launched = []
    launch = lambda command, log: _Finished(launched, command, log)
    sweep_workdir.run(sweep1, 1, False, launch)
    self.assertEqual(sorted(os.listdir(workdir)), ['logs', 'sweep.json'])
    sweep_workdir.run(sweep0, 1, False, launch)
    self.assertEqual(
        [os.path.relpath(log, workdir) for _, log in launched],
        [f'logs/{j["name"]}.process1.log' for j in jobs]
        + [f'logs/{j["name"]}.log' for j in jobs])
    self.assertEqual(sorted(os.listdir(os.path.join(workdir, 'status'))),
                     sorted(f'{j["name"]}.json' for j in jobs))

  @parameterized.parameters(
      ('10.0.0.1:1234', 'local', 2, '--parallel=2 with --num_processes=2'),
      ('10.0.0.1:1234', 'submitit', 1, '--coordinator_address=auto'),
      ('auto', 'local', 1, 'auto is for --executor=submitit'),
  )
  def test_refuses_what_it_cannot_run(self, address, executor, parallel,
                                      message):
    processes = distributed.Processes(address, 2, 0)
    with self.assertRaisesRegex(ValueError, message):
      sweep_workdir.check_processes(processes, executor, parallel)
    sweep_workdir.check_processes(None, executor, parallel)


# Runs memax.main (argv[3:]) and records what it changed under the workdir
# (argv[2]) into argv[1]: every file opened for writing, directory made,
# file renamed or removed, through Python's audit hooks; orbax's checkpoint
# directories aside (every process writes its part of them).
_AUDITED_LAUNCHER = '''
import json, os, runpy, sys
record, workdir = sys.argv[1], os.path.abspath(sys.argv[2])
skip = tuple(os.path.join(workdir, d) + os.sep
             for d in ('checkpoints', 'checkpoint_best'))
changes = set()
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
EVENTS = ('os.mkdir', 'os.rename', 'os.remove', 'os.rmdir', 'os.truncate',
          'shutil.move', 'shutil.rmtree', 'os.link', 'os.symlink')

def hook(event, args):
  if event == 'open':
    mode, flags = args[1], args[2] or 0
    if not (set(mode or '') & set('wax+') or flags & WRITE):
      return
    paths = args[:1]
  elif event in EVENTS:
    paths = args[:2] if event in ('os.rename', 'shutil.move') else args[:1]
  else:
    return
  for path in paths:
    if isinstance(path, (str, bytes, os.PathLike)):
      path = os.path.abspath(os.fsdecode(path))
      if (path + os.sep).startswith(workdir + os.sep) and not (
          path + os.sep).startswith(skip):
        changes.add(f'{event} {os.path.relpath(path, workdir)}')

sys.addaudithook(hook)
sys.argv = ['memax.main'] + sys.argv[3:]
try:
  runpy.run_module('memax.main', run_name='__main__', alter_sys=True)
finally:
  with open(record, 'w') as f:
    json.dump(sorted(changes), f)
'''

# Differ between runs, by nature.
_TIMING = ('steps_per_sec', 'sequences_per_sec', 'wall_seconds')


def _files(workdir: str) -> list[str]:
  """The workdir's files but checkpoints, with run-specific names made
  general (TensorBoard's event files, a config kept with its time)."""
  out = []
  for root, _, files in os.walk(workdir):
    for name in files:
      rel = os.path.relpath(os.path.join(root, name), workdir)
      if rel.split(os.sep)[0] in ('checkpoints', 'checkpoint_best'):
        continue
      rel = re.sub(r'events\.out\.tfevents\..*', 'events', rel)
      out.append(re.sub(r'^config\.[0-9-]+\.json$', 'config.TIME.json', rel))
  return sorted(out)


def _metrics(workdir: str) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in _TIMING}
          for r in writers.read_metrics(workdir)]


def _final_params(workdir: str, config):
  mngr = checkpoint.manager(workdir, read_only=True)
  try:
    state = checkpoint.restore(mngr, setup.abstract_state(config))
  finally:
    mngr.close()
  return int(state.step), jax.device_get(state.params)


class TwoProcessesTest(absltest.TestCase):

  def _launch_two(self, workdir: str, num_steps: int) -> list[list[str]]:
    """Two memax.main processes on 127.0.0.1 (CPU collectives through
    gloo), one device each; returns what each changed in the workdir."""
    tmp = _tmp(self)
    port = device_testing.free_port()
    flags = [f'--config={_CONFIG}', f'--workdir={workdir}',
             f'--config.train.num_steps={num_steps}',
             f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2']
    flags += [f'--config.{k}={v}' for k, v in _FIELDS.items()]
    records = [os.path.join(tmp, f'changes{i}.json') for i in range(2)]
    device_testing.run_together(self, [
        [sys.executable, '-c', _AUDITED_LAUNCHER, records[i], workdir,
         *flags, f'--process_id={i}'] for i in range(2)])
    changes = []
    for path in records:
      with open(path) as f:
        changes.append(json.load(f))
    return changes

  def test_two_processes_train_as_one_and_only_process_zero_writes(self):
    tmp = _tmp(self)
    one, two = os.path.join(tmp, 'one'), os.path.join(tmp, 'two')
    # One process with one device trains 2 steps (a checkpoint); from
    # there, one process and, in a copy, two processes (one device each,
    # the same global batch) resume to step 4. (A second launch of two
    # processes would double the test's time: the second process finds
    # nothing in the compilation cache, which only process 0 writes, with
    # keys of its own on a CPU.)
    train.train_and_evaluate(_config(2), one)
    shutil.copytree(one, two)
    train.train_and_evaluate(_config(4), one)
    changes = self._launch_two(two, 4)
    self.assertIn('open metrics.jsonl', changes[0])  # the audit sees.
    self.assertEqual(changes[1], [], 'process 1 wrote in the workdir')

    # The train state lived on one mesh over both processes' devices.
    with open(os.path.join(two, 'checkpoints', '4', 'default',
                           '_sharding')) as f:
      meshes = {json.dumps(json.loads(v)['device_mesh'])
                for v in json.load(f).values()}
    self.assertLen(meshes, 1)
    self.assertLen(json.loads(meshes.pop())['mesh'], 2)

    # The same trajectory: each step's losses and metrics logged once.
    a, b = _metrics(one), _metrics(two)
    self.assertEqual([(r['step'], r['split'], sorted(r)) for r in a],
                     [(r['step'], r['split'], sorted(r)) for r in b])
    for x, y in zip(a, b):
      for k in x:
        if k not in ('step', 'split'):
          self.assertAlmostEqual(x[k], y[k], delta=1e-4 * abs(x[k]) + 1e-5,
                                 msg=f'{x["step"]} {x["split"]} {k}')
    # The same final parameters; the checkpoint saved by two processes
    # reads in one.
    config = _config(4)
    step_a, params_a = _final_params(one, config)
    step_b, params_b = _final_params(two, config)
    self.assertEqual((step_a, step_b), (4, 4))
    for x, y in zip(jax.tree.leaves(params_a), jax.tree.leaves(params_b)):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # The same files, written once (by process 0).
    self.assertEqual(_files(one), _files(two))
    with open(os.path.join(one, 'config.json')) as f, open(
        os.path.join(two, 'config.json')) as g:
      self.assertEqual(f.read(), g.read())


if __name__ == '__main__':
  absltest.main()
