"""Prints the bAbI result tables of experiments/babi/README.md.

  python experiments/babi/summarize.py RUNS_ROOT [CONFIG ...] [pick:A+B ...]

Reads `RUNS_ROOT/<config>/seed<k>/` as `run.sh` writes them: `eval/test.json`
and `eval/valid.json` (per-task errors from the final evaluation),
`metrics.jsonl` (steps and epochs reached) and the `"wall_seconds"` that the
launcher prints into `train.log` (summed over launches of a resumed run;
`experiments/babi/results/` keeps those lines as `wall_seconds.txt`).

For each config it prints a per-task table of the test error: the mean and
the spread (min-max) over seeds, and the papers' protocol, the single seed
with the lowest validation error ("best of N on validation"); then the mean
error and the number of failed tasks (test error > 5 %) under each.

`pick:A+B` joins one-model-per-task configs `A_qa<t>`, `B_qa<t>`, ...: for
each task, the run (any config, any seed) with the lowest validation error
of that task, i.e. a per-task choice of variant made on validation.
"""

import glob
import json
import os
import re
import sys

import numpy as np

FAILED_ABOVE = 0.05


def load_run(seed_dir):
  """`{split: metrics}`, epochs reached and wall seconds of one run."""
  evals = {}
  for split in ('train', 'valid', 'test'):
    path = os.path.join(seed_dir, 'eval', f'{split}.json')
    if os.path.exists(path):
      with open(path) as f:
        evals[split] = json.load(f)['metrics']
  epochs = None
  path = os.path.join(seed_dir, 'metrics.jsonl')
  if os.path.exists(path):
    with open(path) as f:
      found = [json.loads(line).get('epoch') for line in f if line.strip()]
    found = [e for e in found if e is not None]
    epochs = max(found) if found else None
  wall = None
  # train.log in a runs directory; wall_seconds.txt (its wall-time lines)
  # in the committed results/.
  for name in ('train.log', 'wall_seconds.txt'):
    log = os.path.join(seed_dir, name)
    if os.path.exists(log):
      with open(log) as f:
        times = re.findall(r'"wall_seconds": ([0-9.]+)', f.read())
      wall = sum(float(t) for t in times) if times else None
      break
  return evals, epochs, wall


def task_errors(metrics):
  """`{task id: error}` from a metrics dict."""
  out = {}
  for key, value in metrics.items():
    m = re.fullmatch(r'error_task_(\d+)', key)
    if m:
      out[int(m.group(1))] = value
  return dict(sorted(out.items()))


def summarize(config_dir):
  """Per-task test errors over the seeds of one config; None if no results."""
  runs = []
  for seed_dir in sorted(glob.glob(os.path.join(config_dir, 'seed*'))):
    evals, epochs, wall = load_run(seed_dir)
    if 'test' in evals:
      runs.append((os.path.basename(seed_dir), evals, epochs, wall))
  if not runs:
    return None
  tasks = sorted(task_errors(runs[0][1]['test']))
  test = np.array([[task_errors(r[1]['test'])[t] for t in tasks]
                   for r in runs])
  valid = [r[1].get('valid', {}).get('error', np.inf) for r in runs]
  best = int(np.argmin(valid))
  return {
      'tasks': tasks, 'seeds': [r[0] for r in runs], 'test': test,
      'best': best, 'epochs': [r[2] for r in runs],
      'wall': [r[3] for r in runs],
  }


def summarize_single(root, model):
  """One model per task (`<model>_qa<k>/seed<s>`), joined into one table."""
  per_task, epochs, wall = {}, [], []
  seeds = set()
  for path in sorted(glob.glob(os.path.join(root, f'{model}_qa*'))):
    m = re.fullmatch(rf'{re.escape(model)}_qa(\d+)', os.path.basename(path))
    if not m:
      continue
    s = summarize(path)
    if s is None:
      continue
    per_task[int(m.group(1))] = s
    seeds.update(s['seeds'])
    epochs += s['epochs']
    wall += s['wall']
  if not per_task:
    return None
  tasks = sorted(per_task)
  n = min(len(per_task[t]['seeds']) for t in tasks)
  # [seeds, tasks]: seed i of every task (sorted seed names).
  test = np.array([[per_task[t]['test'][i, 0] for t in tasks]
                   for i in range(n)])
  best_test = np.array([per_task[t]['test'][per_task[t]['best'], 0]
                        for t in tasks])
  return {'tasks': tasks, 'seeds': sorted(seeds)[:n], 'test': test,
          'best_row': best_test, 'epochs': sorted(set(epochs)),
          'wall': [round(sum(w for w in wall if w is not None))]}


def summarize_pick(root, models):
  """Per task, the run of any of `models` with the lowest validation error."""
  rows = []
  for t in range(1, 21):
    best = None
    for model in models:
      for seed_dir in sorted(glob.glob(
          os.path.join(root, f'{model}_qa{t}', 'seed*'))):
        evals, _, _ = load_run(seed_dir)
        if 'test' not in evals or 'valid' not in evals:
          continue
        key = (evals['valid']['error'], models.index(model))
        if best is None or key < best[0]:
          best = (key, model, os.path.basename(seed_dir),
                  evals['test']['error'])
    if best is not None:
      rows.append((t, best[1], best[2], best[3]))
  return rows


def print_pick(models, rows):
  print(f'### pick per task on validation among {" / ".join(models)}\n')
  print('| task | chosen | test error % |')
  print('|---|---|---|')
  for t, model, seed, err in rows:
    print(f'| {t} | {model} {seed} | {_pct(err)} |')
  errors = np.array([r[3] for r in rows])
  print(f'| **mean error** ({len(rows)} tasks) | | {_pct(errors.mean())} |')
  print(f'| **failed (> 5 %)** | | {(errors > FAILED_ABOVE).sum()} |\n')


def _pct(x):
  return f'{100 * x:.1f}'


def print_table(name, s):
  """Markdown table: mean and min-max over seeds, and the best-of-N row."""
  test = s['test']  # [seeds, tasks]
  if 'best_row' in s:  # one model per task: the best seed chosen per task.
    best_row, best_label = s['best_row'], 'best seed per task on validation'
  else:
    best_row = test[s['best']]
    best_label = f'best on validation ({s["seeds"][s["best"]]})'
  mean, lo, hi = test.mean(0), test.min(0), test.max(0)
  print(f'### {name}: {len(s["seeds"])} seed(s) ({", ".join(s["seeds"])}), '
        f'epochs {s["epochs"]}, wall seconds '
        f'{[None if w is None else round(w) for w in s["wall"]]}\n')
  print(f'| task | test error % (mean over seeds) | min-max | {best_label} |')
  print('|---|---|---|---|')
  for j, t in enumerate(s['tasks']):
    print(f'| {t} | {_pct(mean[j])} | {_pct(lo[j])}-{_pct(hi[j])} | '
          f'{_pct(best_row[j])} |')
  per_seed_mean = test.mean(1)
  per_seed_failed = (test > FAILED_ABOVE).sum(1)
  print(f'| **mean error** | {_pct(per_seed_mean.mean())} | '
        f'{_pct(per_seed_mean.min())}-{_pct(per_seed_mean.max())} | '
        f'{_pct(best_row.mean())} |')
  print(f'| **failed (> 5 %)** | {per_seed_failed.mean():.1f} | '
        f'{per_seed_failed.min()}-{per_seed_failed.max()} | '
        f'{(best_row > FAILED_ABOVE).sum()} |\n')


def main(argv):
  if len(argv) < 2:
    print(__doc__)
    return 2
  root = argv[1]
  picks = [a[len('pick:'):].split('+') for a in argv[2:]
           if a.startswith('pick:')]
  names = [a for a in argv[2:] if not a.startswith('pick:')]
  names = names or ([] if picks else sorted(os.listdir(root)))
  singles = sorted({m.group(1) for m in (re.fullmatch(r'(.+)_qa\d+', n)
                                         for n in names) if m})
  for name in names:
    if not re.fullmatch(r'.+_qa\d+', name):
      s = summarize(os.path.join(root, name))
      if s is not None:
        print_table(name, s)
  for model in singles:
    s = summarize_single(root, model)
    if s is not None:
      print_table(f'{model} (one model per task)', s)
  for models in picks:
    print_pick(models, summarize_pick(root, models))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
