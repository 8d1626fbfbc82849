"""Prints the result tables of experiments/ntm_algorithmic/README.md.

  python experiments/ntm_algorithmic/summarize.py RUNS_ROOT

Reads `RUNS_ROOT/<config>/seed<k>/` as written by `run_all.sh`: the final
`eval/*.json` (without override suffixes), `metrics.jsonl` for the step
reached, and the `"wall_seconds"` the launcher prints into `train.log` (summed
over launches when a run was resumed).
"""

import glob
import json
import os
import re
import sys


def _runs(root):
  for config_dir in sorted(glob.glob(os.path.join(root, '*'))):
    for seed_dir in sorted(glob.glob(os.path.join(config_dir, 'seed*'))):
      yield os.path.basename(config_dir), seed_dir


def _summary(seed_dir):
  evals = {}
  for path in glob.glob(os.path.join(seed_dir, 'eval', '*.json')):
    with open(path) as f:
      record = json.load(f)
    if os.path.basename(path) == f'{record["variant"]}.json':
      evals[record['variant']] = record['metrics']
  steps = []
  metrics_path = os.path.join(seed_dir, 'metrics.jsonl')
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      steps = [json.loads(line)['step'] for line in f if line.strip()]
  wall = None
  log = os.path.join(seed_dir, 'train.log')
  if os.path.exists(log):
    with open(log) as f:
      found = re.findall(r'"wall_seconds": ([0-9.]+)', f.read())
    # A resumed run prints once per launch: the sum is the total wall time.
    wall = sum(float(x) for x in found) if found else None
  return evals, (max(steps) if steps else None), wall


def main(root):
  print('| config | seed | steps | wall (s) | variant | bit errors / seq | '
        'cost (bits / seq) | other |')
  print('|---|---|---|---|---|---|---|---|')
  for name, seed_dir in _runs(root):
    evals, step, wall = _summary(seed_dir)
    if not evals:
      print(f'| {name} | {seed_dir[-1]} | {step} | running or failed | | | | |')
      continue
    order = ['train'] + sorted((v for v in evals if v != 'train'),
                               key=lambda v: [int(x) for x in
                                              re.findall(r'\d+', v)])
    for variant in order:
      m = evals[variant]
      other = ', '.join(f'{k} {v:.3f}' for k, v in m.items()
                        if k not in ('bit_errors', 'cost_bits'))
      wall_text = f'{wall:.0f}' if wall else ''
      print(f'| {name} | {os.path.basename(seed_dir)[4:]} | {step} | '
            f'{wall_text} | {variant} | {m["bit_errors"]:.3f} | '
            f'{m["cost_bits"]:.3f} | {other} |')


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else 'runs')
