"""Copies the small result files of finished bAbI runs into results/.

  python experiments/babi/collect.py RUNS_ROOT NAME [NAME ...]

For each `RUNS_ROOT/<NAME>/seed<k>/` (NAME may be a glob such as
`memn2n_code_qa*`) with a final evaluation (`eval/test.json`), copies
`config.json`, `metrics.jsonl`, `linear_start.json` (if any) and `eval/*.json`
to `experiments/babi/results/<NAME>/seed<k>/`, and the launcher's
`"wall_seconds"` lines from `train.log` to `wall_seconds.txt` (what
`summarize.py` reads). Checkpoints, plots and TensorBoard files stay behind.
Unfinished runs are skipped and named.
"""

import glob
import os
import shutil
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
FILES = ('config.json', 'metrics.jsonl', 'linear_start.json')


def collect(run_dir: str, out_dir: str) -> None:
  os.makedirs(os.path.join(out_dir, 'eval'), exist_ok=True)
  for name in FILES:
    path = os.path.join(run_dir, name)
    if os.path.exists(path):
      shutil.copy2(path, os.path.join(out_dir, name))
  for path in glob.glob(os.path.join(run_dir, 'eval', '*.json')):
    shutil.copy2(path, os.path.join(out_dir, 'eval', os.path.basename(path)))
  log = os.path.join(run_dir, 'train.log')
  if os.path.exists(log):
    with open(log) as f:
      lines = [line for line in f if '"wall_seconds"' in line]
    with open(os.path.join(out_dir, 'wall_seconds.txt'), 'w') as f:
      f.writelines(lines)


def main(argv: list[str]) -> int:
  if len(argv) < 3:
    print(__doc__)
    return 2
  root = argv[1]
  if not os.path.isdir(root):
    print(f'RUNS_ROOT {root!r} is not a directory.')
    return 2
  for pattern in argv[2:]:
    for config_dir in sorted(glob.glob(os.path.join(root, pattern))):
      for run_dir in sorted(glob.glob(os.path.join(config_dir, 'seed*'))):
        rel = os.path.relpath(run_dir, root)
        if not os.path.exists(os.path.join(run_dir, 'eval', 'test.json')):
          print(f'skipped (unfinished): {rel}')
          continue
        collect(run_dir, os.path.join(RESULTS, rel))
        print(f'collected: {rel}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
