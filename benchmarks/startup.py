"""Time from launch to the first training steps, cold and warm; prints JSON.

Each measurement is a fresh `python -m memax.main` process in a new workdir.
"Cold" starts with an empty persistent compilation cache (a new
`MEMAX_COMPILATION_CACHE` directory); "warm" relaunches the same config with
the cache the cold launch filled. The clock runs from the process launch to
the log line that the first jitted call of train steps finished, and the
process is then stopped. The launcher's own log gives the split: the
import, set-up and compile times.

  .venv/bin/python benchmarks/startup.py --repeats=3
  .venv/bin/python benchmarks/startup.py --configs=configs/ntm_copy.py

`--peer='<command>'` also times another program launched the same way, in
turn with memax's launches (one of each per repeat), up to the first line
on its stdout or stderr that contains `FIRST_STEP_DONE` (a harness around a
peer implementation prints it after its first training step).
"""

import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_CONFIGS = flags.DEFINE_multi_string(
    'configs', ['configs/ntm_copy.py', 'configs/memn2n_babi.py:tasks=1'],
    'Launcher configs to time (repeat the flag for several; a config '
    'argument may hold commas).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Cold + warm pairs per config.')
_TIMEOUT = flags.DEFINE_float('timeout', 300.0, 'Seconds per launch.')
_PEER = flags.DEFINE_string(
    'peer', '', 'A command to time beside memax, to its FIRST_STEP_DONE line.')

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FIRST = re.compile(r'First (\d+) train steps done')
_COMPILED = re.compile(r'Compiled the train step in ([0-9.]+) s')
_COMPILING = re.compile(r'Compiling the train step')


def launch(config: str, workdir: str, cache: str) -> dict:
  """One launch: seconds to the first train steps, and the log's split."""
  env = dict(os.environ, MEMAX_COMPILATION_CACHE=cache)
  start = time.perf_counter()
  proc = subprocess.Popen(
      [sys.executable, '-m', 'memax.main', f'--config={config}',
       f'--workdir={workdir}'], cwd=_ROOT, env=env, text=True,
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  out = {}
  try:
    for line in proc.stderr:
      now = time.perf_counter() - start
      if _COMPILING.search(line):
        out['compile_started_s'] = now
      if m := _COMPILED.search(line):
        out['compile_s'] = float(m.group(1))
      if m := _FIRST.search(line):
        out['first_steps_s'] = now
        out['steps_in_first_call'] = int(m.group(1))
        break
      if now > _TIMEOUT.value:
        break
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  if 'first_steps_s' not in out:
    raise RuntimeError(f'{config}: no "First ... train steps done" line.')
  return out


def launch_peer(command: str) -> float:
  """Seconds from launching `command` to its FIRST_STEP_DONE line."""
  start = time.perf_counter()
  proc = subprocess.Popen(shlex.split(command), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  try:
    for line in proc.stdout:
      if 'FIRST_STEP_DONE' in line:
        return time.perf_counter() - start
      if time.perf_counter() - start > _TIMEOUT.value:
        break
  finally:
    proc.kill()
    proc.wait()
  raise RuntimeError(f'{command}: no FIRST_STEP_DONE line.')


def main(argv):
  del argv
  results = []
  peer = []
  for config in _CONFIGS.value:
    runs = {'cold': [], 'warm': []}
    for _ in range(_REPEATS.value):
      root = tempfile.mkdtemp(prefix='memax_startup_')
      try:
        cache = os.path.join(root, 'cache')
        for kind in ('cold', 'warm'):
          runs[kind].append(launch(config, os.path.join(root, kind), cache))
        if _PEER.value:
          peer.append(launch_peer(_PEER.value))
      finally:
        shutil.rmtree(root, ignore_errors=True)
    row = {'config': config}
    for kind, values in runs.items():
      for field in ('first_steps_s', 'compile_started_s', 'compile_s'):
        got = [v[field] for v in values if field in v]
        if got:
          row[f'{kind}_{field}_median'] = round(statistics.median(got), 2)
          row[f'{kind}_{field}_all'] = [round(x, 2) for x in got]
      row['steps_in_first_call'] = values[0]['steps_in_first_call']
    results.append(row)
    print(json.dumps(row), flush=True)
  if peer:
    results.append({'peer': _PEER.value,
                    'first_steps_s_median': round(statistics.median(peer), 2),
                    'first_steps_s_all': [round(x, 2) for x in peer]})
    print(json.dumps(results[-1]), flush=True)
  print(json.dumps({'machine': platform.machine(), 'cpus': os.cpu_count(),
                    'python': platform.python_version(),
                    'results': results}, indent=1))


if __name__ == '__main__':
  app.run(main)
