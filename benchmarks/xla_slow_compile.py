"""XLA CPU's slow compile on deepmind/dnc's repeat copy: which setting hits it.

Compiles the trainer's own train chunk (`setup.setup(config).chunk()`: a
jitted `lax.scan` of `--steps_per_call` steps, each sampling its batch on the
device, forward, backward and update) of `--config` under each case, each in
a child process stopped after `--timeout` seconds, then times
`--repeats` calls of the ones that compiled. Cases:

- `unrolled_opt`: memax's unrolled threefry (`memax.training.cpu_random`)
  and XLA's optimisations: the combination that compiles for more than 10
  minutes on deepmind's repeat copy (the DNC, batches of 16, 9-step
  sequences, two or more steps a call).
- `looped_opt`: JAX's own threefry lowering, optimisations on (the config's
  fix since session 37: `cpu_random_unrolled=False`).
- `unrolled_noopt`: the unrolled threefry with the optimisations off (the
  earlier fix: `xla_cpu_optimize=False`).

`--dump_to=DIR` passes `--xla_dump_to=DIR/<case>` to the children (XLA's
HLO, for a bug report). Output: one JSON object per case on stdout
(`compile_s` null and `timed_out` true where the compile outlasted the
timeout); `--out FILE` also writes them.

  python benchmarks/xla_slow_compile.py --timeout=120
  python benchmarks/xla_slow_compile.py --cases=looped_opt --batch_size=4
"""

import argparse
import json
import os
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

# case -> (config.cpu_random_unrolled, config.xla_cpu_optimize)
CASES = {'unrolled_opt': (True, True), 'looped_opt': (False, True),
         'unrolled_noopt': (True, False)}


def _child(args) -> dict:
  """Compiles and times one case in this process; its record."""
  import importlib  # pylint: disable=g-import-not-at-top
  from benchmarks import dnc as dnc_bench  # pylint: disable=g-import-not-at-top
  module, _, arg = args.config.partition(':')
  config = importlib.import_module(f'configs.{module}').get_config(arg or None)
  config.cpu_random_unrolled, config.xla_cpu_optimize = CASES[args.child]
  config.compilation_cache = 'off'
  config.train.batch_size = args.batch_size
  chunk = dnc_bench._Chunk(args.child, config, args.steps_per_call)  # pylint: disable=protected-access
  for _ in range(args.repeats):
    chunk.call()
  record = chunk.record()
  return {'compile_s': round(record['compile_s'], 2),
          'ms_per_step': round(record['ms_per_step'], 3),
          'repeats': record['repeats']}


def _run_case(case: str, args) -> dict:
  record = {'kind': 'xla_slow_compile', 'case': case, 'config': args.config,
            'cpu_random_unrolled': CASES[case][0],
            'xla_cpu_optimize': CASES[case][1],
            'batch_size': args.batch_size,
            'steps_per_call': args.steps_per_call, 'timeout_s': args.timeout}
  env = dict(os.environ, PYTHONPATH=_ROOT)
  if args.dump_to:
    env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') + ' --xla_dump_to='
                        + os.path.join(args.dump_to, case)).strip()
  command = [sys.executable, os.path.abspath(__file__), f'--child={case}',
             f'--config={args.config}', f'--batch_size={args.batch_size}',
             f'--steps_per_call={args.steps_per_call}',
             f'--repeats={args.repeats}']
  t = time.perf_counter()
  try:
    proc = subprocess.run(command, capture_output=True, text=True, env=env,
                          cwd=_ROOT, timeout=args.timeout)
  except subprocess.TimeoutExpired:
    return dict(record, compile_s=None, ms_per_step=None, timed_out=True,
                wall_s=round(time.perf_counter() - t, 1))
  if proc.returncode != 0:
    raise RuntimeError(f'case {case} failed:\n{proc.stderr[-3000:]}')
  child = json.loads(proc.stdout.strip().splitlines()[-1])
  return dict(record, **child, timed_out=False,
              wall_s=round(time.perf_counter() - t, 1))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='dnc_repeat_copy',
                      help='a module of configs/, with its argument after a '
                      'colon (e.g. dnc_repeat_copy:setting=deepmind).')
  parser.add_argument('--cases', default=','.join(CASES),
                      help=f'comma-separated, of {", ".join(CASES)}.')
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--steps_per_call', type=int, default=100)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--timeout', type=float, default=120.0,
                      help='seconds a case may take (compile and calls).')
  parser.add_argument('--dump_to', default='')
  parser.add_argument('--out', default='')
  parser.add_argument('--child', default='', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    print(json.dumps(_child(args)))
    return
  cases = [c for c in args.cases.split(',') if c]
  unknown = [c for c in cases if c not in CASES]
  if unknown or not cases:
    parser.error(f'--cases={args.cases}: expected some of {", ".join(CASES)}.')
  records = [_run_case(case, args) for case in cases]
  lines = [json.dumps(r) for r in records]
  print('\n'.join(lines))
  if args.out:
    with open(args.out, 'w') as f:
      f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  main()
