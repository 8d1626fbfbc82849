"""Training-throughput benchmark: every model/task pair, NTM beside an LSTM.

For each (task, batch size) the NTM (default config: controller 100, memory
128 x 20, one read and one write head) and an LSTM of the same controller size
(one layer of `controller_size` units) are compiled, warmed up, and then timed
in alternation within the same repeat loop, so that a change in machine load
affects both. A timed call is one jitted `lax.scan` of `--steps_per_call`
train steps (sample, forward, backward, update; the state is donated), exactly
as the training loop runs it.

Output: one JSON object per line on stdout.
  {"kind": "measurement", ...}  one per (model, task, batch size).
  {"kind": "ratio", ...}        NTM median ms / LSTM median ms per (task, batch).
  {"kind": "reference", ...}    copy task only: our NTM against pytorch-ntm's
                                QUOTED (not measured here) figures.
`--out FILE` also writes all of them, with the environment, as one JSON file.

  python benchmarks/run.py                     # everything (slow on a CPU)
  python benchmarks/run.py --quick             # copy only, 2 repeats
  python benchmarks/run.py --tasks=copy,ngrams --batch_sizes=1 --out=b.json
  python benchmarks/run.py --tasks=copy --settings=tuned

Settings: 'default' is each config as it is. 'tuned' applies the speed
options that change no result (`tuned_overrides`): the copy task draws one
length per batch, as pytorch-ntm does, and each batch is computed only to
the end of its length bucket (`train.length_buckets`, one bucket per
length); at batch sizes above 1 the NTM also recomputes its steps in the
backward pass (`model.remat`) and splits the batch over two CPU host devices
(`train.num_devices`). The LSTM keeps one device, its faster choice here.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import jax  # pylint: disable=g-import-not-at-top

from configs import train as train_config  # pylint: disable=g-import-not-at-top
from memax import overrides as overrides_lib  # pylint: disable=g-import-not-at-top
from memax.training import setup as setup_lib  # pylint: disable=g-import-not-at-top
from memax.training import sharding  # pylint: disable=g-import-not-at-top

TASKS = ('copy', 'repeat_copy', 'associative_recall', 'priority_sort',
         'ngrams')
MODELS = ('ntm', 'lstm')
BATCH_SIZES = (1, 32)
SETTINGS = ('default', 'tuned')
TUNED_DEVICES = 2
TUNED_BUCKETS = 20  # copy: one bucket per length 2L + 1 of 1..20.

# pytorch-ntm (github.com/loudinthecloud/pytorch-ntm) on the copy task, on a
# 2-core CPU like this one, as quoted in the project's issue. These are NOT
# measured by this script.
PYTORCH_NTM_COPY = {
    1: {'sequences_per_s': 12.0, 'ms_per_step': 78.0},
    32: {'sequences_per_s': 65.0, 'ms_per_step': None},
}
PYTORCH_NTM_SOURCE = ('quoted from the project issue (pytorch-ntm, copy task, '
                      '2-core CPU); not measured in this run')


def environment() -> dict[str, Any]:
  """Facts about the machine and software that the numbers depend on."""
  device = jax.devices()[0]
  return {
      'jax_version': jax.__version__,
      'backend': jax.default_backend(),
      'device_kind': device.device_kind,
      'num_devices': jax.device_count(),
      'cpu_count': os.cpu_count(),
      'processor': platform.processor(),
      'cpu_model': _cpu_model(),
      'machine': platform.machine(),
      'python': platform.python_version(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }


def _cpu_model() -> str:
  """The CPU's model name (Linux /proc/cpuinfo), or ''."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return ''


def make_config(model: str, task: str, batch_size: int, *,
                runlocal: bool = False):
  """The training config for `model` on `task`, as `configs/train.py` builds it.

  The LSTM gets one layer of the NTM's `controller_size` units (taken from
  the NTM config of the same `runlocal` setting), so the two are comparable.
  """
  config = train_config.get_config(f'model={model},task={task}')
  if runlocal:
    train_config.runlocal(config)
  fields = {'train.batch_size': batch_size}
  if model == 'lstm':
    ntm = train_config.get_config(f'model=ntm,task={task}')
    if runlocal:
      train_config.runlocal(ntm)
    fields.update({'model.hidden_size': ntm.model.controller_size,
                   'model.num_layers': 1})
  return overrides_lib.apply(config, fields)


def tuned_overrides(model: str, task: str, batch_size: int
                    ) -> dict[str, Any]:
  """The 'tuned' setting's config overrides (`{'a.b': value}`).

  Applied with `memax.overrides.apply`, as the launcher applies
  `--config.a.b=value`: a field that does not exist is an error naming it.
  """
  out = {}
  if task == 'copy':
    # One length per batch (at batch 1 the same draws as one per sequence),
    # each batch computed only to the end of its length bucket.
    out['task.length_per_batch'] = True
    out['train.length_buckets'] = TUNED_BUCKETS
  if model == 'ntm' and batch_size > 1:
    out['model.remat'] = True
    devices = min(TUNED_DEVICES, len(jax.devices()))
    if devices > 1 and batch_size % devices == 0:
      out['train.num_devices'] = devices
  return out


class _Bench:
  """One compiled train chunk and its donated state, ready to be timed.

  Built through the one setup path, `memax.training.setup.setup(config)`,
  as training builds its own: the same model, task, optimiser, train step
  (length buckets, data parallelism) and keys.
  """

  def __init__(self, model: str, task: str, batch_size: int, *,
               steps_per_call: int, runlocal: bool = False,
               warmup: int = 1, setting: str = 'default', config=None):
    """`config`, if given, is the whole training config (its batch size
    `batch_size`); else `make_config` builds it from the names."""
    self.model_name, self.task_name = model, task
    self.batch_size, self.steps_per_call = batch_size, steps_per_call
    self.setting = setting
    self.overrides = (tuned_overrides(model, task, batch_size)
                      if setting == 'tuned' else {})
    if config is None:
      config = make_config(model, task, batch_size, runlocal=runlocal)
    config = overrides_lib.apply(config, self.overrides)
    s = setup_lib.setup(config)
    self.config, self.task = s.config, s.task
    state = s.init_state()  # placed (replicated when data parallel).
    self.num_params = int(sum(x.size for x in jax.tree.leaves(state.params)))
    self.key, self.data = s.keys.train, s.data
    if s.replicated is not None:
      self.key, self.data = jax.device_put((self.key, self.data),
                                           s.replicated)
    chunk = s.chunk(steps_per_call)

    # compile_s: lowering + XLA compilation + the first execution.
    start = time.perf_counter()
    self._compiled = chunk.lower(state, self.key, self.data).compile()
    self.lower_compile_s = time.perf_counter() - start
    self.state = state
    self._call()
    self.compile_s = time.perf_counter() - start
    self.memory = _memory_stats(self._compiled)
    for _ in range(warmup):
      self._call()
    self.warmup = warmup
    self.call_seconds: list[float] = []

  def _call(self) -> float:
    start = time.perf_counter()
    # The state is donated: the old buffers are gone after the call.
    self.state, metrics, losses = self._compiled(self.state, self.key,
                                                 self.data)
    jax.block_until_ready((self.state, metrics, losses))
    return time.perf_counter() - start

  def timed_call(self) -> None:
    self.call_seconds.append(self._call())

  def record(self) -> dict[str, Any]:
    step_ms = [1e3 * s / self.steps_per_call for s in self.call_seconds]
    median_ms = statistics.median(step_ms)
    return {
        'kind': 'measurement',
        'model': self.model_name,
        'task': self.task_name,
        'batch_size': self.batch_size,
        'setting': self.setting,
        'overrides': self.overrides,
        'ms_per_step': median_ms,
        'min_ms_per_step': min(step_ms),
        'max_ms_per_step': max(step_ms),
        'sequences_per_s': self.batch_size / (median_ms / 1e3),
        # Over all timed calls: with one length per batch the work varies
        # from call to call, and this is the long-run rate.
        'mean_sequences_per_s': (self.batch_size * len(step_ms) /
                                 (sum(step_ms) / 1e3)),
        'steps_per_s': 1e3 / median_ms,
        'compile_s': self.compile_s,
        'lower_compile_s': self.lower_compile_s,
        'repeats': len(step_ms),
        'warmup_calls': self.warmup,
        'steps_per_call': self.steps_per_call,
        'max_steps': int(self.task.max_steps),
        'num_params': self.num_params,
        **self.memory,
        'process_max_rss_mb': _max_rss_mb(),
        'loadavg_1m': os.getloadavg()[0],
        'model_config': self.config.model.to_dict(),
        **environment(),
    }


def _memory_stats(compiled) -> dict[str, Any]:
  """XLA's memory analysis of the compiled chunk (bytes), if available."""
  try:
    m = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except
    m = None
  if m is None:
    return {'xla_temp_bytes': None, 'xla_peak_bytes_estimate': None}
  peak = (m.argument_size_in_bytes + m.output_size_in_bytes
          - m.alias_size_in_bytes + m.temp_size_in_bytes)
  return {'xla_temp_bytes': int(m.temp_size_in_bytes),
          'xla_peak_bytes_estimate': int(peak)}


def _max_rss_mb() -> float:
  """Peak resident memory of this process so far (cumulative), in MB."""
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / (1024 * 1024) if sys.platform == 'darwin' else rss / 1024


def measure(model: str, task: str, batch_size: int, *, repeats: int,
            steps_per_call: int, runlocal: bool = False,
            warmup: int = 1, setting: str = 'default') -> dict[str, Any]:
  """Times one (model, task, batch size); returns the measurement record."""
  bench = _Bench(model, task, batch_size, steps_per_call=steps_per_call,
                 runlocal=runlocal, warmup=warmup, setting=setting)
  for _ in range(repeats):
    bench.timed_call()
  return bench.record()


def measure_interleaved(models: list[str], task: str, batch_size: int, *,
                        repeats: int, steps_per_call: int,
                        runlocal: bool = False, warmup: int = 1,
                        settings: tuple[str, ...] = ('default',)
                        ) -> list[dict[str, Any]]:
  """Times models and settings on one (task, batch), alternating calls.

  All are compiled and warmed up first; then each repeat calls every
  (setting, model) once, rotating the order between repeats so none is
  always first.
  """
  benches = [_Bench(m, task, batch_size, steps_per_call=steps_per_call,
                    runlocal=runlocal, warmup=warmup, setting=setting)
             for setting in settings for m in models]
  for r in range(repeats):
    k = r % len(benches)
    for bench in benches[k:] + benches[:k]:
      bench.timed_call()
  return [b.record() for b in benches]


def ratio_record(ntm: dict[str, Any], lstm: dict[str, Any]) -> dict[str, Any]:
  return {
      'kind': 'ratio',
      'task': ntm['task'],
      'batch_size': ntm['batch_size'],
      'setting': ntm.get('setting', 'default'),
      'ntm_ms_per_step': ntm['ms_per_step'],
      'lstm_ms_per_step': lstm['ms_per_step'],
      'ntm_over_lstm': ntm['ms_per_step'] / lstm['ms_per_step'],
  }


def reference_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """Our NTM on copy against pytorch-ntm's quoted figures (batch 1 and 32)."""
  out = []
  for rec in records:
    if (rec.get('kind') != 'measurement' or rec['model'] != 'ntm'
        or rec['task'] != 'copy' or rec['batch_size'] not in PYTORCH_NTM_COPY):
      continue
    ref = PYTORCH_NTM_COPY[rec['batch_size']]
    out.append({
        'kind': 'reference',
        'task': 'copy',
        'batch_size': rec['batch_size'],
        'setting': rec.get('setting', 'default'),
        'overrides': rec.get('overrides', {}),
        'ours_sequences_per_s': rec['sequences_per_s'],
        'ours_ms_per_step': rec['ms_per_step'],
        'pytorch_ntm_quoted_sequences_per_s': ref['sequences_per_s'],
        'pytorch_ntm_quoted_ms_per_step': ref['ms_per_step'],
        'speedup_vs_pytorch_ntm': rec['sequences_per_s'] /
                                  ref['sequences_per_s'],
        'reference_source': PYTORCH_NTM_SOURCE,
        'note': ('quoted reference figures, not measured here; ours pads '
                 f'every batch to max_steps={rec["max_steps"]}'
                 + (' and skips the steps past its own length.'
                    if rec.get('overrides', {}).get('task.length_per_batch')
                    else '.')),
    })
  return out


def _csv(kind):
  def parse(text: str):
    return [kind(x) for x in text.split(',') if x.strip()]
  return parse


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--tasks', type=_csv(str), default=list(TASKS),
                 help=f'comma-separated, from {",".join(TASKS)}')
  p.add_argument('--models', type=_csv(str), default=list(MODELS),
                 help=f'comma-separated, from {",".join(MODELS)}')
  p.add_argument('--batch_sizes', type=_csv(int), default=list(BATCH_SIZES))
  p.add_argument('--settings', type=_csv(str), default=list(SETTINGS),
                 help=f'comma-separated, from {",".join(SETTINGS)}')
  p.add_argument('--repeats', type=int, default=7,
                 help='timed calls per measurement; the median is reported')
  p.add_argument('--steps_per_call', type=int, default=10,
                 help='train steps per jitted call (one lax.scan)')
  p.add_argument('--warmup', type=int, default=1,
                 help='untimed calls after the compiling call')
  p.add_argument('--runlocal', action='store_true',
                 help='tiny model sizes (configs/train.py runlocal)')
  p.add_argument('--quick', action='store_true',
                 help='smoke run: copy only, 2 repeats')
  p.add_argument('--reference', action=argparse.BooleanOptionalAction,
                 default=True,
                 help='print the copy-task comparison with pytorch-ntm\'s '
                      'quoted figures')
  p.add_argument('--out', default='', help='also write all records here')
  args = p.parse_args(argv)
  if args.quick:
    args.tasks, args.repeats = ['copy'], 2
  for name in args.tasks:
    if name not in TASKS:
      p.error(f'unknown task {name!r}; expected one of {TASKS}')
  for name in args.models:
    if name not in MODELS:
      p.error(f'unknown model {name!r}; expected one of {MODELS}')
  for name in args.settings:
    if name not in SETTINGS:
      p.error(f'unknown setting {name!r}; expected one of {SETTINGS}')
  if args.repeats < 1 or args.steps_per_call < 1 or args.warmup < 0:
    p.error('--repeats and --steps_per_call must be >= 1, --warmup >= 0')
  if any(b < 1 for b in args.batch_sizes):
    p.error('--batch_sizes must be positive')
  return args


def _emit(record: dict[str, Any]) -> None:
  print(json.dumps(record), flush=True)


def main(argv=None) -> list[dict[str, Any]]:
  args = parse_args(argv)
  if 'tuned' in args.settings:
    sharding.use_cpu_devices(TUNED_DEVICES)
  records = []
  for task in args.tasks:
    for batch_size in args.batch_sizes:
      group = measure_interleaved(
          args.models, task, batch_size, repeats=args.repeats,
          steps_per_call=args.steps_per_call, runlocal=args.runlocal,
          warmup=args.warmup, settings=tuple(args.settings))
      for rec in group:
        _emit(rec)
      records.extend(group)
      for setting in args.settings:
        by_model = {r['model']: r for r in group if r['setting'] == setting}
        if 'ntm' in by_model and 'lstm' in by_model:
          rec = ratio_record(by_model['ntm'], by_model['lstm'])
          _emit(rec)
          records.append(rec)
  if args.reference and not args.runlocal:
    for rec in reference_records(records):
      _emit(rec)
      records.append(rec)
  if args.out:
    write_results(args.out, args, records)
  return records


def write_results(path: str, args: argparse.Namespace,
                  records: list[dict[str, Any]]) -> None:
  """Writes `{'environment', 'args', 'records'}` as JSON to `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'environment': environment(), 'args': vars(args),
               'records': records}, f, indent=2)


if __name__ == '__main__':
  main()
