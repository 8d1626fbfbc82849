"""Small speed probes behind figures in docs/benchmarks.md (sessions 21-22).

`--part=dnc_small`: memax's DNC at pytorch-dnc's smallest copy setting (16
cells x 20, LSTM 64 x 2, 4 read heads, lengths 1-4, batch 32; as
`benchmarks/dnc_peer.py` builds it), the same with `model.unroll=9`, and an
LSTM of the controller's size alone (64 x 2, copy, Adam), `--repeats` calls
of `--steps_per_call` steps each, alternated.

`--part=dnc_kernels`: the number of operations, by kind, in the while-loop
bodies of the compiled train step (one step per call) of that DNC and that
LSTM.

`--part=mann_unroll`: the MANN of `configs/mann_omniglot.py` with
`model.unroll` 1, 2, 5 and 10, alternated.

`--part=projection` (session 22): the MANN of `configs/mann_omniglot.py`
and the LSTM-200 of `configs/lstm_omniglot.py`, each with the controller's
input projection computed for all steps before the scan (the default) and
inside it (the same cells stepped with `__call__`), alternated.

Output: one JSON object per line.

  python benchmarks/probes.py --part=dnc_small
  python benchmarks/probes.py --part=dnc_kernels
  python benchmarks/probes.py --part=mann_unroll --steps_per_call=10
  python benchmarks/probes.py --part=projection --steps_per_call=10
"""

import argparse
import collections
import json
import os
import re
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from benchmarks import dnc_peer  # pylint: disable=g-import-not-at-top
from benchmarks import run  # pylint: disable=g-import-not-at-top
from configs import lstm_omniglot  # pylint: disable=g-import-not-at-top
from configs import mann_omniglot  # pylint: disable=g-import-not-at-top
from configs import train as train_config  # pylint: disable=g-import-not-at-top
from memax import overrides  # pylint: disable=g-import-not-at-top
from memax.models import sequence  # pylint: disable=g-import-not-at-top
from memax.training import setup as setup_lib  # pylint: disable=g-import-not-at-top


def _small_dnc(**fields):
  return overrides.apply(dnc_peer.memax_config(16, (1, 4), 32, False), fields)


def _small_lstm():
  return overrides.apply(train_config.get_config('model=lstm,task=copy'), {
      'model.hidden_size': 64, 'model.num_layers': 2, 'task.num_bits': 5,
      'task.min_length': 1, 'task.max_length': 4, 'train.batch_size': 32,
      'optimizer.name': 'adam'})


def _timed(configs, task, batch, args, before=lambda name: None):
  """`before(name)` runs before each bench compiles its chunk."""
  benches = []
  for name, c in configs:
    before(name)
    benches.append(run._Bench(name, task, batch,  # pylint: disable=protected-access
                              steps_per_call=args.steps_per_call, warmup=1,
                              config=c))
  for _ in range(args.repeats):
    for bench in benches:
      bench.timed_call()
  out = []
  for bench in benches:
    record = bench.record()
    out.append({'part': args.part, 'name': bench.model_name,
                'ms_per_step': record['ms_per_step'],
                'sequences_per_s': record['sequences_per_s'],
                'compile_s': bench.compile_s, 'repeats': args.repeats,
                'steps_per_call': args.steps_per_call})
  return out


def _loop_bodies(config) -> dict[str, dict[str, int]]:
  """{while body: {op kind: count}} of the compiled one-step chunk."""
  s = setup_lib.setup(config)
  state = s.init_state()
  key, data = s.chunk_inputs()
  text = s.chunk(1).lower(state, key, data).compile().as_text()
  bodies = {b.lstrip('%') for b in re.findall(r'body=(%?[\w.\-]+)', text)}
  ops, current = {}, None
  for line in text.split('\n'):
    head = re.match(r'^(?:ENTRY )?%?([\w.\-]+) .*\{$', line)
    if head:
      current = head.group(1)
      ops[current] = collections.Counter()
    elif current and ' = ' in line:
      kind = re.search(r'= \S+ ([\w-]+)\(', line)
      ops[current][kind.group(1) if kind else '?'] += 1
  return {b: dict(ops.get(b, {})) for b in sorted(bodies)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--part', required=True,
                 choices=('dnc_small', 'dnc_kernels', 'mann_unroll',
                          'projection'))
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--steps_per_call', type=int, default=50)
  args = p.parse_args(argv)
  if args.part == 'dnc_small':
    records = _timed([('dnc', _small_dnc()),
                      ('dnc_unroll9', _small_dnc(**{'model.unroll': 9})),
                      ('lstm', _small_lstm())], 'copy', 32, args)
  elif args.part == 'mann_unroll':
    configs = []
    for unroll in (1, 2, 5, 10):
      config = mann_omniglot.get_config(None)
      config.model.unroll = unroll
      configs.append((f'mann_unroll{unroll}', config))
    records = _timed(configs, 'omniglot', 16, args)
  elif args.part == 'projection':
    projects = sequence._projects  # pylint: disable=protected-access

    def before(name):
      sequence._projects = (projects if name.endswith('projected')  # pylint: disable=protected-access
                            else lambda cell: False)
    configs = [(f'{model}_{where}', module.get_config(None))
               for model, module in (('mann', mann_omniglot),
                                     ('lstm', lstm_omniglot))
               for where in ('projected', 'in_loop')]
    records = _timed(configs, 'omniglot', 16, args, before)
    sequence._projects = projects  # pylint: disable=protected-access
  else:
    records = [{'part': args.part, 'name': name, 'body': body,
                'ops': sum(kinds.values()), 'kinds': kinds}
               for name, config in (('dnc', _small_dnc()),
                                    ('lstm', _small_lstm()))
               for body, kinds in _loop_bodies(config).items()]
  for record in records:
    print(json.dumps(record), flush=True)


if __name__ == '__main__':
  main()
