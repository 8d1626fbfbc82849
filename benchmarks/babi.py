"""Training-throughput benchmark of the bAbI models (MemN2N, KV-MemNN, MemNN).

Each model is built from its config for joint training on bAbI 1k (all 20
tasks, 18,000 training questions after the 10 % validation split), exactly as
`memax.main` trains it: one jitted call runs one epoch of train steps
(on-device epoch shuffling and gathering, forward, backward, update; the
state is donated). After compilation and one warm-up epoch, the models'
epoch calls alternate within the repeat loop, so machine load affects all.

Output: one JSON object per line on stdout (`--out FILE` also writes them,
with the environment, as one JSON file).

  python benchmarks/babi.py                      # joint 1k, 5 epochs each
  python benchmarks/babi.py --repeats=3 --models=memn2n,kvmemnn
  python benchmarks/babi.py --models=memnn,memnn:ext=am+ng+nl
  python benchmarks/babi.py --quick              # task 1 only, 1 repeat

A model is a config name, optionally followed by `:` and more config
arguments (`memn2n:protocol=code` runs `configs/memn2n_babi.py:tasks=0,
protocol=code`).
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import jax  # pylint: disable=g-import-not-at-top

from benchmarks import run as bench_run  # pylint: disable=g-import-not-at-top
from memax.training import setup  # pylint: disable=g-import-not-at-top

MODELS = ('memn2n', 'kvmemnn', 'memnn')
DEFAULT_MODELS = ('memn2n', 'memn2n:protocol=code', 'kvmemnn', 'memnn',
                  'memnn:ext=am+ng+nl')


def load_config(model: str, arg: str):
  path = os.path.join(_ROOT, 'configs', f'{model}_babi.py')
  spec = importlib.util.spec_from_file_location(f'{model}_babi', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


class _EpochBench:
  """One model's compiled epoch call and its donated state."""

  def __init__(self, label: str, arg: str):
    model, _, extra = label.partition(':')
    self.label, self.model_name, self.variant = label, model, extra
    config = load_config(model, ','.join(a for a in (arg, extra) if a))
    # The one setup path (as memax.main trains): one call is one epoch.
    s = setup.setup(config)
    self.config, self.task = s.config, s.task
    self.steps_per_epoch = s.steps_per_epoch
    self.key, self.data = s.keys.train, s.data
    state = s.init_state()
    self.num_params = int(sum(x.size for x in jax.tree.leaves(state.params)))
    start = time.perf_counter()
    self._compiled = s.chunk(self.steps_per_epoch).lower(
        state, self.key, self.data).compile()
    self.state = state
    self._call()
    self.compile_s = time.perf_counter() - start
    self.memory = bench_run._memory_stats(self._compiled)  # pylint: disable=protected-access
    self._call()  # warm-up epoch.
    self.epoch_seconds: list[float] = []

  def _call(self) -> float:
    start = time.perf_counter()
    self.state, metrics, _ = self._compiled(self.state, self.key, self.data)
    jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - start

  def timed_call(self) -> None:
    self.epoch_seconds.append(self._call())

  def record(self) -> dict[str, Any]:
    epoch_s = statistics.median(self.epoch_seconds)
    batch = self.config.train.batch_size
    examples = self.steps_per_epoch * batch
    return {
        'kind': 'measurement',
        'model': self.model_name,
        'variant': self.variant,
        'label': self.label,
        'tasks': list(self.task.tasks),
        'set_name': self.task.set_name,
        'batch_size': batch,
        'steps_per_epoch': self.steps_per_epoch,
        'epoch_s': epoch_s,
        'min_epoch_s': min(self.epoch_seconds),
        'max_epoch_s': max(self.epoch_seconds),
        'ms_per_step': 1e3 * epoch_s / self.steps_per_epoch,
        'train_examples_per_s': examples / epoch_s,
        'compile_s': self.compile_s,
        'repeats': len(self.epoch_seconds),
        'num_params': self.num_params,
        'memory_size': self.task.memory_size,
        'sentence_size': self.task.sentence_size,
        'vocab_size': self.task.input_size,
        **self.memory,
        'process_max_rss_mb': bench_run._max_rss_mb(),  # pylint: disable=protected-access
        'loadavg_1m': os.getloadavg()[0],
        'model_config': self.config.model.to_dict(),
        **bench_run.environment(),
    }


def measure(models: list[str], arg: str, repeats: int) -> list[dict]:
  benches = [_EpochBench(m, arg) for m in models]
  for r in range(repeats):
    k = r % len(benches)
    for bench in benches[k:] + benches[:k]:
      bench.timed_call()
  records = [b.record() for b in benches]
  base = records[0]
  for rec in records[1:]:
    records.append({'kind': 'ratio', 'model': rec['label'],
                    'over': base['label'],
                    'epoch_time_ratio': rec['epoch_s'] / base['epoch_s']})
  return records


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default=','.join(DEFAULT_MODELS),
                      help='comma-separated config names, each optionally '
                      'with :more=args')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--quick', action='store_true',
                      help='task 1 only, one repeat (smoke test)')
  parser.add_argument('--out', default='')
  args = parser.parse_args(argv)
  models = [m for m in args.models.split(',') if m]
  unknown = [m for m in models if m.partition(':')[0] not in MODELS]
  if unknown:
    parser.error(f'--models: unknown model {unknown[0]!r}; expected names '
                 f'from {MODELS}, each optionally followed by :config=args')
  arg = 'tasks=1' if args.quick else 'tasks=0'
  repeats = 1 if args.quick else args.repeats
  records = measure(models, arg, repeats)
  for rec in records:
    print(json.dumps(rec, sort_keys=True), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump({'environment': bench_run.environment(),
                 'command': ' '.join(['python', 'benchmarks/babi.py'] +
                                     (argv if argv is not None
                                      else sys.argv[1:])),
                 'records': records}, f, indent=1, sort_keys=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
