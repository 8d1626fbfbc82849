"""Omniglot one-shot learning: MANN beside an LSTM of its controller's size.

The two configs of the study (`configs/mann_omniglot.py`, an LSTM controller
of 200 units with memory 128 x 40 and 4 heads; `configs/lstm_omniglot.py`,
one LSTM layer of 200 units), each a jitted chunk of `--steps_per_call`
train steps exactly as training runs it: episodes sampled on the device from
the resident images (augmentation, down-sampling), forward, backward, Adam.
They are compiled first, then timed in alternation within one repeat loop,
so that a change in machine load affects both.

Output: one JSON object per line on stdout (`--out FILE` also writes them
all, with the environment, as one JSON file):
  {"kind": "measurement", ...}  per model: ms per step, episodes per second.
  {"kind": "ratio", ...}        MANN ms per step / LSTM ms per step, and the
                                projected wall time of the configs' runs.

  python benchmarks/omniglot.py                       # 5-way, batch 16
  python benchmarks/omniglot.py --arg=labels=string   # 15-way strings
  python benchmarks/omniglot.py --runlocal --repeats=2    # a smoke test
"""

import argparse
import json
import os
import sys
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from benchmarks import run  # pylint: disable=g-import-not-at-top
from configs import lstm_omniglot  # pylint: disable=g-import-not-at-top
from configs import mann_omniglot  # pylint: disable=g-import-not-at-top

CONFIGS = {'mann': mann_omniglot, 'lstm': lstm_omniglot}


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--arg', default='', help="the configs' argument, e.g. "
                 'labels=string')
  p.add_argument('--repeats', type=int, default=7,
                 help='timed calls per model (the median is reported)')
  p.add_argument('--steps_per_call', type=int, default=10)
  p.add_argument('--warmup', type=int, default=1)
  p.add_argument('--runlocal', action='store_true',
                 help='tiny sizes (smoke test)')
  p.add_argument('--out', default='', help='also write all records here')
  return p.parse_args(argv)


def main(argv=None) -> list[dict[str, Any]]:
  args = parse_args(argv)
  arg = ','.join(filter(None, [args.arg, 'runlocal' if args.runlocal
                               else '']))
  benches = []
  for name, module in CONFIGS.items():
    config = module.get_config(arg)
    benches.append(run._Bench(  # pylint: disable=protected-access
        name, 'omniglot', config.train.batch_size,
        steps_per_call=args.steps_per_call, warmup=args.warmup,
        config=config))
  for r in range(args.repeats):
    k = r % len(benches)
    for bench in benches[k:] + benches[:k]:
      bench.timed_call()
  records = []
  for bench in benches:
    record = bench.record()
    record['episodes_per_s'] = record['sequences_per_s']
    record['config_arg'] = arg
    records.append(record)
  mann, lstm = records
  steps = benches[0].config.train.num_steps
  records.append({
      'kind': 'ratio', 'task': 'omniglot', 'config_arg': arg,
      'batch_size': mann['batch_size'],
      'mann_ms_per_step': mann['ms_per_step'],
      'lstm_ms_per_step': lstm['ms_per_step'],
      'mann_over_lstm': mann['ms_per_step'] / lstm['ms_per_step'],
      'num_steps': steps,
      # The configs' whole run at this rate (training steps only; the
      # periodic evaluations and checkpoints come on top).
      'mann_projected_hours': steps * mann['ms_per_step'] / 3.6e6,
      'lstm_projected_hours': steps * lstm['ms_per_step'] / 3.6e6,
  })
  for record in records:
    print(json.dumps(record), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump({'environment': run.environment(), 'records': records}, f,
                indent=1)
  return records


if __name__ == '__main__':
  main()
